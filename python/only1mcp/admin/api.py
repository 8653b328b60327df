"""The admin API's handlers (JSON over HTTP; the OpenAPI document in :mod:`.openapi`).

Reads are snapshots (:mod:`.views`); actions change the running gateway and each is recorded
in the audit log with the operator's principal. A handler never lets an exception reach the
wire as a traceback: bad input is a 4xx with a JSON ``error``.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from only1mcp.admin import views
from only1mcp.admin.bodies import LogLevelBody, ToolCallBody
from only1mcp.admin.openapi import document
from only1mcp.admin.stats import CallStats, metrics_off
from only1mcp.audit import AuditLog
from only1mcp.auth.principal import principal_of
from only1mcp.config import redacted
from only1mcp.errors import AccessDenied, RateLimited
from only1mcp.gateway import Gateway
from only1mcp.protocol import jsonrpc
from only1mcp.protocol.revisions import LATEST_HANDSHAKE
from only1mcp.reload import NoFile, Reloader
from only1mcp.router import Router
from only1mcp.session import Session
from only1mcp.telemetry.observer import Observer
from only1mcp.types import JsonObject

log = logging.getLogger("only1mcp.admin")

Handler = Callable[[Request], Awaitable[Response]]


class Refused(Exception):
    """A request the API answers with ``status`` and a JSON error."""

    def __init__(self, status: int, error: str, detail: str = "") -> None:
        super().__init__(error)
        self.status, self.error, self.detail = status, error, detail


def problem(status: int, error: str, detail: str = "") -> JSONResponse:
    body = {"error": error, **({"detail": detail} if detail else {})}
    return JSONResponse(body, status)


class AdminApi:
    """The ``/api`` routes over one running gateway (``stats``: None with metrics off;
    ``observer``: what measures the playground's calls as the fronts' requests are)."""

    def __init__(
        self,
        gateway: Gateway,
        router: Router,
        stats: CallStats | None,
        audit: AuditLog,
        reloader: Reloader,
        observer: Observer | None = None,
    ) -> None:
        self.gateway = gateway
        self.router = router
        self.stats = stats
        self.audit = audit
        self.reloader = reloader
        self.observer = observer
        self.openapi = orjson.dumps(document())

    def routes(self) -> list[Route]:
        get, post = ["GET"], ["POST"]
        table: list[tuple[str, Handler, list[str]]] = [
            ("/openapi.json", self._openapi, get),
            ("/api/overview", self._overview, get),
            ("/api/servers", self._servers, get),
            ("/api/servers/{name}", self._server, get),
            ("/api/servers/{name}/restart", self._restart, post),
            ("/api/servers/{name}/disable", self._disable, post),
            ("/api/servers/{name}/enable", self._enable, post),
            ("/api/sessions", self._sessions, get),
            ("/api/tools", self._tools, get),
            ("/api/tools/call", self._call, post),
            ("/api/stats", self._stats, get),
            ("/api/config", self._config, get),
            ("/api/config/reload", self._reload, post),
            ("/api/log-level", self._log_level, post),
        ]
        return [
            Route(path, _answering(handler), methods=methods) for path, handler, methods in table
        ]

    # ------------------------------------------------------------------ reads

    async def _openapi(self, request: Request) -> Response:
        return Response(self.openapi, media_type="application/json")

    async def _overview(self, request: Request) -> Response:
        return JSONResponse({**views.overview(self.gateway), "config": self.reloader.status()})

    async def _servers(self, request: Request) -> Response:
        return JSONResponse({"servers": views.servers(self.gateway)})

    async def _server(self, request: Request) -> Response:
        return JSONResponse(views.server(self.gateway, self._name(request)))

    async def _sessions(self, request: Request) -> Response:
        return JSONResponse(views.sessions(self.gateway))

    async def _tools(self, request: Request) -> Response:
        return JSONResponse({"tools": views.tools(self.gateway)})

    async def _stats(self, request: Request) -> Response:
        return JSONResponse(self.snapshot_stats())

    def snapshot_stats(self) -> dict[str, Any]:
        return metrics_off() if self.stats is None else self.stats.snapshot()

    async def _config(self, request: Request) -> Response:
        return JSONResponse(redacted(self.gateway.config))

    # ---------------------------------------------------------------- actions

    async def _restart(self, request: Request) -> Response:
        return await self._act(request, "restart", self._check_running, self.gateway.restart)

    async def _disable(self, request: Request) -> Response:
        return await self._act(request, "disable", self._check_running, self.gateway.disable)

    async def _enable(self, request: Request) -> Response:
        return await self._act(request, "enable", self._check_disabled, self.gateway.enable)

    async def _act(
        self,
        request: Request,
        action: str,
        check: Callable[[str], None],
        act: Callable[[str], Awaitable[None]],
    ) -> Response:
        """One operator action on a server: checked, audited and done under its lock."""
        name = self._name(request)
        async with self.gateway.operating(name):
            check(name)
            self._audit(request, action, name)
            await act(name)
        return JSONResponse(views.server(self.gateway, name))

    async def _call(self, request: Request) -> Response:
        body = await _body(request, ToolCallBody)
        principal = principal_of(request.scope)
        self._audit(request, "tools/call", body.name)
        session = Session(
            id=f"admin-{secrets.token_urlsafe(8)}",
            protocol_version=LATEST_HANDSHAKE,
            initialized=True,
            principal=principal,
        )
        msg: JsonObject = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": body.name, "arguments": body.arguments},
        }
        answering = self._gated(session, msg, request)
        if self.observer is not None:  # a request served, as on /mcp: it shows in the stats
            answering = self.observer.observed(msg, answering, lambda: session.protocol_version)
        answer = orjson.loads(await answering or b"{}")
        return JSONResponse({key: answer[key] for key in ("result", "error") if key in answer})

    async def _gated(self, session: Session, msg: JsonObject, request: Request) -> bytes | None:
        """The call through the access gate as the MCP fronts make it (the operator's roles
        decide, as the principal's would on /mcp): a refusal is the call's JSON-RPC error."""
        gate = self.router.gate
        if gate is None:
            return await self.router.handle(session, msg)
        client = request.scope.get("client")
        try:
            ticket = gate.admit(session.principal, msg, client, session.id)
        except (AccessDenied, RateLimited) as exc:
            return jsonrpc.error(msg["id"], exc)
        answer = await self.router.handle(session, msg)
        if ticket is not None:
            gate.done(ticket, answer)
        return answer

    async def _reload(self, request: Request) -> Response:
        """Read the config file again and apply it (see :mod:`only1mcp.reload`)."""
        self._audit(request, "reload", self.reloader.source or "-")
        try:
            outcome = await self.reloader.reload("admin")
        except NoFile as exc:
            raise Refused(409, str(exc)) from None
        if outcome.plan is None:
            why = "the config file is not valid; the running config stays"
            raise Refused(422, why, outcome.error)
        if not outcome.ok:
            why = "the reload failed while applying; see the server log"
            raise Refused(500, why, outcome.error)
        return JSONResponse(outcome.as_json())

    async def _log_level(self, request: Request) -> Response:
        body = await _body(request, LogLevelBody)
        self._audit(request, "log-level", body.level)
        logging.getLogger().setLevel(body.level.upper())
        log.warning("log level set to %s by the admin API", body.level)
        return JSONResponse({"level": body.level})

    # ---------------------------------------------------------------- helpers

    def _name(self, request: Request) -> str:
        name: str = request.path_params["name"]
        if name not in self.gateway.config.servers:
            raise Refused(404, f"no server named {name!r}")
        return name

    def _check_disabled(self, name: str) -> None:
        if name not in self.gateway.disabled:
            running = name in self.gateway.backends
            why = "it is running" if running else "enabled: false in the file"
            raise Refused(409, f"server {name!r} was not disabled by an operator", why)

    def _check_running(self, name: str) -> None:
        if name not in self.gateway.backends:
            raise Refused(
                409,
                f"server {name!r} is not running",
                views.server(self.gateway, name)["last_error"],
            )

    def _audit(self, request: Request, action: str, target: str) -> None:
        self.audit.record(
            "admin", principal_of(request.scope), method=action, name=target, decision="allow"
        )


def _answering(handler: Handler) -> Handler:
    """``handler``, with :class:`Refused` turned into its JSON answer."""

    async def answer(request: Request) -> Response:
        try:
            return await handler(request)
        except Refused as exc:
            return problem(exc.status, exc.error, exc.detail)

    return answer


M = TypeVar("M", bound=BaseModel)


async def _body(request: Request, model: type[M]) -> M:
    raw = await request.body()
    try:
        return model.model_validate_json(raw or b"null")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(step) for step in first["loc"]) or "body"
        raise Refused(422, "invalid request body", f"{where}: {first['msg']}") from None
