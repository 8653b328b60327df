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
from only1mcp.errors import RateLimited, TooManySessions
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
    # The capabilities a capability set was computed for, and that set (variants.set_of).
    capability_set: tuple[object, str] | None = None
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
    # When the client last used the session (monotonic seconds) and what it has open now (a
    # stream, a call in flight): a session with nothing open for the store's ttl has expired.
    last_seen: float = field(default_factory=time.monotonic)
    busy: int = 0

    def hold(self) -> None:
        """A stream or a call of this session opened: it is not idle until :meth:`release`."""
        self.busy += 1

    def release(self) -> None:
        self.busy -= 1
        self.last_seen = time.monotonic()

    @property
    def events(self) -> EventLog:
        """The messages the client did not ask for, to stream or replay (see :class:`EventLog`)."""
        if self._events is None:
            self._events = EventLog()
        return self._events

    @events.setter
    def events(self, log: EventLog) -> None:
        """Another kind of log (a cluster's, which hands messages to the process holding the
        client's stream), set before anything is logged."""
        self._events = log


#: Seconds a full store tells a refused client to wait (what frees a slot is another
#: session's end or expiry, which the store cannot foresee).
RETRY_AFTER = 5


class SessionStore:
    """The live sessions by id, least recently used first (per principal too), bounded."""

    def __init__(
        self,
        on_remove: Callable[[Session], None] | None = None,
        *,
        ttl: float = float("inf"),
        max_sessions: int | None = None,
        max_per_principal: int | None = None,
    ) -> None:
        self._sessions: collections.OrderedDict[str, Session] = collections.OrderedDict()
        # principal id → its sessions, least recently used first (for its own bound).
        self._by_principal: dict[str, collections.OrderedDict[str, Session]] = {}
        # Told when a session ends, so what belongs to it (per-session backends) can go.
        self._on_remove = on_remove
        self.ttl = ttl
        self.max_sessions = max_sessions
        self.max_per_principal = max_per_principal

    def create(self, principal: Principal = ANONYMOUS) -> Session:
        """A new session, not subject to the bounds (the gateway's own, e.g. a listen's)."""
        session = Session(id=secrets.token_urlsafe(32), principal=principal)
        self.add(session)
        return session

    def open(self, principal: Principal) -> Session:
        """A new client session for ``principal``, within the bounds: when full, the least
        recently used idle session (the principal's own when its bound is reached) makes
        room. Raises :class:`RateLimited` (per principal) or :class:`TooManySessions`."""
        own = self._by_principal.get(principal.id)
        if (
            self.max_per_principal is not None
            and own is not None
            and len(own) >= self.max_per_principal
            and not self._evict_from(own)
        ):
            raise RateLimited(
                "Too many sessions for this principal: end one (DELETE) or retry later",
                RETRY_AFTER,
            )
        if (
            self.max_sessions is not None
            and len(self._sessions) >= self.max_sessions
            and not self._evict_from(self._sessions)
        ):
            raise TooManySessions("Too many sessions: the gateway is full, retry later")
        return self.create(principal)

    def _evict_from(self, sessions: collections.OrderedDict[str, Session]) -> bool:
        """End the least recently used idle session of ``sessions``; False when all are busy."""
        for session in sessions.values():
            if not session.busy:
                self.remove(session.id)
                return True
        return False

    def add(self, session: Session) -> None:
        self._sessions[session.id] = session
        self._by_principal.setdefault(session.principal.id, collections.OrderedDict())[
            session.id
        ] = session

    def get(self, session_id: str) -> Session | None:
        return self._sessions.get(session_id)

    def use(self, session_id: str) -> Session | None:
        """The session a client request names, now its most recently used (None when there
        is none, or it had expired)."""
        session = self._sessions.get(session_id)
        if session is None:
            return None
        now = time.monotonic()
        if not session.busy and now - session.last_seen > self.ttl:
            self.remove(session_id)
            return None
        session.last_seen = now
        self._sessions.move_to_end(session_id)
        self._by_principal[session.principal.id].move_to_end(session_id)
        return session

    def expire(self) -> int:
        """End every session idle for longer than the ttl; how many ended."""
        deadline = time.monotonic() - self.ttl
        idle = [s.id for s in self._sessions.values() if not s.busy and s.last_seen < deadline]
        for session_id in idle:
            self.remove(session_id)
        return len(idle)

    def remove(self, session_id: str) -> Session | None:
        session = self._sessions.pop(session_id, None)
        if session is not None:
            own = self._by_principal[session.principal.id]
            del own[session_id]
            if not own:
                del self._by_principal[session.principal.id]
            session.events.close()
            if self._on_remove is not None:
                self._on_remove(session)
        return session

    def count(self, principal: Principal) -> int:
        """How many sessions ``principal`` has open."""
        return len(self._by_principal.get(principal.id, ()))

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
