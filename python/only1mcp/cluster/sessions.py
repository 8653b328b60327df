"""Handshake-era sessions shared by the processes of a cluster (issue 16; docs/scaling.md).

The balancer in front has no affinity, so any request of a session may reach any process.
Each session has a record in Redis (``<prefix>session:<id>``, a TTL of ``cluster.session_ttl``
refreshed while it is used): who opened it, the negotiated revision, the client's capabilities
and info, its log level and resource subscriptions. A process that does not know a session
looks the record up and *re-homes* it — builds the session from the record and serves it (shared
backends are per process and already initialized; a per-session backend starts on first use
with the recorded capabilities) — so a client never hears 404 for a session alive elsewhere.

What reaches the client outside a POST's own response goes into the session's event log. When
the client's GET stream is held by another process, :class:`SharedEventLog` publishes the
message on the session's channel (``<prefix>stream:<id>``), which the holder subscribes to while
the stream lasts; with nobody subscribed it stays in the local log, as without a cluster.
A client's answer to another process's question goes to that process's channel
(:class:`~only1mcp.cluster.node.Node`); ``<prefix>sessions`` tells every process when a
session ends or its record changed.

Redis down: the calls answer None at once (or within ``cluster.timeout``); every process goes on
with the sessions it holds, and writes their records again when Redis is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import orjson
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from only1mcp.audit import AuditLog
from only1mcp.auth.principal import Principal
from only1mcp.cluster.node import Node
from only1mcp.cluster.store import RedisStore, listen
from only1mcp.gateway import Gateway
from only1mcp.router import Router
from only1mcp.session import EventLog, Session
from only1mcp.types import JsonObject

log = logging.getLogger("only1mcp.cluster")

# Requests and notifications after which a session's record is written again.
RECORDED = frozenset(
    {
        "logging/setLevel",
        "resources/subscribe",
        "resources/unsubscribe",
        "notifications/initialized",
    }
)
# A record's TTL is refreshed once this share of it has passed since the last write.
REFRESH_SHARE = 0.25


class SharedEventLog(EventLog):
    """A session's event log whose messages go to the process holding the client's stream."""

    __slots__ = ("_shared", "_sid")

    def __init__(self, shared: SharedSessions, session_id: str) -> None:
        super().__init__()
        self._shared = shared
        self._sid = session_id

    def push(self, frame: bytes) -> None:
        if self._shared.streams_here(self._sid):
            super().push(frame)
        else:
            self._shared.hand_over(self._sid, frame, self)

    def keep(self, frame: bytes) -> None:
        """Log ``frame`` here (it came from another process, or no process holds a stream)."""
        super().push(frame)


class SharedSessions:
    """This process's part of the cluster's sessions: records, re-homing, the channels."""

    def __init__(
        self, store: RedisStore, node: Node, gateway: Gateway, router: Router, audit: AuditLog
    ) -> None:
        self.store = store
        self.node = node
        self.gateway = gateway
        self.router = router
        self.audit = audit
        self.ttl = store.config.session_ttl
        self.control = store.key("sessions")
        self._streams: Counter[str] = Counter()  # session id → GET streams open here
        # session id → what takes the messages POSTed elsewhere for its legacy SSE stream here
        self._posted: dict[str, Callable[[bytes], None]] = {}
        self._refreshed: dict[str, float] = {}  # session id → when its TTL was last set
        self._adopting: dict[str, asyncio.Task[Session | None]] = {}
        self._outbox: asyncio.Queue[tuple[str, bytes, SharedEventLog]] = asyncio.Queue()
        self._pubsub: PubSub = store.client.pubsub(ignore_subscribe_messages=True)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._running: list[asyncio.Task[None]] = []
        store.on_change(self._reachability)

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Listen (the gateway has started the store)."""
        self._running = [
            asyncio.create_task(self._listen(), name="only1mcp-cluster-listen"),
            asyncio.create_task(self._send_events(), name="only1mcp-cluster-events"),
            asyncio.create_task(self._keep_streams_alive(), name="only1mcp-cluster-ttl"),
        ]

    async def close(self) -> None:
        for task in [*self._running, *self._tasks]:
            task.cancel()
        await asyncio.gather(*self._running, *self._tasks, return_exceptions=True)
        with contextlib.suppress(RedisError, OSError):
            await self._pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]  # typed in redis 8

    def health(self) -> JsonObject:
        """What ``/healthz`` says of the cluster."""
        if self.store.up:
            return {"state": "ok", "node": self.node.name}
        return {"state": "degraded", "node": self.node.name, "reason": self.store.reason}

    # ------------------------------------------------------------------ records

    def key(self, session_id: str) -> str:
        return self.store.key("session", session_id)

    async def opened(self, session: Session) -> None:
        """A session began here (initialize): share it."""
        session.events = SharedEventLog(self, session.id)
        await self.save(session)

    async def save(self, session: Session) -> None:
        """Write ``session``'s record (and restart its TTL)."""
        if not self.store.up:
            return  # written again when Redis is back (_reachability)
        key, record, ttl = self.key(session.id), self._record(session), math.ceil(self.ttl)
        self._refreshed[session.id] = time.monotonic()
        if await self.store.run(lambda client: client.set(key, record, ex=ttl)):
            await self._announce({"changed": session.id})

    def used(self, session: Session, msg: JsonObject) -> None:
        """A request of ``session`` was answered here: write what changed, keep it alive."""
        if msg.get("method") in RECORDED:
            self._spawn(self.save(session))
            return
        if time.monotonic() - self._refreshed.get(session.id, 0.0) > self.ttl * REFRESH_SHARE:
            self._spawn(self._refresh([session.id]))

    def ended_soon(self, session: Session) -> None:
        """:meth:`ended`, from code that cannot wait (a legacy stream's end)."""
        self._spawn(self.ended(session))

    async def ended(self, session: Session) -> None:
        """The client ended ``session`` (DELETE): everywhere."""
        self._refreshed.pop(session.id, None)
        key = self.key(session.id)
        await self.store.run(lambda client: client.delete(key))
        await self._announce({"end": session.id})

    async def _refresh(self, session_ids: list[str]) -> None:
        now, ttl = time.monotonic(), math.ceil(self.ttl)
        keys = [self.key(sid) for sid in session_ids]
        for sid in session_ids:
            self._refreshed[sid] = now

        async def expire(client: Any) -> list[Any]:
            async with client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.expire(key, ttl)
                return list(await pipe.execute())

        await self.store.run(expire)

    def _record(self, session: Session) -> bytes:
        return orjson.dumps(
            {
                "owner": self.node.name,
                "principal": session.principal.id,
                "revision": session.protocol_version,
                "capabilities": session.client_capabilities,
                "client_info": session.client_info,
                "initialized": session.initialized,
                "log_level": session.log_level,
                "subscriptions": self.gateway.relay.subscriptions(session),
                "hash_headers": session.hash_headers,
            }
        )

    # ----------------------------------------------------------------- re-homing

    async def adopt(self, session_id: str, principal: Principal) -> Session | None:
        """The session ``session_id`` names, re-homed here from its record, when it is alive
        and ``principal`` opened it; None otherwise (the client hears 404)."""
        if not self.store.up:
            return None
        task = self._adopting.get(session_id)
        if task is None:  # concurrent requests of one session share one adoption
            task = asyncio.ensure_future(self._adopt(session_id, principal))
            self._adopting[session_id] = task
            task.add_done_callback(lambda _: self._adopting.pop(session_id, None))
        session = await asyncio.shield(task)
        if session is not None and session.principal.id != principal.id:
            return None
        return session

    async def _record_for(self, session_id: str, principal: Principal) -> JsonObject | None:
        """``session_id``'s record when it is alive and ``principal`` opened it (another
        principal's attempt is audited)."""
        key = self.key(session_id)
        raw = await self.store.run(lambda client: client.get(key))
        if raw is None:
            return None
        record: JsonObject = orjson.loads(raw)
        if record.get("principal") != principal.id:
            self.audit.session_mismatch(principal, session_id)
            return None
        return record

    async def _adopt(self, session_id: str, principal: Principal) -> Session | None:
        record = await self._record_for(session_id, principal)
        if record is None:
            return None
        known = self.gateway.sessions.get(session_id)
        if known is not None:
            return known  # another path adopted it meanwhile
        session = Session(id=session_id, principal=principal)
        _apply(session, record)
        session.events = SharedEventLog(self, session_id)
        self.gateway.sessions.add(session)
        await self._resubscribe(session, record.get("subscriptions") or [])
        log.info("session %s… re-homed here (last owner: node %s)", session_id[:8], record["owner"])
        await self.save(session)
        return session

    async def _resubscribe(self, session: Session, uris: list[str]) -> None:
        """Subscribe this process's backends for ``session`` as its record says."""
        for number, uri in enumerate(uris):
            msg: JsonObject = {
                "jsonrpc": "2.0",
                "id": f"only1mcp-rehome-{number}",
                "method": "resources/subscribe",
                "params": {"uri": uri},
            }
            await self.router.handle(session, msg)

    async def _reload(self, session: Session) -> None:
        """Another process changed ``session``'s record: take its log level and state."""
        key = self.key(session.id)
        raw = await self.store.run(lambda client: client.get(key))
        if raw is not None:
            _apply(session, orjson.loads(raw))

    # ------------------------------------------------------------------ streams

    @contextlib.asynccontextmanager
    async def streaming(
        self, session: Session, posted: Callable[[bytes], None] | None = None
    ) -> AsyncIterator[None]:
        """A GET stream of ``session`` is open here while inside: its messages come here
        (and, for a legacy SSE stream, what its client POSTs to other processes: ``posted``)."""
        sid = session.id
        channels = [self.store.key("stream", sid)]
        if posted is not None:
            self._posted[sid] = posted
            channels.append(self.store.key("posted", sid))
        self._streams[sid] += 1
        if self._streams[sid] == 1:
            await self._channels("subscribe", *channels)
        try:
            yield
        finally:
            self._streams[sid] -= 1
            if not self._streams[sid]:
                del self._streams[sid]
                self._posted.pop(sid, None)
                await self._channels("unsubscribe", *channels)

    async def post_elsewhere(self, session_id: str, principal: Principal, body: bytes) -> bool:
        """Hand a message POSTed for a legacy SSE session to the process holding its stream;
        False when no process does (or the session is another principal's)."""
        if not self.store.up or await self._record_for(session_id, principal) is None:
            return False
        return bool(await self._publish(self.store.key("posted", session_id), body))

    def streams_here(self, session_id: str) -> bool:
        return session_id in self._streams

    def hand_over(self, session_id: str, frame: bytes, events: SharedEventLog) -> None:
        """Send ``frame`` to the process holding ``session_id``'s stream (in order)."""
        self._outbox.put_nowait((session_id, frame, events))

    async def _send_events(self) -> None:
        while True:
            sid, frame, events = await self._outbox.get()
            if not await self._publish(self.store.key("stream", sid), frame):
                events.keep(frame)  # no stream anywhere (or Redis down): a later GET here

    async def _publish(self, channel: str, frame: bytes) -> int:
        """How many processes got ``frame`` on ``channel`` (0 when Redis is down)."""
        if not self.store.up:
            return 0
        return await self.store.run(lambda client: client.publish(channel, frame)) or 0

    async def _keep_streams_alive(self) -> None:
        """A session whose client only listens is alive: its TTL is refreshed too."""
        while True:
            await asyncio.sleep(self.ttl * REFRESH_SHARE)
            if self._streams and self.store.up:
                await self._refresh(list(self._streams))

    # ----------------------------------------------------------------- channels

    async def _channels(self, command: str, *channels: str) -> None:
        """(Un)subscribe the listener; a failure leaves the stream local (Redis is down)."""
        method = getattr(self._pubsub, command)
        try:
            await asyncio.wait_for(method(*channels), self.store.config.timeout)
        except (RedisError, OSError, TimeoutError) as exc:
            log.debug("could not %s %s: %s", command, channels, exc)

    async def _listen(self) -> None:
        await listen(self._pubsub, self._wanted, self._dispatch)

    def _wanted(self) -> list[str]:
        """Every channel this process listens on now."""
        streams = [self.store.key("stream", sid) for sid in self._streams]
        posted = [self.store.key("posted", sid) for sid in self._posted]
        return [self.node.channel(), self.control, *streams, *posted]

    def _dispatch(self, channel: str, data: bytes) -> None:
        stream_prefix, posted_prefix = self.store.key("stream", ""), self.store.key("posted", "")
        if channel.startswith(stream_prefix):
            session = self.gateway.sessions.get(channel.removeprefix(stream_prefix))
            if session is not None:
                events = session.events
                (events.keep if isinstance(events, SharedEventLog) else events.push)(data)
            return
        if channel.startswith(posted_prefix):
            deliver = self._posted.get(channel.removeprefix(posted_prefix))
            if deliver is not None:
                deliver(data)
            return
        message = orjson.loads(data)
        if channel == self.node.channel():
            answer = self.gateway.relay.answered(message["session"], message["answer"])
            self._spawn(answer)
        elif message.get("from") != self.node.name:
            self._control(message)

    def _control(self, message: JsonObject) -> None:
        if "end" in message:
            self._refreshed.pop(message["end"], None)
            self.gateway.sessions.remove(message["end"])
        elif "changed" in message:
            session = self.gateway.sessions.get(message["changed"])
            if session is not None:
                self._spawn(self._reload(session))

    async def _announce(self, message: JsonObject) -> None:
        await self._publish(self.control, orjson.dumps({**message, "from": self.node.name}))

    # ---------------------------------------------------------------- reachability

    def _reachability(self, up: bool) -> None:
        if up:  # what was opened or changed while Redis was away
            self._spawn(self._save_all())

    async def _save_all(self) -> None:
        for session in self.gateway.sessions:
            if isinstance(session.events, SharedEventLog):
                await self.save(session)

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _apply(session: Session, record: JsonObject) -> None:
    """Take a record's view of ``session`` (its principal stays the one that asked)."""
    session.protocol_version = record["revision"]
    session.client_capabilities = record.get("capabilities") or {}
    session.client_info = record.get("client_info") or {}
    session.initialized = bool(record.get("initialized"))
    session.log_level = record.get("log_level")
    session.hash_headers = record.get("hash_headers") or {}
