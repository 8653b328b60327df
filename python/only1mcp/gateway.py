"""The running aggregator: backends, their merged catalogs, and the connected sessions.

The gateway starts every enabled backend concurrently, keeps each server's part of the catalog
fresh (after every (re)initialize and on list_changed), and tells every session when the merged
lists change. It owns the :class:`~only1mcp.relay.Relay`, where backend traffic that is not a
list change goes: both are wired here, at construction, so that the router, the bridge and the
fronts receive them finished. Request dispatch lives in :mod:`only1mcp.router`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
import typing
import weakref
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from only1mcp._core import frame_info
from only1mcp.backends import Backend, BackendState, Wiring, create_backend
from only1mcp.catalog import Catalog
from only1mcp.config import Config, Isolation, PoolServerConfig, Protocol, ServerConfig
from only1mcp.errors import RpcError
from only1mcp.leases import Leases
from only1mcp.protocol import jsonrpc
from only1mcp.protocol.lists import BY_KIND, LIST_KINDS
from only1mcp.protocol.results import mirrored
from only1mcp.protocol.stateless import STATELESS_REVISIONS
from only1mcp.relay import Relay
from only1mcp.session import Session, SessionStore
from only1mcp.telemetry.metrics import Metrics
from only1mcp.types import JsonObject
from only1mcp.variants import Lists, Variants, set_of

if TYPE_CHECKING:
    # Loaded with a cluster only: they load redis and OpenTelemetry's SDK (~0.2 s).
    from only1mcp.cluster.events import ClusterEvents
    from only1mcp.cluster.node import Node
    from only1mcp.cluster.store import RedisStore

log = logging.getLogger("only1mcp.gateway")


MAX_PAGES = 100
MAX_MIRRORED = 1024  # capability sets whose backend a bridged HTTP call finds at once
# Net container allocations between two young collections of the cyclic GC (CPython: 700).
GC_YOUNG_THRESHOLD = 10_000
DRAIN_POLL = 0.02  # seconds between two looks at a retiring backend's calls in flight


# Builds a server's backend (create_backend; a test gives a fake).
CreateBackend = Callable[..., Backend]


class StartWatch(typing.Protocol):
    """Who is told how the first start of every server goes (``only1mcp start``'s progress)."""

    def starting(self, server: str) -> None: ...

    def started(self, server: str, state: str, problem: str, tools: int) -> None:
        """``server``'s start ended: its state, why it does not serve ("" when it does), and
        how many tools it lists."""

    def finished(self) -> None:
        """Every server's start ended."""


class Gateway:
    def __init__(
        self,
        config: Config,
        create: CreateBackend = create_backend,
        metrics: Metrics | None = None,
        start_watch: StartWatch | None = None,
        cluster: RedisStore | None = None,
    ) -> None:
        self.config = config
        self._create = create
        self._metrics = metrics
        self._start_watch = start_watch
        # The shared state of several processes (None: this process alone); up with the gateway.
        self.cluster = cluster
        # This process's name in the cluster: in the ids of the questions its relay asks.
        self.node: Node | None = None
        # What the other processes must hear of (a config reload, a list change), and hear.
        self.events: ClusterEvents | None = None
        if cluster is not None:
            from only1mcp.cluster.events import ClusterEvents
            from only1mcp.cluster.node import Node

            self.node = Node(cluster)
            self.events = ClusterEvents(cluster, self.node.name)
            self.events.on("lists", self._relisted)
        servers = config.enabled_servers()
        # Shared by every catalog and the relay: a reload (adopt) changes them in place.
        self._order = order = list(servers)
        self._prefixes = prefixes = {name: config.exposed_prefix(name) for name in order}
        self.catalogs = {
            spec.kind: Catalog(
                order, prefixes, config.separator, spec.id_field, config.shapes(spec.kind)
            )
            for spec in LIST_KINDS
        }
        front = config.front
        self.sessions = SessionStore(
            on_remove=self._end_session,
            ttl=front.session_ttl,
            max_sessions=front.max_sessions,
            max_per_principal=front.max_sessions_per_principal,
        )
        self._sweeper: asyncio.Task[None] | None = None
        self.relay = Relay(
            self.sessions,
            prefixes,
            owner_of=self.owner,
            node="" if self.node is None else self.node.name,
            elsewhere=None if self.node is None else self.node.forward_answer,
        )
        self._wiring = wiring = Wiring(
            self._on_backend_message, self._on_backend_ready, self._on_crash_loop, metrics=metrics
        )
        self.backends: dict[str, Backend] = {
            name: create(name, server, wiring) for name, server in servers.items()
        }
        # Servers an operator turned off (admin API) since the start, and the automatic
        # restarts of the backends an operator's restart replaced (so the count survives).
        self.disabled: set[str] = set()
        self.restarts_before: dict[str, int] = {}
        # One operator action per server at a time: two restarts must not both start one.
        self._operating: dict[str, asyncio.Lock] = {}
        # What the backends that are not the catalog's own report (faces, isolated instances).
        self._messages_only = Wiring(self._on_backend_message, metrics=metrics)
        self.ready = asyncio.Event()
        self._failures: tuple[int, dict[str, str]] = (-1, {})
        # (server, session id) → that session's own instance of an `isolation: session` server
        self._isolated: dict[tuple[str, str], asyncio.Task[Backend]] = {}
        # such an instance → the id of the session it belongs to (whose roots it serves)
        self._owners: weakref.WeakKeyDictionary[Backend, str] = weakref.WeakKeyDictionary()
        # (server, canonical capability set) → a backend session that declared that set
        self._mirrors: dict[tuple[str, str], asyncio.Task[Backend]] = {}
        # (server, the caller's capabilities as sent, sorted) → what _mirroring found for them
        # on a shared HTTP server: its every later call skips the search (serving).
        self._mirrored: dict[tuple[str, bytes], Backend] = {}
        # The same, for servers whose bridged calls each need an instance of their own.
        self._leases = Leases(self._start_isolated)
        # A bridged call is over (its session's id): its leased instances go back for the
        # next calls. The leases' own method: the bridge calls it on every call.
        self.release: Callable[[str], None] = self._leases.release
        self.shared = {
            name: backend
            for name, backend in self.backends.items()
            if servers[name].isolation is not Isolation.SESSION
        }
        self._derive(servers)
        # Backends a reload took out of service, until their calls in flight are answered.
        self._retiring: set[Backend] = set()
        self._closing: set[asyncio.Task[None]] = set()
        # Shared servers whose lists vary with the client's capabilities: an instance per set.
        self.variants = Variants(
            _varying(servers),
            self._variant,
            self._read_lists,
            self.catalogs,
            self._announce,
        )
        # server → its handshake face, for the two-era servers spoken to statelessly (see
        # serving); the starts, so that concurrent first calls share one.
        self._faces: dict[str, Backend] = {}
        self._face_starts: dict[str, asyncio.Task[Backend | None]] = {}

    def _derive(self, servers: dict[str, ServerConfig]) -> None:
        """What the configured servers decide once, rather than on each call."""
        # Servers whose bridged 2026 calls each lease an instance though they are shared.
        self.per_call = frozenset(
            name for name, server in servers.items() if server.isolation is Isolation.CALL
        )
        # Request headers that some pool hashes on: the front keeps them with the session.
        hash_keys = [s.hash_key or "" for s in servers.values() if isinstance(s, PoolServerConfig)]
        self.hash_headers = frozenset(
            key.removeprefix("header:").lower() for key in hash_keys if key.startswith("header:")
        )

    async def start(self) -> None:
        """Start every backend; a failure is recorded (and retried), never fatal."""
        if self.cluster is not None:
            await self.cluster.start()  # a Redis that is down is not fatal either
        if self.events is not None:
            await self.events.start()
        await asyncio.gather(*(self._start_watched(b) for b in self.backends.values()))
        if self._start_watch is not None:
            self._start_watch.finished()
        # Everything built so far lives as long as the process: keep it out of the cyclic
        # collector's full passes, which would otherwise show up as request latency spikes.
        gc.collect()
        gc.freeze()
        # Every call in flight holds a few dozen container objects (frames, futures, dicts)
        # that live only until it is answered; at the default threshold of 700 the young
        # collection ran every few calls and, with 64 calls in flight, traversed all of them
        # each time (4k → 19k instructions per call from 16 to 64 connections, callgrind).
        # Collected less often, most of them are freed by their reference counts first.
        gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
        self._sweeper = asyncio.ensure_future(self._sweep_sessions())
        self.ready.set()
        # Off the path to ready: a probe per handshake-era server (variants.py).
        self.variants.decide_soon(self.shared)
        up = sum(b.state is BackendState.READY for b in self.backends.values())
        log.info("ready: %d of %d servers up", up, len(self.backends))

    async def _start_watched(self, backend: Backend) -> None:
        # Whether its server varies by capability set is decided once the gateway is ready.
        watch = self._start_watch
        if watch is None:
            await self._start_one(backend, decide=False)
            return
        watch.starting(backend.name)
        await self._start_one(backend, decide=False)
        tools = len(self.catalogs["tools"].items.get(backend.name) or ())
        watch.started(backend.name, backend.state.value, backend.problem, tools)

    async def _start_one(self, backend: Backend, decide: bool = True) -> None:
        """Start ``backend`` and decide whether its server varies by capability set (unless
        the caller decides later: :meth:`start`, :meth:`install`)."""
        if decide and self.config.servers[backend.name].protocol is Protocol.HANDSHAKE:
            self.variants.prestart(backend.name)  # its era is known: probed at the same time
        try:
            await backend.start()
        except RpcError as exc:
            log.error("server %r failed to start: %s", backend.name, exc.message)
            for catalog in self.catalogs.values():
                catalog.set_error(backend.name, exc.message)
        if decide:
            await self.variants.decide(backend.name, backend)

    async def _sweep_sessions(self) -> None:
        """End idle sessions as they pass the ttl (at most a tenth of it late, within a
        minute): what a client forgot to DELETE is freed even if no one comes back for it."""
        every = min(self.sessions.ttl / 10, 60.0)
        while True:
            await asyncio.sleep(every)
            if ended := self.sessions.expire():
                log.info("%d idle session(s) expired", ended)

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        self.sessions.close_all()
        mirrors = [_close_started(task) for task in self._mirrors.values()]
        leased = self._leases.close()
        faces = [_close_face(task) for task in self._face_starts.values()]
        retiring = [b.close() for b in self._retiring]
        await asyncio.gather(
            *(b.close() for b in self.backends.values()),
            *mirrors,
            leased,
            *faces,
            self.variants.close(),
            *retiring,
            *self._closing,
        )
        if self.events is not None:
            await self.events.close()
        if self.cluster is not None:
            await self.cluster.close()

    def serving(self, server: str, session: Session, variants: bool = True) -> Backend | None:
        """The running backend that serves ``session`` for ``server`` (the per-call fast
        path), or None when :meth:`backend_for` has to find or start it.

        The one place where a client's era picks a backend: a handshake-era session talks to a
        two-era server through its handshake face, so that the server has its back-channel
        (sampling, elicitation, roots) as it has when the client connects to it directly; a
        2026 session talks to it statelessly. A server whose lists vary with the client's
        capabilities serves each capability set from an instance of its own (variants.py),
        unless ``variants`` is False (the caller asked them already). One frame per call: the
        variants' test is :meth:`Variants.varies` written out."""
        backend = self.shared.get(server)
        if backend is None:
            return None  # isolated, or gone: backend_for decides
        if variants and (server in self.variants.undecided or server in self.variants.sensitive):
            chosen = self.variants.serving(server, session, backend)
            if chosen is not backend:
                return chosen  # the set's instance, or None: backend_for decides the server
        mirror = session.mirror
        if mirror is not None:
            # A bridged 2026 call meets a shared stdio server's one process too (_mirroring).
            if server in self.per_call:
                return None
            if backend.streams_per_request:
                key = _capability_key(mirror)
                return None if key is None else self._mirrored.get((server, key))
            return backend
        if backend.handshake_too and session.protocol_version not in STATELESS_REVISIONS:
            return self._faces.get(server)
        return backend

    async def backend_for(self, server: str, session: Session) -> Backend:
        """The backend that serves ``session`` for ``server``: the shared one (or its
        handshake face), or with ``isolation: session`` the session's own instance, started
        on first use."""
        backend = self.serving(server, session)
        if backend is not None:
            return backend
        shared = self.shared.get(server)
        if shared is not None and self.variants.varies(server):
            chosen = await self.variants.backend(server, session, shared)
            backend = chosen if chosen is not shared else self.serving(server, session, False)
            if backend is not None:
                return backend
        if session.mirror is not None:
            return await self._mirroring(server, session)
        if server in self.shared:
            return await self._face_of(self.shared[server])
        key = (server, session.id)
        task = self._isolated.get(key)
        if task is None:
            task = asyncio.ensure_future(self._start_isolated(server, owner=session.id))
            self._isolated[key] = task
        return await asyncio.shield(task)

    async def _mirroring(self, server: str, session: Session) -> Backend:
        """The backend that serves a bridged 2026 call (``session.mirror``: the caller's
        relayable capabilities; docs/design/eras.md §4.7).

        * A shared **stdio** server: its one process, multiplexed like every session's calls.
          The relay attributes a question to the call that asked (the one in flight there, or
          the one its ``_meta`` names) and refuses it when that is ambiguous; the bridge
          refuses one the caller did not declare (-32021). No process is started per call.
        * A shared **HTTP** server: a question comes on its request's stream, so one backend
          session per distinct capability set serves every call exactly.
        * ``isolation: session`` or ``call``: each bridged call leases an instance of its own,
          initialized with exactly the caller's capabilities (idle ones are kept for the next
          calls)."""
        capabilities = mirrored(session.mirror or {})
        base = self.shared.get(server)
        per_call = base is None or server in self.per_call
        shared_fits = base is not None and (
            not base.streams_per_request or base.client_capabilities == capabilities
        )
        if shared_fits and not per_call:
            assert base is not None
            return self._remember(server, session.mirror, base)
        key = (server, orjson.dumps(capabilities, option=orjson.OPT_SORT_KEYS).decode())
        if per_call:
            leased = await self._leases.lease(key, session.id, capabilities)
            if leased is not None:
                return leased
        task = self._mirrors.get(key)
        if task is None:
            task = asyncio.ensure_future(self._start_isolated(server, capabilities))
            self._mirrors[key] = task
        return self._remember(server, session.mirror, await asyncio.shield(task))

    def _remember(self, server: str, sent: JsonObject | None, backend: Backend) -> Backend:
        """Keep what a shared server's bridged calls with these capabilities use (up to
        MAX_MIRRORED sets: a client cycling junk capabilities cannot grow it)."""
        key = _capability_key(sent or {})
        if key is not None and len(self._mirrored) < MAX_MIRRORED:
            self._mirrored[(server, key)] = backend
        return backend

    async def _face_of(self, base: Backend) -> Backend:
        """The handshake face of a two-era server, started on first use and shared by every
        handshake-era session (multiplexed like any backend: over stdio one more process, not
        one per session or call). When the server refuses the handshake after all, its 2026
        backend serves them through the reverse bridge from then on."""
        task = self._face_starts.get(base.name)
        if task is None:
            task = asyncio.ensure_future(self._start_face(base))
            self._face_starts[base.name] = task
        face = await asyncio.shield(task)
        if face is None:
            base.handshake_too = False
            return base
        self._faces[base.name] = face
        return face

    async def _start_face(self, base: Backend) -> Backend | None:
        config = self.config.servers[base.name].model_copy(update={"protocol": Protocol.HANDSHAKE})
        face = self._create(base.name, config, self._messages_only, safe_tools=base.safe_tools)
        try:
            await face.start()
        except RpcError as exc:
            log.info(
                "server %r does not take the handshake (%s): handshake-era clients reach it "
                "through the reverse bridge",
                base.name,
                exc.message,
            )
            await face.close()
            return None
        log.info("server %r: handshake face started for handshake-era clients", base.name)
        return face

    def faces(self) -> list[Backend]:
        """The running handshake faces and capability-set instances (they take handshake-era
        fan-outs: setLevel, roots)."""
        return [*self._faces.values(), *self.variants.instances()]

    def _variant(self, server: str, capabilities: JsonObject) -> Backend:
        """Server ``server``'s instance for one capability set (built, not started)."""
        wiring = Wiring(
            self._on_backend_message, client_capabilities=capabilities, metrics=self._metrics
        )
        safe_tools = self.backends[server].safe_tools
        return self._create(server, self.config.servers[server], wiring, safe_tools=safe_tools)

    async def _read_lists(self, backend: Backend) -> Lists:
        return {
            spec.kind: await self._fetch_all(backend, spec.kind)
            for spec in LIST_KINDS
            if spec.capability in backend.capabilities
        }

    def _announce(self, sets: frozenset[str], frame: bytes) -> None:
        """A list change for the sessions of these capability sets only."""
        for session in self.sessions:
            if set_of(session) in sets:
                session.events.push(frame)

    async def _start_isolated(
        self, server: str, capabilities: JsonObject | None = None, owner: str | None = None
    ) -> Backend:
        backend = self._create(
            server,
            self.config.servers[server],
            Wiring(
                self._on_backend_message,
                client_capabilities=capabilities,
                metrics=self._metrics,
            ),
            safe_tools=self.backends[server].safe_tools,
        )
        if owner is not None:
            self._owners[backend] = owner
        # A failed start leaves it DOWN and retrying; forward() tells the caller why.
        with contextlib.suppress(RpcError):
            await backend.start()
        return backend

    def owner(self, backend: Backend) -> str | None:
        """The id of the session ``backend`` belongs to (``isolation: session``), else None."""
        return self._owners.get(backend)

    async def roots_changed(self, session: Session) -> None:
        """Tell the handshake-era servers that serve ``session`` that the roots they serve
        changed (it came, went or changed its roots): the shared ones and its own instances.
        One that cares asks ``roots/list`` again, and the relay answers it with the clients'
        roots. 2026 servers ask for the roots with each request that needs them."""
        frame = jsonrpc.notification("notifications/roots/list_changed")
        own = [
            task.result()
            for (_, owner), task in self._isolated.items()
            if owner == session.id
            and task.done()
            and not task.cancelled()
            and task.exception() is None
        ]
        told = [
            backend
            for backend in [*self.shared.values(), *self.faces(), *own]
            if backend.state is BackendState.READY and not backend.stateless
        ]
        for backend in told:
            with contextlib.suppress(RpcError):
                await backend.notify(frame)

    def _end_session(self, session: Session) -> None:
        if self._metrics is not None and session.mirror is None:  # not a bridged call
            self._metrics.session_ended(
                session.protocol_version, time.monotonic() - session.created
            )
        for key in [k for k in self._isolated if k[1] == session.id]:
            task = self._isolated.pop(key)
            self._background(_close_started(task))
        if session.initialized and "roots" in session.client_capabilities:
            self._background(self.roots_changed(session))

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    # ------------------------------------------------------------ operator actions

    def operating(self, name: str) -> asyncio.Lock:
        """Held around an operator's action on server ``name``."""
        return self._operating.setdefault(name, asyncio.Lock())

    async def restart(self, name: str) -> None:
        """Replace server ``name``'s shared backend by a fresh one (an operator's restart):
        calls in flight on the old one fail as on a crash; its tools stay listed meanwhile."""
        old = self.backends[name]
        self.restarts_before[name] = self.restarts_before.get(name, 0) + old.restarts + 1
        await self._retire(old)
        await self._bring_in(name)

    def restarts(self, name: str) -> int:
        """Server ``name``'s restarts since the start: its own and the operators'."""
        backend = self.backends.get(name)
        return self.restarts_before.get(name, 0) + (backend.restarts if backend else 0)

    async def disable(self, name: str) -> None:
        """Stop server ``name`` until :meth:`enable`: its items leave the merged lists."""
        backend = self.backends.pop(name)
        self.shared.pop(name, None)
        self.disabled.add(name)
        await self._retire(backend)
        for spec in LIST_KINDS:
            self.catalogs[spec.kind].set_error(name, "disabled by an operator")
            self.sessions.broadcast(jsonrpc.notification(spec.list_changed))

    async def enable(self, name: str) -> None:
        """Start again a server that :meth:`disable` stopped."""
        self.disabled.discard(name)
        await self._bring_in(name)

    async def _retire(self, backend: Backend) -> None:
        """Close a shared backend with its handshake face and what was cached for it."""
        name = backend.name
        self._faces.pop(name, None)
        face = self._face_starts.pop(name, None)
        for key in [key for key in self._mirrored if key[0] == name]:
            del self._mirrored[key]
        await asyncio.gather(
            backend.close(), self.variants.forget(name), *([_close_face(face)] if face else [])
        )

    async def _bring_in(self, name: str) -> None:
        server = self.config.servers[name]
        backend = self._create(name, server, self._wiring)
        self.backends[name] = backend
        if server.isolation is not Isolation.SESSION:
            self.shared[name] = backend
        await self._start_one(backend)

    # ------------------------------------------------- reconfiguration (see only1mcp.reload)

    def adopt(self, config: Config, gone: Mapping[str, str]) -> None:
        """Serve ``config`` from now on: its servers' order, prefixes and shapes in the
        catalogs. The servers in ``gone`` (→ why) left it: their items leave the lists and a
        call of one of their names says why. Backends are started and retired separately
        (:meth:`install`, :meth:`withdraw`); what changes a list is announced by the caller."""
        old, self.config = self.config, config
        servers = config.enabled_servers()
        self._order[:] = servers
        for name in gone:
            self._prefixes.pop(name, None)
        self._prefixes.update({name: config.exposed_prefix(name) for name in servers})
        for spec in LIST_KINDS:
            catalog = self.catalogs[spec.kind]
            for name, why in gone.items():
                catalog.forget(name, old.exposed_prefix(name), why)
            catalog.reshape(config.shapes(spec.kind))
        self.disabled -= gone.keys()
        self._derive(servers)
        self.variants.adopt(_varying(servers))

    def build(self, name: str) -> Backend:
        """A backend for server ``name`` of the running config, wired as the catalog's own;
        not started, not serving."""
        return self._create(name, self.config.servers[name], self._wiring)

    async def install(self, backend: Backend) -> list[Backend]:
        """Start ``backend`` and make it serve its server (one a reload added or changed: the
        old one serves until the new one is up). What served it until now comes back, for
        the caller to :meth:`drain`."""
        await self._start_one(backend, decide=False)
        name = backend.name
        old = self.withdraw(name)
        self.backends[name] = backend
        if self.config.servers[name].isolation is not Isolation.SESSION:
            self.shared[name] = backend
        await self.variants.decide(name, backend)  # a changed server: does it vary now?
        return old

    def withdraw(self, name: str) -> list[Backend]:
        """Take server ``name``'s backends out of service: the shared one, its handshake face,
        the instances of sessions and of bridged calls (leased ones as they are given back).
        Those still starting are closed; the others come back, for the caller to
        :meth:`drain`."""
        self.shared.pop(name, None)
        retired = [b for b in (self.backends.pop(name, None), self._faces.pop(name, None)) if b]
        starts: list[asyncio.Task[Any]] = []
        if name in self._face_starts:
            starts.append(self._face_starts.pop(name))
        for table in (self._isolated, self._mirrors):
            starts += [table.pop(key) for key in [k for k in table if k[0] == name]]
        for key in [key for key in self._mirrored if key[0] == name]:
            del self._mirrored[key]
        retired += self._leases.retire(name)
        retired += self.variants.withdraw(name)
        for task in starts:
            if not task.done():
                self._background(_close_face(task))
            elif not task.cancelled() and task.exception() is None and task.result() is not None:
                retired += [task.result()] if task.result() not in retired else []
        Backend.changed()
        return retired

    async def drain(self, backends: list[Backend], bound: float) -> None:
        """Close ``backends`` once the calls in flight on them are answered, or after
        ``bound`` seconds (what is pending then fails as on a close)."""
        self._retiring.update(backends)
        deadline = time.monotonic() + bound
        # A call that took its backend just before the swap reaches its pending table now.
        await asyncio.sleep(DRAIN_POLL)
        while any(b.busy for b in backends) and time.monotonic() < deadline:
            await asyncio.sleep(DRAIN_POLL)
        await asyncio.gather(*(b.close() for b in backends))
        self._retiring.difference_update(backends)

    def announce(self, before: Mapping[str, list[JsonObject]]) -> None:
        """Tell every session of the merged lists that differ from ``before`` (kind → list)."""
        told: set[str] = set()
        for spec in LIST_KINDS:
            changed = self.catalogs[spec.kind].merged() != before[spec.kind]
            if changed and spec.list_changed not in told:
                told.add(spec.list_changed)
                self.sessions.broadcast(jsonrpc.notification(spec.list_changed))

    def failures(self) -> dict[str, str]:
        """Servers that are not serving right now, and why (cached until a state changes:
        every merged list asks)."""
        if self._failures[0] != Backend.generation:
            problems = {name: backend.problem for name, backend in self.backends.items()}
            failures = {name: problem for name, problem in problems.items() if problem}
            self._failures = (Backend.generation, failures)
        return self._failures[1]

    async def _on_backend_ready(self, backend: Backend) -> None:
        for spec in LIST_KINDS:
            await self.refresh(backend, spec.kind)

    async def refresh(self, backend: Backend, kind: str, announce: bool = False) -> None:
        """Re-read one server's list of ``kind``; tell every session when the merged list
        changed, or always when ``announce`` (the server itself said its list changed)."""
        catalog = self.catalogs[kind]
        spec = BY_KIND[kind]
        if spec.capability not in backend.capabilities:
            catalog.set_items(backend.name, [])
            return
        before = catalog.items.get(backend.name)
        try:
            items = await self._fetch_all(backend, kind)
        except RpcError as exc:
            log.warning("server %r: %s/list failed: %s", backend.name, kind, exc.message)
            catalog.set_error(backend.name, exc.message)
            return
        catalog.set_items(backend.name, items)
        if kind == "tools":
            backend.tools_listed(items)
        # A list that comes back (a server that recovered) is news too, once clients exist.
        if announce or (before != items and (before is not None or self.ready.is_set())):
            self.sessions.broadcast(jsonrpc.notification(spec.list_changed))

    def _on_crash_loop(self, backend: Backend) -> None:
        """A crash-looping server's items leave the merged lists until it is back up."""
        announced: set[str] = set()
        for spec in LIST_KINDS:
            catalog = self.catalogs[spec.kind]
            had = catalog.items.get(backend.name)
            catalog.set_error(backend.name, backend.problem)
            if had and spec.capability not in announced:
                announced.add(spec.capability)
                self.sessions.broadcast(jsonrpc.notification(spec.list_changed))

    async def _fetch_all(self, backend: Backend, kind: str) -> list[JsonObject]:
        method, key = BY_KIND[kind].method, BY_KIND[kind].result_key
        items: list[JsonObject] = []
        params: JsonObject = {}
        for _ in range(MAX_PAGES):
            result = await backend.call(method, params or None)
            page = result.get(key) if isinstance(result, dict) else None
            if not isinstance(page, list):
                raise RpcError(f"server {backend.name!r} answered {method} without {key!r}")
            items.extend(item for item in page if isinstance(item, dict))
            cursor = result.get("nextCursor")
            if not cursor:
                break
            params = {"cursor": cursor}
        return items

    async def _on_backend_message(self, backend: Backend, frame: bytes) -> None:
        """Traffic a backend started: list changes here, the rest to the relay."""
        if not await self.list_changed(backend, frame):
            await self.relay.from_backend(backend, frame)

    async def list_changed(self, backend: Backend, frame: bytes) -> bool:
        """Refresh the lists a ``*/list_changed`` frame names; False for any other frame."""
        method = frame_info(frame)[1] or ""
        if not method.endswith("/list_changed"):
            return False
        if backend in self.variants:  # one capability set's instance: its own lists
            await self.variants.list_changed(backend, frame)
            return True
        capability = method.removeprefix("notifications/").removesuffix("/list_changed")
        await self._relist(backend, capability)
        if self.events is not None and self.backends.get(backend.name) is backend:
            await self.events.publish("lists", server=backend.name, capability=capability)
        return True

    async def _relist(self, backend: Backend, capability: str) -> None:
        kinds = [spec.kind for spec in LIST_KINDS if spec.capability == capability]
        for kind in kinds:
            # Resources and templates share one notification: announce it once.
            await self.refresh(backend, kind, announce=kind == kinds[-1])

    async def _relisted(self, message: JsonObject) -> None:
        """Another process's server said a list changed: this process's copy is read again."""
        backend = self.backends.get(str(message.get("server")))
        if backend is not None and backend.state is BackendState.READY:
            await self._relist(backend, str(message.get("capability")))


def _varying(servers: Mapping[str, ServerConfig]) -> list[str]:
    """The servers that may get an instance per capability set (variants.py)."""
    return [
        name
        for name, server in servers.items()
        if server.capability_instances and server.isolation is Isolation.SHARED
    ]


async def _close_face(task: asyncio.Task[Backend | None]) -> None:
    face = await task
    if face is not None:
        await face.close()


async def _close_started(task: asyncio.Task[Backend]) -> None:
    """Close a per-session backend, waiting for its start if that is still running."""
    await (await task).close()


def _capability_key(capabilities: JsonObject) -> bytes | None:
    """Capabilities as sent, in one canonical form (None when orjson cannot encode them:
    nested deeper than it writes)."""
    try:
        return orjson.dumps(capabilities, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return None
