"""The gateway's state as the metrics' gauges show it, read at each scrape (never kept up to
date on the hot path): backends up, breakers, restarts, calls in flight, catalog sizes."""

from __future__ import annotations

from collections.abc import Iterator

from only1mcp.backends import Backend, BackendState
from only1mcp.backends.pool import ReplicaPool
from only1mcp.backends.server import ServerBackend
from only1mcp.gateway import Gateway
from only1mcp.telemetry.metrics import BackendState as Shown
from only1mcp.telemetry.metrics import GatewayState


def gateway_state(gateway: Gateway) -> GatewayState:
    return GatewayState(
        [shown for backend in gateway.backends.values() for shown in _shown(backend)],
        {kind: len(catalog.merged()) for kind, catalog in gateway.catalogs.items()},
        len(gateway.sessions),
    )


def _shown(backend: Backend) -> Iterator[Shown]:
    if isinstance(backend, ReplicaPool):
        for member in backend.replicas:
            yield from _shown(member)
    elif isinstance(backend, ServerBackend):
        guard = backend.guard
        up = backend.state is BackendState.READY and backend.healthy
        name, replica = guard.labels
        yield Shown(name, replica, up, guard.breaker.state, backend.restarts, guard.in_flight)
