"""Client sessions: what the aggregator remembers about each connected client.

Ids are 32 random bytes, URL-safe base64 (visible ASCII, unguessable). Each session has an
outbound queue for messages the client did not ask for (list_changed and the like); the HTTP
front drains it on the GET stream, the stdio front writes it to stdout.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from only1mcp.protocol.revisions import DEFAULT_HEADERLESS

OUTBOUND_LIMIT = 1000


@dataclass(eq=False)
class Session:
    id: str
    protocol_version: str = DEFAULT_HEADERLESS
    client_capabilities: dict[str, Any] = field(default_factory=dict)
    client_info: dict[str, Any] = field(default_factory=dict)
    initialized: bool = False
    last_seen: float = field(default_factory=time.monotonic)
    outbound: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    # Set when the session ends (DELETE, shutdown): its GET stream closes.
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    def push(self, frame: bytes) -> None:
        """Queue an unsolicited message; a client that never reads loses the oldest first."""
        if self.outbound.qsize() >= OUTBOUND_LIMIT:
            self.outbound.get_nowait()
        self.outbound.put_nowait(frame)


class SessionStore:
    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}

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
        return session

    def close_all(self) -> None:
        for session_id in list(self._sessions):
            self.remove(session_id)

    def broadcast(self, frame: bytes) -> None:
        for session in self._sessions.values():
            session.push(frame)

    def __len__(self) -> int:
        return len(self._sessions)
