"""The admin listener: the admin API and dashboard behind their guards, as a second uvicorn
server in the aggregator's process and event loop.

Guards, outermost first: authentication (the ``auth:`` section, or ``admin.auth``; none when
off — the listener is then loopback-only, which the config enforces), then :class:`AdminGate`: a
browser request from a foreign Origin (or, on loopback, a foreign Host: DNS rebinding) is
refused, and with authentication on the principal needs one of ``admin.roles``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from only1mcp.access.roles import Roles
from only1mcp.admin.api import AdminApi
from only1mcp.admin.dashboard import Dashboard
from only1mcp.admin.stats import CallStats
from only1mcp.audit import AuditLog
from only1mcp.auth.factory import build_authenticator, build_metadata
from only1mcp.auth.middleware import AuthMiddleware
from only1mcp.auth.principal import principal_of
from only1mcp.config import Config
from only1mcp.front.origin import OriginPolicy
from only1mcp.gateway import Gateway
from only1mcp.reload import Reloader
from only1mcp.router import Router
from only1mcp.telemetry.observer import Observer
from only1mcp.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("only1mcp.admin")

#: Seconds an admin request may still run once the process stops (the event streams end at once).
ADMIN_GRACE = 1


class AdminGate:
    """Origin/Host checks for every request; the admin role when authentication is on."""

    def __init__(
        self,
        app: ASGIApp,
        origins: OriginPolicy,
        roles: frozenset[str] | None,
        audit: AuditLog,
        inheritance: Roles,
    ) -> None:
        self.app = app
        self.origins = origins
        self.roles = roles  # None: authentication is off
        self.audit = audit
        self.inheritance = inheritance  # a role that inherits an admin role is one too

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        if not self.origins.allows(headers.get(b"origin"), headers.get(b"host")):
            return await _refuse(send, "Origin or Host not allowed")
        if self.roles:
            principal = principal_of(scope)
            held = principal.roles | self.inheritance.expand(principal.roles)
            if not held & self.roles:
                self.audit.record("admin", principal, decision="deny", reason="lacks an admin role")
                wanted = ", ".join(sorted(self.roles))
                return await _refuse(send, f"the admin API needs one of the roles: {wanted}")
        await self.app(scope, receive, send)


async def _refuse(send: Send, why: str) -> None:
    body = orjson.dumps({"error": "forbidden", "detail": why})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 403, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class AdminService:
    """The admin application over one running gateway, and the server that serves it."""

    def __init__(
        self,
        config: Config,
        gateway: Gateway,
        router: Router,
        stats: CallStats | None,
        audit: AuditLog,
        scrape: ASGIApp | None = None,
        reloader: Reloader | None = None,
        observer: Observer | None = None,
    ) -> None:
        """``stats``: the call statistics (None: metrics are off); ``scrape``: the Prometheus
        ``/metrics`` app, served here behind the same guards; ``reloader``: what
        ``POST /api/config/reload`` runs (None: a gateway of its own); ``observer``: what
        measures the playground's calls."""
        self.config = config
        self.stopping = asyncio.Event()
        api = AdminApi(gateway, router, stats, audit, reloader or Reloader(gateway), observer)
        self.dashboard = Dashboard(api, self.stopping)
        routes: list[BaseRoute] = [*api.routes(), *self.dashboard.routes()]
        if scrape is not None:
            routes.append(Route("/metrics", _asgi_endpoint(scrape), methods=["GET", "HEAD"]))
        handlers = {Exception: _last_resort, HTTPException: _http_error}
        app = Starlette(routes=routes, exception_handlers=handlers)
        admin, auth = config.admin, config.admin_auth
        roles = frozenset(admin.roles) if auth.enabled else None
        origins = OriginPolicy(config.front.allowed_origins, admin.host)
        guarded: ASGIApp = AdminGate(app, origins, roles, audit, Roles(config.access))
        if auth.enabled:
            resource = auth.resource or f"http://{admin.host}:{admin.port}/"
            guarded = AuthMiddleware(
                guarded,
                build_authenticator(auth, resource, config.source),
                build_metadata(auth, resource, sorted(admin.roles)),
            )
        self.asgi = guarded
        self.server: CompanionServer | None = None

    def bind(self) -> CompanionServer | None:
        """Open the listening socket now (before serving): None, with a warning, when the
        address is taken; the MCP front serves on without its admin listener."""
        admin = self.config.admin
        try:
            sock = _listen(admin.host, admin.port)
        except OSError as exc:
            log.warning(
                "admin listener not started: cannot bind %s:%d (%s); set admin.port or "
                "admin.enabled: false",
                admin.host,
                admin.port,
                exc.strerror,
            )
            return None
        config = uvicorn.Config(
            self.asgi,
            log_level="warning",
            access_log=False,
            lifespan="on",  # the authentication middleware closes its HTTP client at the end
            interface="asgi3",
            timeout_graceful_shutdown=ADMIN_GRACE,
            proxy_headers=False,
            server_header=False,
            ws="none",  # nothing here speaks WebSocket
        )
        port = sock.getsockname()[1]
        log.info(
            "admin listener on http://%s:%d/ (dashboard, /api, /openapi.json)", admin.host, port
        )
        self.server = CompanionServer(config, sock, self.stopping)
        return self.server


class CompanionServer(uvicorn.Server):
    """A uvicorn server that runs beside the main one in its event loop: the main server owns
    the signals and tells this one to stop (:meth:`stop`)."""

    def __init__(self, config: uvicorn.Config, sock: socket.socket, stopping: asyncio.Event):
        super().__init__(config)
        self._sock = sock
        self._stopping = stopping

    async def run_beside(self) -> None:
        try:
            await self.serve([self._sock])
        except (Exception, SystemExit) as exc:  # uvicorn exits on a failed startup
            log.error("admin listener stopped: %r; the MCP endpoint serves on", exc)

    def stop(self) -> None:
        self.should_exit = True
        self._stopping.set()  # the event streams end now, not at the grace's end

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host.strip("[]"), port), family=family, reuse_port=False)
    sock.setblocking(False)
    return sock


def _asgi_endpoint(app: ASGIApp) -> ASGIApp:
    """A plain ASGI app as a route's endpoint (Starlette calls a non-function as ASGI)."""

    class Endpoint:
        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            await app(scope, receive, send)

    return Endpoint()


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (no such route: 404, wrong method: 405) in the API's JSON."""
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, exc.status_code, exc.headers)


async def _last_resort(request: Request, exc: Exception) -> Response:
    """A bug: logged here, and the client gets a JSON 500 without a traceback."""
    log.error("admin request %s %s failed", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"error": "internal error; see the server log"}, 500)
