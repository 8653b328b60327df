"""The composition root: the one place that builds the aggregator's parts and wires them.

Every part receives its collaborators and sinks in its constructor, so each import points down
(docs/design/architecture.md draws the layers)::

    Gateway(config)                    backends, catalogs, sessions, and the relay their traffic
                                       goes to (it owns both ends of that wire)
    Router(gateway)                    handshake-era dispatch over the gateway
    StatelessService(gateway, router)  the 2026 era: bridge, direct path, listen
    AuditLog(config.audit)             the record of security decisions, for the fronts
    HttpApp / StdioFront               a transport in front of all three

The CLI and the tests build through here; nothing else constructs a front's collaborators.
"""

from __future__ import annotations

from dataclasses import dataclass

from only1mcp.audit import AuditLog
from only1mcp.config import Config
from only1mcp.front.http import HttpApp
from only1mcp.front.origin import OriginPolicy
from only1mcp.front.stdio import StdioFront
from only1mcp.gateway import Gateway
from only1mcp.router import Router
from only1mcp.stateless import StatelessService


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


def http_app(config: Config, origins: OriginPolicy, router: type[Router] = Router) -> HttpApp:
    """The ASGI application of the HTTP front (``/mcp``, ``/sse``, ``/healthz``)."""
    core = assemble(config, router)
    return HttpApp(core.gateway, core.router, core.stateless, origins, core.audit)


def stdio_front(config: Config) -> StdioFront:
    """The stdio front: one client on stdin/stdout."""
    core = assemble(config)
    return StdioFront(core.gateway, core.router, core.stateless, core.audit)
