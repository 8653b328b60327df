"""Orderly shutdown of a front: no call is cut, every one gets an answer.

On SIGTERM/SIGINT (HTTP) or the end of stdin/SIGTERM (stdio) a front stops taking new work,
then its calls in flight get ``front.shutdown_grace`` seconds to finish. Whatever still runs
after that — a call waiting on a slow backend, or on its client's answer to a server→client
request — is cancelled, and the front that owns it answers its caller with the JSON-RPC error
-32603 "Only1MCP is shutting down" (:class:`~only1mcp.errors.ShuttingDown`): on the POST's
JSON or SSE response, on the legacy stream, or on stdout. Only then do the sessions end (their
streams flush what is queued and close) and the backends stop.

The fronts tell a shutdown cancellation from any other (a client that went away) by
:attr:`Drain.ending`, read in their ``except asyncio.CancelledError`` — a clause that costs
nothing on the hot path. The calls are the tasks the server runs anyway (uvicorn's request
tasks, the stdio and legacy fronts' call tasks), so nothing is registered per call; only the
long-lived streams (GET streams, listens) are marked, as they are not calls to wait for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator
from typing import Any

from only1mcp.errors import ShuttingDown
from only1mcp.protocol import jsonrpc
from only1mcp.types import RequestId

log = logging.getLogger("only1mcp.front.drain")

# How long the cancelled calls get to write their error answers.
ANSWER_WAIT = 2.0


class Drain:
    """The shutdown state of one front and the wait that ends its calls."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.stopping = False  # no new calls: set when the shutdown begins
        self.ending = False  # the grace is over: a cancelled call answers ShuttingDown
        self.streams: set[asyncio.Task[Any]] = set()

    @contextlib.contextmanager
    def stream(self) -> Iterator[None]:
        """Mark the current task as a long-lived stream, not a call the drain waits for."""
        task = asyncio.current_task()
        assert task is not None
        self.streams.add(task)
        try:
            yield
        finally:
            self.streams.discard(task)

    @staticmethod
    def error(request_id: RequestId | None) -> bytes:
        """The answer of a call ended by the shutdown."""
        return jsonrpc.error(request_id, ShuttingDown())

    @staticmethod
    def batch_error(item: object) -> bytes | None:
        """A batch item's answer when the shutdown ended its batch: the error, for a request."""
        if isinstance(item, dict) and "method" in item and jsonrpc.is_valid_id(item.get("id")):
            return jsonrpc.error(item["id"], ShuttingDown())
        return None

    async def answer_batch(
        self, batch: Iterable[object], answer: Callable[[object], Awaitable[bytes | None]]
    ) -> list[bytes]:
        """The answer frames of a batch's requests (notifications have none); a shutdown that
        cuts the batch short answers each of its requests with the shutdown error instead."""
        items = list(batch)
        try:
            answers = await asyncio.gather(*(answer(item) for item in items))
        except asyncio.CancelledError:
            if not self.ending:
                raise
            answers = [self.batch_error(item) for item in items]
        return [a for a in answers if a is not None]

    async def run(self, calls: Callable[[], Collection[asyncio.Task[Any]]]) -> None:
        """Wait up to the grace for ``calls()`` to finish, then cancel those left and wait
        (bounded) for them to write their answers."""
        self.stopping = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.grace
        pending = self._pending(calls())
        while pending and (left := deadline - loop.time()) > 0:
            await asyncio.wait(pending, timeout=left)
            pending = self._pending(calls())  # a stdio client may still send until the end
        self.ending = True
        if not pending:
            return
        log.warning("shutting down: %d call(s) still running get an error", len(pending))
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=ANSWER_WAIT)

    def _pending(self, tasks: Collection[asyncio.Task[Any]]) -> list[asyncio.Task[Any]]:
        me = asyncio.current_task()
        return [t for t in tasks if not t.done() and t not in self.streams and t is not me]
