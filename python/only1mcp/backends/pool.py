"""A replica pool: one logical server served by several backends, behind the Backend contract.

The pool is a wrapper, not a kind of server: it builds its replicas (with the factory it is
given) and speaks the same :class:`~.base.Backend` contract over them. The router and the relay
treat it as one backend, so:

- **ids**: the pool hands its own id source to every replica it builds, so a local id (and the
  progress token made from it) is unique across the pool and may be replayed on another replica
  unchanged;
- **unsolicited traffic** from a replica is handed on as the pool's own; a server→client
  request's id becomes ``"<replica>:<its id as JSON>"``, so the answer (``notify``) finds the
  replica that asked — without a table that a client that never answers would grow;
- **cancellations, abandon, progress** go to the replica holding the request.

Each request goes to the replica the strategy picks among those up, healthy and with a breaker
that is not open. A failed request is replayed on another replica only when that is safe: it
never reached a replica, or it is a list/read, or a tool annotated ``readOnlyHint`` or
``idempotentHint`` (``retry: always`` replays everything, ``never`` nothing), after an
exponential backoff with jitter, within the request's own timeout. When no replica can take a
request the caller is told at once. (What is safe to replay: :mod:`.replay`.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson

from only1mcp._core import rewrite_id, split_response
from only1mcp.backends.balance import make_picker
from only1mcp.backends.base import (
    STREAM_BREAK,
    Backend,
    BackendState,
    Outbound,
    Sink,
    Wiring,
)
from only1mcp.backends.guard import Timeouts
from only1mcp.backends.listen import Watch
from only1mcp.backends.replay import backoff, may_replay, safe_tools_of
from only1mcp.backends.server import ServerBackend, TransportConfig
from only1mcp.config.schema import HttpReplicaConfig
from only1mcp.errors import BackendError, BackendTimeout, BackendUnavailable, RpcError
from only1mcp.types import JsonObject

if TYPE_CHECKING:
    from only1mcp.config import PoolServerConfig

# Builds one replica: (its name, its config, its wiring: to the pool, the pool's ids).
ReplicaFactory = Callable[[str, TransportConfig, Wiring], ServerBackend]

log = logging.getLogger("only1mcp.pool")

# Sent by the gateway to every replica rather than to one.
FAN_OUT = frozenset({"logging/setLevel"})
# Calls cancelled by their client whose notifications/cancelled has not come through yet.
ORPHANS_MAX = 1024


class ReplicaPool(Backend):
    def __init__(
        self,
        name: str,
        config: PoolServerConfig,
        make_replica: ReplicaFactory,
        wiring: Wiring | None = None,
        safe_tools: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(name, wiring)
        self.config = config
        self.timeout = config.timeout
        self.timeouts = Timeouts.of(config.timeout, config.timeouts)
        self.safe_tools = safe_tools
        mine = Wiring(
            self._from_replica,
            self._replica_ready,
            self._replica_crash_loop,
            self.next_id,  # one id space for the whole pool
            self.wiring.client_capabilities,
            self.wiring.metrics,
        )
        self.replicas = [
            make_replica(f"{name}[{i}]", server, mine)
            for i, server in enumerate(config.replica_servers())
        ]
        self._position: dict[Backend, int] = {r: i for i, r in enumerate(self.replicas)}
        self.streams_per_request = any(r.streams_per_request for r in self.replicas)
        weights = [replica.weight for replica in config.replicas]
        self.picker = make_picker(config.strategy, weights, _labels(config), config.hash_key)
        self._holders: dict[int, ServerBackend] = {}
        self._orphans: dict[int, ServerBackend] = {}
        self._starting = True
        self._closing = False
        self.crash_looping = False
        self.watch = Watch(name, lambda: self.capabilities, self.request, self._listened)

    # ------------------------------------------------------------------ state

    @property
    def state(self) -> BackendState:
        if self._closing:
            return BackendState.CLOSED
        states = {replica.state for replica in self.replicas}
        for state in (BackendState.READY, BackendState.STARTING):
            if state in states:
                return state
        return BackendState.DOWN

    @property
    def restarts(self) -> int:
        return sum(replica.restarts for replica in self.replicas)

    @property
    def busy(self) -> int:
        return sum(replica.busy for replica in self.replicas)

    @property
    def problem(self) -> str:
        if self._closing:
            return "closed"
        if any(replica.problem == "" for replica in self.replicas):
            return ""
        details = "; ".join(f"{r.name}: {r.problem}" for r in self.replicas)
        return f"no replica can serve ({details})"

    # -------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Start every replica; READY when one of them is (the others keep retrying)."""
        outcomes = await asyncio.gather(
            *(replica.start() for replica in self.replicas), return_exceptions=True
        )
        self._starting = False
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(outcome, RpcError):
                raise outcome
        if self.state is not BackendState.READY:
            raise BackendError(f"server {self.name!r}: {self.problem}")
        if self.wiring.on_ready is not None:
            await self.wiring.on_ready(self)

    async def close(self) -> None:
        self._closing = True
        Backend.changed()
        self.watch.stop()
        await asyncio.gather(*(replica.close() for replica in self.replicas))

    async def _replica_ready(self, replica: Backend) -> None:
        self.init_result = replica.init_result
        # Requests are framed for the pool's era before a replica is picked, so the pool
        # speaks the era of its replicas; one that came up in another era gets no traffic.
        if not any(r.state is BackendState.READY for r in self.replicas if r is not replica):
            self.stateless, self.version = replica.stateless, replica.version
            Backend.generation += 1  # what is cached per generation may depend on the era
        elif replica.stateless is not self.stateless:
            log.warning(
                "server %r: replica %s speaks another protocol era than the others; it gets "
                "no traffic (set `protocol` on the pool)",
                self.name,
                replica.name,
            )
        self.crash_looping = False
        if not self._starting and self.wiring.on_ready is not None:
            await self.wiring.on_ready(self)  # the lists may have changed, or come back

    def _replica_crash_loop(self, replica: Backend) -> None:
        if all(r.crash_looping for r in self.replicas) and not self.crash_looping:
            self.crash_looping = True
            if self.wiring.on_crash_loop is not None:
                self.wiring.on_crash_loop(self)

    # --------------------------------------------------------------- requests

    async def forward(self, call: Outbound) -> bytes:
        method, params = call.method, call.params
        replay = may_replay(self.config.retry, self.safe_tools, method, params)
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        tried: list[ServerBackend] = []
        failure: BackendError | None = None
        while True:
            candidates = self._candidates(tried)
            if not candidates:
                raise failure or BackendUnavailable(f"server {self.name!r}: {self._why_none()}")
            index = self.picker.pick(candidates, call.session, params)
            replica = self.replicas[index]
            try:
                return await self._attempt(replica, index, call, deadline)
            except BackendUnavailable:
                kind = "failover"  # never sent: another replica may take anything
            except BackendError as exc:
                if not replay:
                    raise
                failure, kind = exc, "retry"
            tried.append(replica)
            if self.wiring.metrics is not None and self._candidates(tried):
                self.wiring.metrics.replayed(self.name, kind)
            if failure is not None:
                if deadline is None:
                    deadline = loop.time() + self.timeouts.of_call(method, params)
                delay = backoff(len(tried))
                if loop.time() + delay >= deadline:
                    raise failure
                log.info("server %r: replaying %s elsewhere after: %s", self.name, method, failure)
                await asyncio.sleep(delay)

    async def _attempt(
        self, replica: ServerBackend, index: int, call: Outbound, deadline: float | None
    ) -> bytes:
        req_id = call.id
        self._holders[req_id] = replica
        try:
            relay = self._sink(index, call.sink)
            if relay is not call.sink:
                call = Outbound(
                    call.frame, req_id, call.method, relay, call.params, call.headers, call.session
                )
            if deadline is None:
                return await replica.forward(call)
            try:
                async with asyncio.timeout_at(deadline):
                    return await replica.forward(call)
            except TimeoutError as exc:
                raise BackendTimeout(
                    f"server {self.name!r} did not answer {call.method} within its timeout"
                ) from exc
        except asyncio.CancelledError:
            self._orphan(req_id, replica)
            raise
        finally:
            self._holders.pop(req_id, None)
            self.picker.release(index)

    def _candidates(self, tried: list[ServerBackend]) -> list[int]:
        """Replicas that may take a request: breaker closed, else half-open (a probe)."""
        closed: list[int] = []
        probing: list[int] = []
        for i, replica in enumerate(self.replicas):
            if replica.state is not BackendState.READY or not replica.healthy or replica in tried:
                continue
            if replica.stateless is not self.stateless:
                continue
            breaker = replica.breaker.state
            if breaker == "closed":
                closed.append(i)
            elif breaker == "half_open":
                probing.append(i)
        return closed or probing

    def _why_none(self) -> str:
        reasons = "; ".join(f"{r.name}: {r.problem or 'circuit open'}" for r in self.replicas)
        return f"no replica can take the request ({reasons})"

    def _orphan(self, req_id: int, replica: ServerBackend) -> None:
        """Keep a cancelled call's replica until the router sends its notifications/cancelled."""
        if len(self._orphans) >= ORPHANS_MAX:
            self._orphans.pop(next(iter(self._orphans)))
        self._orphans[req_id] = replica

    async def send_own(self, call: Outbound, timeout: float | None) -> bytes:
        """Our own requests (lists, listen): to any replica that can serve, replayed."""
        return await self.forward(call)

    def tools_listed(self, tools: list[JsonObject]) -> None:
        """Learn which tools say calling them twice does no harm: those may be replayed."""
        self.safe_tools = safe_tools_of(tools)

    async def subscribe(self, uri: str) -> None:
        await self.watch.subscribe(uri)

    def unsubscribe(self, uri: str) -> None:
        self.watch.unsubscribe(uri)

    async def call(self, method: str, params: JsonObject | None = None) -> Any:
        if method not in FAN_OUT:
            return await super().call(method, params)
        ready = [r for r in self.replicas if r.state is BackendState.READY]
        results = await asyncio.gather(*(r.call(method, params) for r in ready))
        return results[0] if results else {}

    def abandon(self, req_id: int) -> None:
        holder = self._holders.get(req_id)
        if holder is not None:
            holder.abandon(req_id)

    def progressed(self, req_id: int) -> None:
        holder = self._holders.get(req_id)
        if holder is not None:
            holder.progressed(req_id)

    async def notify(self, frame: bytes) -> None:
        """A client's answer goes to the replica that asked, a cancellation to the replica
        holding the request, anything else to every replica that is up."""
        msg_id, method, is_response = split_response(frame)
        if is_response:
            target = _untag(msg_id)
            if target is not None and 0 <= target[0] < len(self.replicas):
                await self.replicas[target[0]].notify(rewrite_id(frame, target[1]))
            return
        if method == "notifications/cancelled":
            request_id = (orjson.loads(frame).get("params") or {}).get("requestId")
            if not isinstance(request_id, int):
                return  # not one of ours: our local ids are integers
            holder = self._holders.get(request_id) or self._orphans.pop(request_id, None)
            if holder is not None:
                await holder.notify(frame)
            return
        for replica in self.replicas:
            if replica.state is BackendState.READY:
                with contextlib.suppress(RpcError):
                    await replica.notify(frame)

    # ------------------------------------------------------- replica traffic

    async def _from_replica(self, replica: Backend, frame: bytes) -> None:
        if self.wiring.on_message is not None:
            await self.wiring.on_message(self, self._inbound(self._position[replica], frame))

    def _listened(self, frame: bytes) -> None:
        """A frame of the pool's own listen stream (resource subscriptions of a 2026 pool)."""
        handler = self.wiring.on_message
        found = self.watch.incoming(frame) if self.stateless else frame
        if handler is not None and found is not None:
            self.spawn(handler(self, found))

    def _sink(self, index: int, sink: Sink | None) -> Sink | None:
        if sink is None or not self.replicas[index].streams_per_request:
            return None

        def relayed(frame: bytes) -> Awaitable[None]:
            return sink(self._inbound(index, frame))

        return relayed

    def _inbound(self, index: int, frame: bytes) -> bytes:
        """Replica ``index``'s message as the pool's: a request's id (and the id a
        cancellation names) tagged with the replica."""
        if frame == STREAM_BREAK:
            return frame
        try:
            msg_id, method, is_response = split_response(frame)
        except ValueError:
            return frame
        if method is None or is_response:
            return frame
        if msg_id is not None:
            return rewrite_id(frame, _tag(index, msg_id))
        if method == "notifications/cancelled":
            msg = orjson.loads(frame)
            params = msg.get("params")
            if isinstance(params, dict) and params.get("requestId") is not None:
                params["requestId"] = _tag(index, params["requestId"])
                return orjson.dumps(msg)
        return frame


def _tag(index: int, msg_id: object) -> str:
    return f"{index}:{orjson.dumps(msg_id).decode()}"


def _untag(tagged: object) -> tuple[int, int | str] | None:
    if not isinstance(tagged, str):
        return None
    index, colon, rest = tagged.partition(":")
    if not colon or not index.isdigit():
        return None
    try:
        original = orjson.loads(rest)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(original, int | str) or isinstance(original, bool):
        return None
    return int(index), original


def _labels(config: PoolServerConfig) -> list[str]:
    """A stable name per replica (its command line or URL), made unique by occurrence."""
    labels: list[str] = []
    seen: dict[str, int] = {}
    for replica in config.replicas:
        if isinstance(replica, HttpReplicaConfig):
            label = replica.url
        else:
            label = " ".join([replica.command, *replica.args, replica.cwd or ""]).rstrip()
        seen[label] = seen.get(label, 0) + 1
        labels.append(label if seen[label] == 1 else f"{label}#{seen[label]}")
    return labels
