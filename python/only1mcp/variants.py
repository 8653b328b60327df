"""Instances of a shared server per capability set of its clients (issue 11).

A handshake-era server decides at ``initialize`` what it offers from the capabilities its client
declared (server-everything registers ``get-roots-list`` only for a client with roots,
``trigger-sampling-request`` only with sampling…). Only1MCP initializes a shared server once,
declaring every relayable capability, so a client that declares fewer would see tools it does
not see directly. Here a shared server gets one instance per *capability set* — the relayable
capabilities a client declared, in the canonical form :func:`~only1mcp.protocol.results.mirrored`
gives them (bounded: at most :data:`MAX_SETS` instances a server, usually one or two):

* the shared backend serves the full set (every relayable capability) as before;
* once the gateway is ready (in the background: with 100 servers, 100 probes on the path to
  ready took most of the cold start), or when a server is added or changed by a reload, the
  server is *decided*: one probe instance initialized with no capability at all; when its lists
  equal the shared backend's, the server does not vary by capability and keeps its one process
  (the probe stops); otherwise it is *sensitive*, and the probe serves the clients that declare
  no capability (TypeScript SDK clients and the Inspector CLI by default). A client of a set
  other than the full one that comes before its servers are decided waits for the decision
  (:meth:`Variants.catalog`, :meth:`Variants.backend`): it never sees the full set's lists;
* a sensitive server gets an instance per set, started on that set's first client; one whose
  lists equal an instance's already running is stopped and the set served by that instance.

Calls of a session go to its set's instance (:meth:`Variants.serving`); its lists come from its
set's catalog (:meth:`Variants.catalog`): the merged catalog with the sensitive servers' items as
their instance for that set lists them. A list change of an instance reaches the sessions of the
sets it serves only. 2026-07-28 clients declare capabilities per request: the same sets.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field

import orjson

from only1mcp.backends import Backend, BackendState
from only1mcp.backends.base import BACKEND_CLIENT_CAPABILITIES
from only1mcp.backends.server import ServerBackend
from only1mcp.catalog import Catalog
from only1mcp.errors import RpcError
from only1mcp.protocol.results import mirrored
from only1mcp.session import Session
from only1mcp.types import JsonObject

log = logging.getLogger("only1mcp.variants")

MAX_SETS = 8
"""Instances a sensitive server may have besides its shared backend: past that, the sets that
come later share the shared backend (and see its lists)."""

Lists = dict[str, list[JsonObject]]
# A server's backend built (not started) with these capabilities declared at initialize.
CreateInstance = Callable[[str, JsonObject], Backend]
# Every list of one backend (kind → items): the gateway's paging reader.
ReadLists = Callable[[Backend], Awaitable[Lists]]
# Tell the sessions whose capability set is one of these: a list changed.
Announce = Callable[[frozenset[str], bytes], None]


def capability_set(capabilities: JsonObject) -> str:
    """The canonical key of the capabilities a client declared (what a backend can act on)."""
    return orjson.dumps(mirrored(capabilities), option=orjson.OPT_SORT_KEYS).decode()


FULL = capability_set(BACKEND_CLIENT_CAPABILITIES)
NONE = capability_set({})


def set_of(session: Session) -> str:
    """``session``'s capability set (a bridged 2026 call's: the capabilities it declared)."""
    declared = session.mirror if session.mirror is not None else session.client_capabilities
    known = session.capability_set
    if known is None or known[0] is not declared:  # a session reused with other capabilities
        known = session.capability_set = (declared, capability_set(declared))
    return known[1]


@dataclass
class _Server:
    """One server's instances by capability set."""

    shared: Backend
    sensitive: bool = False
    # set → the instance serving it (None: the shared backend)
    routes: dict[str, Backend | None] = field(default_factory=dict)
    starting: dict[str, asyncio.Task[Backend | None]] = field(default_factory=dict)
    lists: dict[Backend, Lists] = field(default_factory=dict)


class Variants:
    """The instances per capability set of the shared servers (see the module docstring)."""

    def __init__(
        self,
        eligible: Iterable[str],
        create: CreateInstance,
        read: ReadLists,
        catalogs: dict[str, Catalog],
        announce: Announce,
    ) -> None:
        self._create = create
        self._read = read
        self._catalogs = catalogs
        self._announce = announce
        self._eligible = frozenset(eligible)  # by their config (shared, not opted out)
        # servers that may vary and are not decided yet
        self.undecided = set(self._eligible)
        self._deciding: dict[str, asyncio.Task[None]] = {}
        # probes started beside their server's shared backend (prestart)
        self._probes: dict[str, asyncio.Task[Backend | None]] = {}
        self.sensitive: dict[str, _Server] = {}  # the servers that vary, by name
        self._mine: weakref.WeakSet[Backend] = weakref.WeakSet()
        self._stopping: set[asyncio.Task[None]] = set()
        self.version = 0  # bumps when a set's lists change
        self._merged: dict[tuple[str, str], tuple[tuple[int, int], Catalog]] = {}

    # ---------------------------------------------------------------- the call path

    def varies(self, server: str) -> bool:
        """Whether ``server``'s calls may need another instance than its shared backend."""
        return server in self.undecided or server in self.sensitive

    def serving(self, server: str, session: Session, shared: Backend) -> Backend | None:
        """The instance that serves ``session`` for ``server`` (one of :meth:`varies`), or None
        when :meth:`backend` has to decide or start it."""
        key = set_of(session)
        if key == FULL:
            return shared
        state = self.sensitive.get(server)
        if state is None:
            return None  # undecided
        if key not in state.routes:
            return None
        return state.routes[key] or shared

    async def backend(self, server: str, session: Session, shared: Backend) -> Backend:
        """:meth:`serving`, deciding the server and starting the set's instance first."""
        key = set_of(session)
        if key != FULL and not _missing_health_checks(shared):
            await self._prepare(server, key, shared)
        return self.serving(server, session, shared) or shared

    # ---------------------------------------------------------------------- lists

    def may_vary(self, session: Session) -> bool:
        """Whether ``session``'s lists may differ from the merged catalogs."""
        return bool(self.undecided or self.sensitive) and set_of(session) != FULL

    async def catalog(self, kind: str, session: Session, shared: dict[str, Backend]) -> Catalog:
        """The catalog of ``kind`` as ``session``'s capability set sees it (every server
        decided and the set's instances started first)."""
        key = set_of(session)
        await asyncio.gather(
            *(
                self._prepare(name, key, backend)
                for name, backend in shared.items()
                if self.varies(name)
            )
        )
        base = self._catalogs[kind]
        own = {
            name: state.lists[route].get(kind, [])
            for name, state in self.sensitive.items()
            if (route := state.routes.get(key)) is not None and route in state.lists
        }
        if not own:
            return base
        stamp = (base.version, self.version)
        cached = self._merged.get((key, kind))
        if cached is not None and cached[0] == stamp:
            return cached[1]
        merged = Catalog(base.order, base.prefixes, base.separator, base.key, base.shapes)
        for name, items in {**base.items, **own}.items():
            merged.set_items(name, items)
        for name, reason in base.errors.items():
            if name not in own:
                merged.set_error(name, reason)
        self._merged[(key, kind)] = (stamp, merged)
        return merged

    # ------------------------------------------------------------ deciding, starting

    def prestart(self, server: str) -> None:
        """Start ``server``'s probe now, beside its shared backend (a server known to speak
        the handshake era only: the start takes the time of one, not of two in a row)."""
        if server in self.undecided and server not in self._probes:
            self._probes[server] = asyncio.ensure_future(self._start(server, NONE))

    def decide_soon(self, shared: Mapping[str, Backend]) -> None:
        """Decide the undecided servers of ``shared`` in the background (a client that needs a
        decision first waits for it through :meth:`decide`)."""
        for server, backend in shared.items():
            if server in self.undecided and server not in self._deciding:
                self._deciding[server] = asyncio.ensure_future(self._decide(server, backend))

    @property
    def deciding(self) -> int:
        """How many servers' decisions are under way (their processes settle once it is 0)."""
        return len(self._deciding)

    async def settled(self) -> None:
        """Once the decisions under way (and those they lead to) are made."""
        while self._deciding:
            pending = [asyncio.shield(task) for task in self._deciding.values()]
            await asyncio.gather(*pending, return_exceptions=True)

    async def decide(self, server: str, shared: Backend) -> None:
        """Decide whether ``server`` varies, unless decided (or join the decision under way):
        the gateway asks once it is ready (:meth:`decide_soon`) and when a reload adds or
        changes a server; one that was down then is decided on its first use."""
        if server in self.undecided:
            task = self._deciding.get(server)
            if task is None:
                task = asyncio.ensure_future(self._decide(server, shared))
                self._deciding[server] = task
            await asyncio.shield(task)

    async def _prepare(self, server: str, key: str, shared: Backend) -> None:
        await self.decide(server, shared)
        state = self.sensitive.get(server)
        if state is None or key in state.routes:
            return
        task2 = state.starting.get(key)
        if task2 is None:
            task2 = asyncio.ensure_future(self._start_set(state, key))
            state.starting[key] = task2
        await asyncio.shield(task2)

    async def _decide(self, server: str, shared: Backend) -> None:
        """Probe ``server`` with no capability: its lists tell whether it varies."""
        early = self._probes.pop(server, None)
        try:
            if not _plain_handshake(shared):
                if early is not None:
                    await _close_started(early)
                if shared.state is BackendState.READY:  # a 2026 or two-era server
                    self.undecided.discard(server)
                return  # not up: decided on a later call
            state = _Server(shared)
            probe = await (early if early is not None else self._start(server, NONE))
            lists = None if probe is None else await self._read_or_none(probe)
            if probe is None or lists is None:  # not tried again: no process per call
                self.undecided.discard(server)
                return
            reference = await self._lists_of(shared)
            if reference is None or lists == reference:  # none to tell: it does not vary
                self.undecided.discard(server)
                log.info("server %r: the same lists for every capability set", server)
                await probe.close()  # gone before the gateway is ready
                return
            state.sensitive = True
            state.routes[NONE] = probe
            state.lists[probe] = lists
            self.sensitive[server] = state
            self.undecided.discard(server)
            self.version += 1
            log.info("server %r: its lists vary with the client's capabilities", server)
        finally:
            self._deciding.pop(server, None)

    async def _start_set(self, state: _Server, key: str) -> None:
        server = state.shared.name
        try:
            if sum(route is not None for route in state.routes.values()) >= MAX_SETS:
                log.warning("server %r: %d capability sets already; more share", server, MAX_SETS)
                state.routes[key] = None
                return
            instance = await self._start(server, key)
            lists = None if instance is None else await self._read_or_none(instance)
            if instance is None or lists is None:
                state.routes[key] = None  # the shared backend serves (no start per call)
                return
            reference = await self._lists_of(state.shared)
            # No await from the comparison to the keeping: of two sets with equal lists whose
            # instances came up together, the second must see the first's kept.
            same = self._same_as(state, lists)
            if same is None and lists != reference:
                state.routes[key] = instance
                state.lists[instance] = lists
                self.version += 1
            else:
                state.routes[key] = same
                self._stop(instance)
        finally:
            state.starting.pop(key, None)

    def _same_as(self, state: _Server, lists: Lists) -> Backend | None:
        for instance, known in state.lists.items():
            if known == lists and instance in state.routes.values():
                return instance
        return None

    async def _start(self, server: str, key: str) -> Backend | None:
        instance = self._create(server, orjson.loads(key))
        self._mine.add(instance)
        try:
            await instance.start()
        except RpcError as exc:
            log.warning("server %r: no instance for capabilities %s: %s", server, key, exc.message)
            self._stop(instance)
            return None
        return instance

    async def _read_or_none(self, instance: Backend) -> Lists | None:
        """An instance's lists; None (and the instance stopped) when it cannot give them."""
        lists = await self._lists_of(instance)
        if lists is None:
            self._stop(instance)
        return lists

    async def _lists_of(self, backend: Backend) -> Lists | None:
        try:
            return await self._read(backend)
        except RpcError as exc:
            log.warning("server %r: its lists failed: %s", backend.name, exc.message)
            return None

    # ------------------------------------------------------------- their traffic

    def __contains__(self, backend: object) -> bool:
        return backend in self._mine

    async def list_changed(self, instance: Backend, frame: bytes) -> None:
        """An instance's list changed: re-read it, tell the sessions of its sets."""
        state = self.sensitive.get(instance.name)
        if state is None or instance not in state.lists:
            return  # still starting (its lists are read once it is up) or a probe
        try:
            state.lists[instance] = await self._read(instance)
        except RpcError as exc:
            log.warning("server %r: re-reading its lists failed: %s", instance.name, exc.message)
            return
        self.version += 1
        keys = frozenset(key for key, route in state.routes.items() if route is instance)
        self._announce(keys, frame)

    def instances(self) -> list[Backend]:
        """The running instances (they take the handshake-era fan-outs: setLevel, roots)."""
        return [
            route
            for state in self.sensitive.values()
            for route in state.routes.values()
            if route is not None and route.state is BackendState.READY
        ]

    def count(self, server: str) -> int:
        """How many instances ``server`` has besides its shared backend."""
        state = self.sensitive.get(server)
        return 0 if state is None else len({id(r) for r in state.routes.values() if r})

    # ------------------------------------------------------------------ stopping

    def _stop(self, instance: Backend) -> None:
        task = asyncio.ensure_future(instance.close())
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    def adopt(self, eligible: Iterable[str]) -> None:
        """A reload's servers: those that may vary from now on (the others are withdrawn by
        the gateway as their backends are)."""
        self._eligible = frozenset(eligible)
        self.undecided = {s for s in self.undecided if s in self._eligible}
        self.undecided |= {s for s in self._eligible if s not in self.sensitive}

    def withdraw(self, server: str) -> list[Backend]:
        """Take ``server``'s instances out of service (its shared backend is replaced): they
        come back, for the caller to close; the server is decided anew."""
        state = self.sensitive.pop(server, None)
        probe = self._probes.pop(server, None)
        if probe is not None:
            probe.cancel()
        if server in self._eligible:
            self.undecided.add(server)
        self.version += 1
        if state is None:
            return []
        for start in state.starting.values():
            start.cancel()
        return list({id(r): r for r in state.routes.values() if r is not None}.values())

    async def forget(self, server: str) -> None:
        """:meth:`withdraw`, and stop those instances."""
        await asyncio.gather(*(instance.close() for instance in self.withdraw(server)))

    async def close(self) -> None:
        """Stop every instance (and the probes and starts under way)."""
        for task in [*self._deciding.values(), *self._probes.values()]:
            task.cancel()
        for state in self.sensitive.values():
            for start in state.starting.values():
                start.cancel()
        self.sensitive.clear()
        await asyncio.gather(*(b.close() for b in list(self._mine)), *self._stopping)


async def _close_started(start: asyncio.Task[Backend | None]) -> None:
    instance = await start
    if instance is not None:
        await instance.close()


def _missing_health_checks(backend: Backend) -> bool:
    """A server that does not answer its health checks: a call to it fails at once, rather
    than wait for a decision (made in the background after start) that would read its lists
    and wait for its timeout."""
    return isinstance(backend, ServerBackend) and not backend.healthy


def _plain_handshake(backend: Backend) -> bool:
    """A handshake-era server that is up: the era whose servers decide at ``initialize``."""
    return (
        backend.state is BackendState.READY and not backend.stateless and not backend.handshake_too
    )
