"""CORS for browser-based MCP clients on other origins (``front.cors``).

How it relates to the DNS-rebinding check (:mod:`only1mcp.front.origin`): that check decides
whether a request carrying an ``Origin`` is served at all; an origin listed in
``front.cors.allow_origins`` is served (it joins ``front.allowed_origins``) *and* told so by
the CORS headers, so the page's script may read the answers. An origin only in
``allowed_origins`` is served, but a browser keeps the answers from the page.

A preflight (``OPTIONS`` with ``Access-Control-Request-Method``) is answered here, before any
authentication: a browser sends it without credentials. Every response to an allowed origin
carries ``Access-Control-Allow-Origin`` and exposes the headers an MCP client reads
(``Mcp-Session-Id``, ``Mcp-Protocol-Version``, ``WWW-Authenticate``, ``Retry-After``). A request
without ``Origin`` (every non-browser client) passes through untouched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from only1mcp.config.schema import CorsConfig
from only1mcp.types import Message, Receive, Scope, Send

ALLOW_METHODS = b"GET, POST, DELETE, OPTIONS"
ALLOW_HEADERS = (
    b"Authorization, Content-Type, Accept, Mcp-Session-Id, Mcp-Protocol-Version, "
    b"Last-Event-ID, Mcp-Method, Mcp-Name"
)
EXPOSE_HEADERS = b"Mcp-Session-Id, Mcp-Protocol-Version, WWW-Authenticate, Retry-After"

App = Callable[[Scope, Receive, Send], Awaitable[None]]


class Cors:
    def __init__(self, config: CorsConfig) -> None:
        self.any_origin = "*" in config.allow_origins
        self.origins = frozenset(o.rstrip("/").encode() for o in config.allow_origins)
        common = [(b"vary", b"Origin")]
        if config.allow_credentials:
            common.append((b"access-control-allow-credentials", b"true"))
        self._response = [*common, (b"access-control-expose-headers", EXPOSE_HEADERS)]
        self._preflight = [
            *common,
            (b"access-control-allow-methods", ALLOW_METHODS),
            (b"access-control-allow-headers", ALLOW_HEADERS),
            (b"access-control-max-age", b"%d" % config.max_age),
            (b"content-length", b"0"),
        ]

    def allows(self, origin: bytes) -> bool:
        return self.any_origin or origin.rstrip(b"/") in self.origins

    def serve(self, scope: Scope, receive: Receive, send: Send, app: App) -> Awaitable[None]:
        """``app`` answers ``scope``, with CORS headers when a browser on an allowed origin
        asked; a preflight is answered here."""
        origin = preflight = None
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value
            elif name == b"access-control-request-method":
                preflight = value
        if origin is None:
            return app(scope, receive, send)
        if scope["method"] == "OPTIONS" and preflight is not None:
            return self._answer_preflight(send, origin)
        if not self.allows(origin):
            return app(scope, receive, send)  # the Origin check refuses it, or a browser will
        return app(scope, receive, self._decorating(send, origin))

    async def _answer_preflight(self, send: Send, origin: bytes) -> None:
        if not self.allows(origin):
            await _send_empty(send, 403, [(b"vary", b"Origin"), (b"content-length", b"0")])
            return
        headers = [(b"access-control-allow-origin", origin), *self._preflight]
        await _send_empty(send, 204, headers)

    def _decorating(self, send: Send, origin: bytes) -> Send:
        extra = [(b"access-control-allow-origin", origin), *self._response]

        async def decorated(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        return decorated


async def _send_empty(send: Send, status: int, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
