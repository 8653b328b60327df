"""The web dashboard: one server-rendered page, a vendored script and stylesheet (no build
step, nothing from a CDN), and ``/api/events``, the SSE stream that keeps the page live."""

from __future__ import annotations

import asyncio
import html
from collections.abc import AsyncIterator, Callable
from importlib import resources
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import Route

from only1mcp.admin import views
from only1mcp.admin.api import AdminApi

#: Seconds between two snapshots on the event stream.
TICK = 1.0
STATIC = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
#: Everything the page loads comes from this listener; no inline script runs.
CSP = "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'"
PAGE_HEADERS = {"content-security-policy": CSP, "x-content-type-options": "nosniff"}


class Dashboard:
    """``/``, ``/static/*`` and ``/api/events`` over the same API object the JSON routes use."""

    def __init__(self, api: AdminApi, stopping: asyncio.Event) -> None:
        self.api = api
        self._stopping = stopping
        files = resources.files("only1mcp.admin") / "static"
        self._static = {name: (files / name).read_bytes() for name in STATIC}
        self._page = (files / "dashboard.html").read_text()

    def routes(self) -> list[Route]:
        return [
            Route("/", self._index, methods=["GET"]),
            Route("/static/{file}", self._file, methods=["GET"]),
            Route("/api/events", self._events, methods=["GET"]),
        ]

    def snapshot(self) -> dict[str, Any]:
        """What one event carries: everything the page shows."""
        gateway = self.api.gateway
        return {
            "overview": views.overview(gateway),
            "servers": views.servers(gateway),
            "sessions": views.sessions(gateway),
            "stats": self.api.snapshot_stats(),
        }

    async def _index(self, request: Request) -> Response:
        gateway = self.api.gateway
        page = self._page.replace("{{servers}}", _server_rows(views.servers(gateway)))
        page = page.replace("{{tools}}", _tool_options(views.tools(gateway)))
        return HTMLResponse(page, headers=PAGE_HEADERS)

    async def _file(self, request: Request) -> Response:
        name = request.path_params["file"]
        if name not in self._static:
            return Response(b"not found", 404, media_type="text/plain")
        return Response(self._static[name], media_type=STATIC[name], headers=PAGE_HEADERS)

    async def _events(self, request: Request) -> Response:
        return StreamingResponse(
            self._stream(request.is_disconnected),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )

    async def _stream(self, gone: Callable[[], Any]) -> AsyncIterator[bytes]:
        """A ``snapshot`` event now and every :data:`TICK` seconds, until the client leaves
        or the listener stops."""
        while not self._stopping.is_set() and not await gone():
            data = orjson.dumps(self.snapshot())
            yield b"event: snapshot\ndata: " + data + b"\n\n"
            try:
                await asyncio.wait_for(self._stopping.wait(), TICK)
            except TimeoutError:
                continue


def _server_rows(servers: list[dict[str, Any]]) -> str:
    """The servers table as it is when the page loads (the script keeps it current)."""
    rows = []
    for server in servers:
        cells = [
            server["name"],
            server["transport"],
            server["state"],
            "yes" if server["healthy"] else "no",
            server["breaker"] or "-",
            str(server["restarts"]),
            "-",
            "-",
            server["last_error"],
        ]
        tds = "".join(f"<td>{html.escape(cell)}</td>" for cell in cells)
        rows.append(f'<tr data-server="{html.escape(server["name"])}">{tds}<td></td></tr>')
    return "\n".join(rows)


def _tool_options(tools: list[dict[str, Any]]) -> str:
    return "\n".join(
        f'<option value="{html.escape(t["name"])}">{html.escape(t["name"])}</option>' for t in tools
    )
