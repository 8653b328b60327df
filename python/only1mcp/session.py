"""Client sessions: what the aggregator remembers about each connected client.

Ids are 32 random bytes, URL-safe base64 (visible ASCII, unguessable). Messages the client did
not ask for (list_changed, resource updates…) go into a bounded per-session event log with
increasing event ids: the HTTP front streams it on GET and replays it after ``Last-Event-ID``;
the stdio front writes it to stdout. Messages pushed while no stream is open wait in the log.
"""

from __future__ import annotations

import asyncio
import collections
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

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


@dataclass(eq=False)
class Session:
    id: str
    protocol_version: str = DEFAULT_HEADERLESS
    client_capabilities: dict[str, Any] = field(default_factory=dict)
    client_info: dict[str, Any] = field(default_factory=dict)
    initialized: bool = False
    last_event_id: int = 0
    delivered: int = 0  # highest event id written to some stream
    # The event log, the end and the wake-up of a session are made on first use: a bridged
    # 2026 call is a session too, one per call, and never uses them.
    _events: collections.deque[tuple[int, bytes]] | None = None
    _closed: asyncio.Event | None = None
    _wake: asyncio.Event | None = None
    paused: dict[int, PausedStream] = field(default_factory=dict)  # by POST stream number
    # A 2026-07-28 call bridged to handshake-era servers: the client capabilities it declared,
    # which a backend session made for it mirrors (None: not a bridged call).
    mirror: dict[str, Any] | None = None
    # server → (pool key, backend instance) this bridged call holds alone (see Gateway._lease)
    leases: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    # Request headers a pool hashes on (`hash_key: header:<name>`), lower-cased names, as sent
    # with initialize.
    hash_headers: dict[str, str] = field(default_factory=dict)
    # The level of the logs the client wants (logging/setLevel, or a 2026 request's _meta):
    # what a 2026 server is told with each request (None: never set).
    log_level: str | None = None

    @property
    def events(self) -> collections.deque[tuple[int, bytes]]:
        """(event id, frame); a client that never reads loses the oldest first."""
        if self._events is None:
            self._events = collections.deque(maxlen=EVENT_LOG_LIMIT)
        return self._events

    @property
    def closed(self) -> asyncio.Event:
        """Set when the session ends (DELETE, shutdown): its GET stream closes."""
        if self._closed is None:
            self._closed = asyncio.Event()
        return self._closed

    def push(self, frame: bytes) -> None:
        """Log an unsolicited message and wake whoever follows the log."""
        self.last_event_id += 1
        self.events.append((self.last_event_id, frame))
        if self._wake is not None:
            self._wake.set()

    def after(self, cursor: int) -> list[tuple[int, bytes]]:
        """Logged events with an id above ``cursor``, oldest first."""
        if cursor >= self.last_event_id:
            return []
        return [(eid, frame) for eid, frame in self.events if eid > cursor]

    def mark_delivered(self, event_id: int) -> None:
        self.delivered = max(self.delivered, event_id)

    async def wait(self, timeout: float | None, *also: asyncio.Future[Any]) -> bool:
        """Wait for a new event, the end of the session or any of ``also``; False on timeout."""
        if self._wake is None:
            self._wake = asyncio.Event()
        self._wake.clear()
        waiters = [
            asyncio.ensure_future(self._wake.wait()),
            asyncio.ensure_future(self.closed.wait()),
        ]
        try:
            done, _ = await asyncio.wait(
                [*waiters, *also], timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                waiter.cancel()
        return bool(done)


class SessionStore:
    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}
        # Told when a session ends, so what belongs to it (per-session backends) can go.
        self.on_remove: Callable[[Session], None] | None = None

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
            session.closed.set()
            if self.on_remove is not None:
                self.on_remove(session)
        return session

    def close_all(self) -> None:
        for session_id in list(self._sessions):
            self.remove(session_id)

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self._sessions.values()))

    def broadcast(self, frame: bytes) -> None:
        for session in self._sessions.values():
            session.push(frame)

    def __len__(self) -> int:
        return len(self._sessions)
