"""The composition root: the one place that builds the aggregator's parts and wires them.

Every part receives its collaborators and sinks in its constructor, so each import points down
(docs/design/architecture.md draws the layers)::

    Gateway(config)                    backends, catalogs, sessions, and the relay their traffic
                                       goes to (it owns both ends of that wire)
    Router(gateway)                    handshake-era dispatch over the gateway
    StatelessService(gateway, router)  the 2026 era: bridge, direct path, listen
    AuditLog(config.audit)             the record of security decisions, for the fronts
    HttpApp / StdioFront               a transport in front of all three
    AuthMiddleware(HttpApp, …)         credentials → principal, when ``auth.modes`` asks

The CLI and the tests build through here; nothing else constructs a front's collaborators.
"""

from __future__ import annotations

from dataclasses import dataclass

from only1mcp.audit import AuditLog
from only1mcp.auth.factory import build_authenticator, build_metadata
from only1mcp.auth.middleware import AuthMiddleware
from only1mcp.auth.principal import ANONYMOUS
from only1mcp.config import Config
from only1mcp.front.http import HttpApp
from only1mcp.front.origin import OriginPolicy
from only1mcp.front.stdio import StdioFront
from only1mcp.gateway import Gateway
from only1mcp.router import Router
from only1mcp.stateless import StatelessService
from only1mcp.types import ASGIApp


@dataclass(frozen=True, slots=True)
class Core:
    """What every front serves: the running gateway, the handshake-era router over it, and the
    2026 service over both."""

    gateway: Gateway
    router: Router
    stateless: StatelessService
    audit: AuditLog


def assemble(config: Config, router: type[Router] = Router) -> Core:
    """The parts behind the fronts (``router``: a subclass, for a test that needs one)."""
    gateway = Gateway(config)
    routing = router(gateway)
    return Core(gateway, routing, StatelessService(gateway, routing), AuditLog(config.audit))


@dataclass(frozen=True, slots=True)
class HttpService:
    """What the HTTP server runs: ``asgi`` (the front, behind the authentication middleware
    when ``auth`` is on) and the ``front`` itself (its drain and shutdown)."""

    asgi: ASGIApp
    front: HttpApp


def http_app(config: Config, origins: OriginPolicy, router: type[Router] = Router) -> HttpService:
    """The ASGI application of the HTTP front (``/mcp``, ``/sse``, ``/healthz``)."""
    core = assemble(config, router)
    front = HttpApp(core.gateway, core.router, core.stateless, origins, core.audit)
    if not config.auth.enabled:  # no middleware at all: nothing on the hot path
        return HttpService(front, front)
    resource = config.auth.resource or f"http://{config.front.host}:{config.front.port}/mcp"
    audit = core.audit

    def refused(reason: str, client: str) -> None:
        audit.record("authentication", ANONYMOUS, decision="deny", reason=reason, client=client)

    guarded = AuthMiddleware(
        front,
        build_authenticator(config.auth, resource, config.source),
        build_metadata(config.auth, resource, _role_names(config)),
        refused,
    )
    return HttpService(guarded, front)


def _role_names(config: Config) -> list[str]:
    """The scopes a client may ask for by default: the names of the configured roles."""
    roles = getattr(config.access, "roles", None) or {}
    return sorted(roles)


def stdio_front(config: Config) -> StdioFront:
    """The stdio front: one client on stdin/stdout."""
    core = assemble(config)
    return StdioFront(core.gateway, core.router, core.stateless, core.audit)
