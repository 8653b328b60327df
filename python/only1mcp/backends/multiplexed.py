"""Backends whose answers share one channel with everything else: a stdio pipe, an SSE stream.

Every request of every client session goes out with a backend-local id and waits on a future in
the pending table; the channel's reader hands each frame to :meth:`dispatch`, which resolves the
future a response names and passes everything else (notifications, server→client requests) to
``on_message``. The channel says nothing of which request a message belongs to, so there is no
per-request sink: related traffic goes through ``on_message``. When the channel is lost, the
table of that connection fails as a whole.
"""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import Awaitable

from only1mcp._core import split_response
from only1mcp.backends.base import Outbound, Wiring, cancelled_by_client, log
from only1mcp.backends.server import ServerBackend, TransportConfig
from only1mcp.errors import BackendError

# request id → (the future its answer resolves, its deadline on the loop's clock)
Pending = dict[int, tuple[asyncio.Future[bytes], float]]
# A due timeout may fire this much early (the loop's timers have millisecond resolution).
TIMER_SLACK = 0.001


class Expired(Exception):
    """Set on a pending response whose timeout ran out (a bare timer is cheaper than
    asyncio.wait_for on a path taken once per relayed request)."""


def expire(future: asyncio.Future[bytes]) -> None:
    if not future.done():
        future.set_exception(Expired())


class MultiplexedBackend(ServerBackend):
    def __init__(self, name: str, config: TransportConfig, wiring: Wiring | None = None) -> None:
        super().__init__(name, config, wiring)
        self._pending: Pending = {}
        self._expiry: asyncio.TimerHandle | None = None
        self._expiry_at = 0.0

    @property
    def busy(self) -> int:
        return len(self._pending)

    @abstractmethod
    def send_frame(self, frame: bytes) -> Awaitable[None] | None:
        """Put ``frame`` on the channel (an awaitable when that takes a round trip), or raise
        BackendError when the server is down."""

    async def send_request(self, call: Outbound, timeout: float) -> bytes:
        # The channel carries no request association (no sink, no headers): related traffic
        # goes through on_message.
        req_id = call.id
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes] = loop.create_future()
        deadline = loop.time() + timeout
        pending = self._pending
        pending[req_id] = (future, deadline)  # before sending: the answer may come first
        if self._expiry is None or deadline < self._expiry_at:
            self._expire_at(deadline)
        try:
            sent = self.send_frame(call.frame)
            if sent is not None:
                await sent
            return await future
        except Expired as exc:
            raise self.timeout_error(call.method, timeout) from exc
        finally:
            pending.pop(req_id, None)

    def _expire_at(self, deadline: float) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        self._expiry_at = deadline
        self._expiry = asyncio.get_running_loop().call_at(deadline, self._expire_due)

    def _expire_due(self) -> None:
        """Time out what is due and wake again at the next deadline.

        One timer per backend rather than one per request: arming and cancelling a loop timer
        costs more than the rest of a request's bookkeeping here, and with one timeout per
        server the timer stays due at the oldest request's deadline, so under load it fires
        about once per timeout period, not once per call.
        """
        self._expiry = None
        now = asyncio.get_running_loop().time() + TIMER_SLACK
        upcoming = [deadline for _, deadline in self._pending.values() if deadline > now]
        for future, deadline in self._pending.values():
            if deadline <= now:
                expire(future)
        if upcoming:
            self._expire_at(min(upcoming))

    def abandon(self, req_id: int) -> None:
        entry = self._pending.get(req_id)
        if entry is not None and not entry[0].done():
            entry[0].set_exception(cancelled_by_client())

    def dispatch(self, frame: bytes) -> None:
        """One frame read from the channel."""
        try:
            msg_id, method, is_response = split_response(frame)
        except ValueError:
            log.warning("server %r sent a message that is not JSON: %.200r", self.name, frame)
            return
        if is_response:
            entry = self._pending.get(msg_id) if isinstance(msg_id, int) else None
            if entry is not None and not entry[0].done():
                entry[0].set_result(frame)
        elif method is not None:
            self.deliver(frame)

    def fail(self, pending: Pending, error: BackendError | None = None) -> None:
        """Fail the requests of a connection that is gone (``pending`` is its table), with
        ``error`` when the reason is known better than "down"."""
        error = error or self.down_error()
        for future, _ in pending.values():
            if not future.done():
                future.set_exception(error)
        pending.clear()
        if pending is self._pending and self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
