"""The composition root: the one place that builds the aggregator's parts and wires them.

Every part receives its collaborators and sinks in its constructor, so each import points down
(docs/design/architecture.md draws the layers)::

    Gateway(config)                    backends, catalogs, sessions, and the relay their traffic
                                       goes to (it owns both ends of that wire); the RedisStore
                                       several processes share state through (``cluster:``)
    Router(gateway)                    handshake-era dispatch over the gateway
    StatelessService(gateway, router)  the 2026 era: bridge, direct path, listen
    AuditLog(config.audit)             the record of security decisions, for the fronts
    Gate(config, audit, catalogs)      what each principal may see and call (authentication on,
                                       or an audit log that records the calls; else none)
    Metrics / Tracing / Observer       counted and traced through hooks given at construction
                                       (metrics and tracing off: no hook at all)
    HttpApp / StdioFront               a transport in front of all three
    AuthMiddleware(HttpApp, …)         credentials → principal, when ``auth.modes`` asks
    AdminService(…)                    the admin listener (API, dashboard), when ``admin.enabled``;
                                       its call statistics read the metrics (CallStats)
    SharedSessions(…)                  with ``cluster.redis_url``: the handshake-era sessions
                                       this process shares with the others (docs/scaling.md)
    Reloader(gateway, metrics)         hot reload of the config file; ReloadTriggers (the file
                                       watched, SIGHUP) and the admin API call it

The CLI and the tests build through here; nothing else constructs a front's collaborators.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from only1mcp.access.gate import Gate
from only1mcp.admin.listener import AdminService
from only1mcp.admin.stats import CallStats
from only1mcp.audit import AuditLog
from only1mcp.auth.factory import build_authenticator, build_metadata
from only1mcp.auth.metadata import ResourceMetadata
from only1mcp.auth.middleware import AuthMiddleware
from only1mcp.auth.principal import ANONYMOUS
from only1mcp.config import Config
from only1mcp.errors import ConfigError
from only1mcp.front.http import HttpApp
from only1mcp.front.origin import OriginPolicy
from only1mcp.front.stdio import StdioFront
from only1mcp.gateway import Gateway, StartWatch
from only1mcp.gauges import gateway_state
from only1mcp.reload import CLUSTER, Reloader
from only1mcp.router import Router
from only1mcp.stateless import StatelessService
from only1mcp.telemetry.exposition import metrics_app
from only1mcp.telemetry.metrics import Metrics
from only1mcp.telemetry.observer import Observer
from only1mcp.telemetry.tracing import Tracing
from only1mcp.types import ASGIApp, JsonObject
from only1mcp.watcher import ReloadTriggers

if TYPE_CHECKING:
    # The cluster's modules load redis (and through it OpenTelemetry's SDK): ~0.2 s of the
    # start, imported only when a cluster is configured.
    from only1mcp.cluster.sessions import SharedSessions


@dataclass(frozen=True, slots=True)
class Core:
    """What every front serves: the running gateway, the handshake-era router over it, and the
    2026 service over both; the metrics (None: off) and what measures each request (None:
    neither metrics nor tracing)."""

    gateway: Gateway
    router: Router
    stateless: StatelessService
    audit: AuditLog
    gate: Gate | None
    metrics: Metrics | None = None
    observer: Observer | None = None
    shared: SharedSessions | None = None  # the cluster's sessions (None: no cluster)
    reloader: Reloader | None = None


def assemble(
    config: Config,
    router: Callable[..., Router] = Router,
    tracer_provider: Any = None,
    start_watch: StartWatch | None = None,
) -> Core:
    """The parts behind the fronts (``router``: a subclass, for a test that needs one;
    ``tracer_provider``: where spans go, None: the global provider; ``start_watch``: who is told
    how each server's first start goes)."""
    metrics = Metrics() if config.metrics.enabled else None
    tracing = _tracing(config, tracer_provider) if config.tracing.enabled else None
    cluster = None
    if config.cluster.enabled:
        from only1mcp.cluster.store import RedisStore

        cluster = RedisStore(config.cluster)
    gateway = Gateway(config, metrics=metrics, start_watch=start_watch, cluster=cluster)
    audit = AuditLog(config.audit)
    gate = build_gate(config, audit, gateway)
    routing = router(gateway, gate, None if tracing is None else tracing.inject)
    shared = None
    if cluster is not None and gateway.node is not None:
        from only1mcp.cluster.gauge import RedisUp
        from only1mcp.cluster.sessions import SharedSessions

        shared = SharedSessions(cluster, gateway.node, gateway, routing, audit)
        if metrics is not None:
            metrics.registry.register(RedisUp(cluster))
    observer = None
    if metrics is not None or tracing is not None:
        observer = Observer(metrics, tracing, gateway.catalogs)
    if metrics is not None:
        metrics.watch(lambda: gateway_state(gateway))
    stateless = StatelessService(gateway, routing)
    reloader = Reloader(gateway, metrics)
    if gateway.events is not None:  # a reload on another process: this one reads its file too

        async def reload_here(message: JsonObject) -> None:
            await reloader.reload(CLUSTER)

        gateway.events.on("config", reload_here)
    return Core(gateway, routing, stateless, audit, gate, metrics, observer, shared, reloader)


def _tracing(config: Config, provider: Any) -> Tracing:
    try:
        return Tracing(provider)
    except ImportError as exc:
        raise ConfigError(
            config.source,
            "tracing.enabled",
            f"needs OpenTelemetry ({exc.name} is missing): pip install 'only1mcp[otel]'",
        ) from exc


def build_gate(config: Config, audit: AuditLog, gateway: Gateway) -> Gate | None:
    """The gate, when there is something to check or record: without authentication and
    without an audit log every request goes straight on (nothing on the hot path)."""
    if not config.auth.enabled and not audit.enabled:
        return None
    # Several processes: the rate limits count in Redis, for the cluster as a whole.
    buckets = None
    if gateway.cluster is not None:
        from only1mcp.access.shared_buckets import RedisBuckets

        buckets = RedisBuckets(gateway.cluster)
    return Gate(config, audit, gateway.catalogs, resource_metadata(config).url, buckets)


def resource_metadata(config: Config) -> ResourceMetadata:
    """This MCP resource's RFC 9728 metadata: its URI (``auth.resource``, default the front's
    ``/mcp``), its authorization servers, and the scopes a client may ask for (by default the
    names of the configured roles)."""
    resource = config.auth.resource or f"http://{config.front.host}:{config.front.port}/mcp"
    return build_metadata(config.auth, resource, sorted(config.access.roles))


@dataclass(frozen=True, slots=True)
class HttpService:
    """What the HTTP server runs: ``asgi`` (the front, behind the authentication middleware
    when ``auth`` is on), the ``front`` itself (its drain and shutdown), and the ``admin``
    listener's service when ``admin.enabled``."""

    asgi: ASGIApp
    front: HttpApp
    admin: AdminService | None = None
    triggers: ReloadTriggers | None = None


def http_app(
    config: Config,
    origins: OriginPolicy,
    router: type[Router] = Router,
    watch: bool = True,
    start_watch: StartWatch | None = None,
) -> HttpService:
    """The ASGI application of the HTTP front (``/mcp``, ``/sse``, ``/healthz``); with a config
    file, what reloads it (SIGHUP, and the file's changes when ``watch``); ``start_watch``: who
    is told how each server's first start goes (the CLI's progress display)."""
    core = assemble(config, router, start_watch=start_watch)
    scrape = None
    if core.metrics is not None and config.metrics.on_main:
        scrape = metrics_app(core.metrics.registry)
    front = HttpApp(
        core.gateway,
        core.router,
        core.stateless,
        origins,
        core.audit,
        core.gate,
        core.observer,
        scrape,
        core.shared,
    )
    admin = None
    if config.admin.enabled:
        # /metrics on the admin listener whenever metrics are on
        metrics, stats = None, None
        if core.metrics is not None:
            metrics = metrics_app(core.metrics.registry)
            stats = CallStats(core.metrics, core.gateway.catalogs["tools"])
        admin = AdminService(
            config,
            core.gateway,
            core.router,
            stats,
            core.audit,
            metrics,
            core.reloader,
            core.observer,
        )
    triggers = None
    if config.source and core.reloader is not None:
        triggers = ReloadTriggers(config.source, core.reloader.reload, watch)
    if not config.auth.enabled:  # no middleware at all: nothing on the hot path
        return HttpService(front, front, admin, triggers)
    metadata = resource_metadata(config)
    audit = core.audit

    def refused(reason: str, client: str) -> None:
        audit.record("authentication", ANONYMOUS, decision="deny", reason=reason, client=client)

    guarded = AuthMiddleware(
        front,
        build_authenticator(config.auth, metadata.resource, config.source),
        metadata,
        refused,
    )
    return HttpService(guarded, front, admin, triggers)


def stdio_front(config: Config) -> StdioFront:
    """The stdio front: one client on stdin/stdout."""
    core = assemble(config)
    return StdioFront(
        core.gateway, core.router, core.stateless, core.audit, core.gate, core.observer
    )
