"""Backends that a bridged 2026 call holds alone (``isolation: session`` or ``call`` servers).

Such a call needs an instance of the server initialized with exactly its caller's capabilities,
so that a question the server asks is the caller's. Instances are keyed by (server, capability
set): a call leases one (started on demand, at most ``MAX_LEASES`` per key), holds it until the
call ends, and gives it back; up to ``MAX_IDLE`` per key wait for the next call, the rest stop.
What a call holds is kept here by its session id, not on the session: only the gateway, which
owns the instances, reads it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from only1mcp.backends import Backend, BackendState
from only1mcp.types import JsonObject

# Instances of one server (per capability set) that bridged 2026 calls may hold at once, and how
# many of them are kept idle between calls.
MAX_LEASES = 8
MAX_IDLE = 2

# (server, canonical capability set)
LeaseKey = tuple[str, str]
# Starts an instance of a server for these capabilities.
Start = Callable[[str, JsonObject], Awaitable[Backend]]


class Leases:
    def __init__(self, start: Start) -> None:
        self._start = start
        self._held: dict[str, dict[str, tuple[LeaseKey, Backend]]] = {}  # session id → server →
        self._idle: dict[LeaseKey, list[Backend]] = {}
        self._leased: dict[LeaseKey, int] = {}  # started and not yet stopped
        self._all: set[Backend] = set()  # to stop them
        self._stale: set[Backend] = set()  # held, of a server a reload changed: not kept idle
        self._closing: set[asyncio.Task[None]] = set()

    async def lease(
        self, key: LeaseKey, session_id: str, capabilities: JsonObject
    ) -> Backend | None:
        """An instance for the call of ``session_id`` alone (None when ``MAX_LEASES`` are out
        already: the call then shares one, and a question it gets is refused when it cannot be
        attributed)."""
        held = self._held.setdefault(session_id, {})
        server = key[0]
        if server in held:
            return held[server][1]
        idle = self._idle.setdefault(key, [])
        if idle:
            backend = idle.pop()
        elif self._leased.get(key, 0) < MAX_LEASES:
            self._leased[key] = self._leased.get(key, 0) + 1
            backend = await self._start(server, capabilities)
            self._all.add(backend)
        else:
            return None
        held[server] = (key, backend)
        return backend

    def release(self, session_id: str) -> None:
        """The call of ``session_id`` is over: what it held goes back for the next calls."""
        held = self._held.pop(session_id, None)
        if not held:
            return
        for key, backend in held.values():
            idle = self._idle.setdefault(key, [])
            fresh = backend not in self._stale
            if fresh and len(idle) < MAX_IDLE and backend.state is not BackendState.CLOSED:
                idle.append(backend)
                continue
            self._stale.discard(backend)
            self._leased[key] -= 1
            self._all.discard(backend)
            closing = asyncio.ensure_future(backend.close())
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)

    def retire(self, server: str) -> list[Backend]:
        """A reload changed or removed ``server``: its idle instances come back (to be drained
        and closed), the held ones stop when their calls give them back."""
        retired: list[Backend] = []
        for key in [key for key in self._idle if key[0] == server]:
            idle = self._idle.pop(key)
            self._leased[key] -= len(idle)
            retired += idle
        self._all.difference_update(retired)
        for held in self._held.values():
            self._stale.update(backend for key, backend in held.values() if key[0] == server)
        return retired

    async def close(self) -> None:
        """Stop every instance (the gateway stops)."""
        await asyncio.gather(*(backend.close() for backend in self._all), *self._closing)
