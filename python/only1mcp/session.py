"""Client sessions: what the aggregator remembers about each connected client.

Ids are 32 random bytes, URL-safe base64 (visible ASCII, unguessable). Messages the client did
not ask for (list_changed, resource updates…) go into the session's :class:`EventLog`, bounded,
with increasing event ids: the HTTP front streams it on GET and replays it after
``Last-Event-ID``; the stdio front writes it to stdout; a listen follows it. Messages pushed while
no stream is open wait in the log.

A session holds what every layer may read about its client (identity, era, capabilities, log
level) plus two parts named for their owner: the event log (fronts, listen) and ``mirror`` (a
bridged 2026 call, read by the gateway to pick its backend). What else an owner keeps per
session it keeps itself, keyed by the session id (the gateway's leased backends,
:mod:`only1mcp.leases`).
"""

from __future__ import annotations

import asyncio
import collections
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from only1mcp.auth.principal import ANONYMOUS, Principal
from only1mcp.protocol.revisions import DEFAULT_HEADERLESS

EVENT_LOG_LIMIT = 1000
# Seconds of silence on a client's stream before a keepalive, so idle proxies keep it open.
KEEPALIVE = 15.0


@dataclass(eq=False)
class PausedStream:
    """The rest of a POST's SSE stream after the backend paused it (SEP-1699), kept until the
    client resumes it with GET + ``Last-Event-ID``."""

    events: list[tuple[int, bytes]] = field(default_factory=list)  # (event number, frame)
    done: bool = False  # the response is among the events
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, number: int, frame: bytes, last: bool) -> None:
        self.events.append((number, frame))
        self.done = self.done or last
        self.changed.set()


class EventLog:
    """A session's unsolicited messages, (event id, frame), oldest first: a client that never
    reads loses the oldest first. Closed when the session ends: its followers stop."""

    __slots__ = ("_closed", "_entries", "_wake", "delivered", "last_id")

    def __init__(self) -> None:
        self._entries: collections.deque[tuple[int, bytes]] = collections.deque(
            maxlen=EVENT_LOG_LIMIT
        )
        self.last_id = 0
        self.delivered = 0  # highest event id written to some stream
        self._wake: asyncio.Event | None = None  # made by the first follower
        self._closed = asyncio.Event()

    def push(self, frame: bytes) -> None:
        """Log an unsolicited message and wake whoever follows the log."""
        self.last_id += 1
        self._entries.append((self.last_id, frame))
        if self._wake is not None:
            self._wake.set()

    def after(self, cursor: int) -> list[tuple[int, bytes]]:
        """Logged events with an id above ``cursor``, oldest first."""
        if cursor >= self.last_id:
            return []
        return [(eid, frame) for eid, frame in self._entries if eid > cursor]

    def mark_delivered(self, event_id: int) -> None:
        self.delivered = max(self.delivered, event_id)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        self._closed.set()

    async def wait(self, timeout: float | None, *also: asyncio.Future[Any]) -> bool:
        """Wait for a new event, the close of the log or any of ``also``; False on timeout."""
        if self._wake is None:
            self._wake = asyncio.Event()
        self._wake.clear()
        waiters = [
            asyncio.ensure_future(self._wake.wait()),
            asyncio.ensure_future(self._closed.wait()),
        ]
        try:
            done, _ = await asyncio.wait(
                [*waiters, *also], timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                waiter.cancel()
        return bool(done)

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        return iter(self._entries)


@dataclass(eq=False)
class Session:
    id: str
    protocol_version: str = DEFAULT_HEADERLESS
    client_capabilities: dict[str, Any] = field(default_factory=dict)
    client_info: dict[str, Any] = field(default_factory=dict)
    initialized: bool = False
    # The event log is made on first use: a bridged 2026 call is a session too, one per call,
    # and never uses it.
    _events: EventLog | None = None
    paused: dict[int, PausedStream] = field(default_factory=dict)  # by POST stream number
    # A 2026-07-28 call bridged to handshake-era servers: the client capabilities it declared,
    # which a backend session made for it mirrors (None: not a bridged call).
    mirror: dict[str, Any] | None = None
    # Request headers a pool hashes on (`hash_key: header:<name>`), lower-cased names, as sent
    # with initialize.
    hash_headers: dict[str, str] = field(default_factory=dict)
    # The level of the logs the client wants (logging/setLevel, or a 2026 request's _meta):
    # what a 2026 server is told with each request (None: never set).
    log_level: str | None = None
    # Who opened the session (bound at initialize): a request from anyone else is refused.
    principal: Principal = ANONYMOUS
    # When it began (time.monotonic): its duration is a metric.
    created: float = field(default_factory=time.monotonic)

    @property
    def events(self) -> EventLog:
        """The messages the client did not ask for, to stream or replay (see :class:`EventLog`)."""
        if self._events is None:
            self._events = EventLog()
        return self._events


class SessionStore:
    def __init__(self, on_remove: Callable[[Session], None] | None = None) -> None:
        self._sessions: dict[str, Session] = {}
        # Told when a session ends, so what belongs to it (per-session backends) can go.
        self._on_remove = on_remove

    def create(self) -> Session:
        session = Session(id=secrets.token_urlsafe(32))
        self._sessions[session.id] = session
        return session

    def add(self, session: Session) -> None:
        self._sessions[session.id] = session

    def get(self, session_id: str) -> Session | None:
        return self._sessions.get(session_id)

    def remove(self, session_id: str) -> Session | None:
        session = self._sessions.pop(session_id, None)
        if session is not None:
            session.events.close()
            if self._on_remove is not None:
                self._on_remove(session)
        return session

    def close_all(self) -> None:
        for session_id in list(self._sessions):
            self.remove(session_id)

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self._sessions.values()))

    def broadcast(self, frame: bytes) -> None:
        for session in self._sessions.values():
            session.events.push(frame)

    def __len__(self) -> int:
        return len(self._sessions)
