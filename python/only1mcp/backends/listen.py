"""The standing ``subscriptions/listen`` stream of a 2026-07-28 server.

A stateless server has no session to push notifications into: a client that wants its list
changes and resource updates asks for them with a ``subscriptions/listen`` request whose
response *is* the stream. Only1MCP keeps one such stream open per 2026 backend, asking for every
list the server says can change and for the resources some client subscribed to, and reopens it
whenever it ends (with backoff when it keeps failing). What arrives on it is handed to the
backend's ``on_message`` like any handshake server's notification, minus the acknowledgement
and the subscription tag (:meth:`Watch.incoming`). The watch knows its backend only by the three
things it needs (its capabilities, its request, its delivery), given at construction. A new
resource subscription reopens the stream with the wider filter and waits for its
acknowledgement, so an update sent after the client's ``resources/subscribe`` was answered
reaches it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import orjson

from only1mcp.backends.base import Request
from only1mcp.errors import RpcError
from only1mcp.protocol import jsonrpc
from only1mcp.protocol.lists import LIST_CHANGED_FLAGS
from only1mcp.protocol.stateless import LISTEN_ACKNOWLEDGED, META_SUBSCRIPTION
from only1mcp.types import JsonObject

log = logging.getLogger("only1mcp.backends")

RETRY_FIRST = 0.5
RETRY_MAX = 15.0
# A stream that stayed open this long was healthy: the next failure starts the backoff afresh.
HEALTHY_AFTER = 10.0
# How long a resources/subscribe waits for the reopened stream's acknowledgement.
ACK_WAIT = 2.0
# A listen stream is reopened at least this often, even if the server keeps it open.
LISTEN_TIMEOUT = 3600.0


class Watch:
    """One backend's listen stream: what it asks for, and the task that keeps it open."""

    def __init__(
        self,
        name: str,
        capabilities: Callable[[], JsonObject],
        request: Request,
        deliver: Callable[[bytes], None],
    ) -> None:
        self.name = name
        self._capabilities = capabilities
        self._request = request
        self._deliver = deliver
        # The server's own URIs of the resources some client subscribed to.
        self.uris: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._acknowledged = asyncio.Event()

    def notifications(self) -> JsonObject:
        """The stream's filter: every list the server can change, and the watched resources."""
        caps = self._capabilities()
        wanted: JsonObject = {
            flag: True
            for capability, flag in LIST_CHANGED_FLAGS.items()
            if isinstance(caps.get(capability), dict) and caps[capability].get("listChanged")
        }
        if self.uris:
            wanted["resourceSubscriptions"] = sorted(self.uris)
        return wanted

    def start(self) -> None:
        """(Re)open the stream with the current filter."""
        self.stop()
        self._acknowledged = asyncio.Event()
        if self.notifications():
            self._task = asyncio.ensure_future(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def subscribe(self, uri: str) -> None:
        """Watch ``uri`` too: reopen the stream, and wait (a little) until the server has
        acknowledged it."""
        if uri in self.uris:
            return
        self.uris.add(uri)
        self.start()
        acknowledged = self._acknowledged
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(acknowledged.wait(), ACK_WAIT)

    def unsubscribe(self, uri: str) -> None:
        if uri in self.uris:
            self.uris.discard(uri)
            self.start()

    def incoming(self, frame: bytes) -> bytes | None:
        """A 2026 server's unsolicited frame as the rest of Only1MCP expects it: without the
        listen stream's subscription tag; None for the stream's acknowledgement."""
        if META_SUBSCRIPTION.encode() not in frame and LISTEN_ACKNOWLEDGED.encode() not in frame:
            return frame
        msg: dict[str, Any] = orjson.loads(frame)
        if msg.get("method") == LISTEN_ACKNOWLEDGED:
            self._acknowledged.set()
            return None
        params = msg.get("params")
        meta = params.get("_meta") if isinstance(params, dict) else None
        if isinstance(meta, dict):
            with contextlib.suppress(KeyError):
                del meta[META_SUBSCRIPTION]
            if not meta:
                del params["_meta"]  # type: ignore[union-attr]
        return orjson.dumps(msg)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        while True:
            opened = loop.time()
            try:
                await self._listen()
            except RpcError as exc:
                log.info("server %r: listen stream ended: %s", self.name, exc.message)
            except Exception:  # a bug must not end the watch for good: log it, reopen
                log.exception("server %r: listen stream failed", self.name)
            if loop.time() - opened >= HEALTHY_AFTER:
                failures = 0
            await asyncio.sleep(min(RETRY_MAX, RETRY_FIRST * 2**failures))
            failures += 1

    async def _listen(self) -> None:
        """One ``subscriptions/listen`` stream: returns when the server ends it, raises the
        server's error when it refuses it."""
        params: JsonObject = {"notifications": self.notifications()}
        answer = await self._request("subscriptions/listen", params, LISTEN_TIMEOUT, self._listened)
        jsonrpc.decode_response(answer)

    async def _listened(self, frame: bytes) -> None:
        self._deliver(frame)
