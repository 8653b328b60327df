"""The ASGI middleware in front of the HTTP fronts: no principal, no request.

Every HTTP request but the protected resource metadata (served here, GET, no credentials) and
``/healthz`` (liveness, says nothing secret) must authenticate; its principal goes into the
scope under :data:`~only1mcp.auth.principal.SCOPE_KEY`. Otherwise the answer is a 401 with a
JSON-RPC error body and ``WWW-Authenticate: Bearer resource_metadata="…", scope="…"`` (plus
``error="invalid_token"`` when a credential was presented and refused), as the MCP
authorization spec asks of a resource server. A CORS preflight passes through: it carries no
credentials by design and the front answers it.

Installed by the composition root only when ``auth.modes`` is not ``[none]``, so an open
loopback gateway pays nothing for it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import orjson

from only1mcp.auth.challenge import bearer_challenge
from only1mcp.auth.metadata import ResourceMetadata
from only1mcp.auth.principal import HEADERS_KEY, SCOPE_KEY
from only1mcp.errors import Unauthenticated
from only1mcp.types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    # Built only when authentication is on (it loads httpx, PyJWT and cryptography).
    from only1mcp.auth.authenticator import Authenticator

#: Told of each refusal: (the reason, the client's address) — the audit log's hook.
OnRefused = Callable[[str, str], None]

OPEN_PATHS = frozenset({"/healthz"})
_JSON = (b"content-type", b"application/json")


class AuthMiddleware:
    """``(app, authenticator, metadata)``: authenticates every request bound for ``app``."""

    def __init__(
        self,
        app: ASGIApp,
        authenticator: Authenticator,
        metadata: ResourceMetadata,
        on_refused: OnRefused | None = None,
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.metadata = metadata
        self._on_refused = on_refused
        self._metadata_paths = metadata.paths
        self._document = metadata.document()

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine itself (as HttpApp): a request whose principal is known at once goes
        # straight to the app's awaitable, with no frame of ours around its whole life.
        if scope["type"] == "http":
            path = scope["path"]
            if path in self._metadata_paths:
                return self._serve_metadata(scope, send)
            if path not in OPEN_PATHS:
                # Built once here for the front too (HEADERS_KEY): a C call, where a scan of
                # the header lines for the credential was a Python loop.
                headers = scope[HEADERS_KEY] = dict(scope["headers"])
                principal = self.authenticator.known(scope, headers)
                if principal is None:
                    return self._authenticate(scope, receive, send)
                scope[SCOPE_KEY] = principal
        elif scope["type"] == "lifespan":
            return self._lifespan(scope, receive, send)
        return self.app(scope, receive, send)

    async def _authenticate(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _is_preflight(scope):
            return await self.app(scope, receive, send)
        try:
            principal = await self.authenticator.authenticate(scope)
        except Unauthenticated as exc:
            return await self._refuse(scope, send, exc)
        scope[SCOPE_KEY] = principal
        await self.app(scope, receive, send)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:  # the server has stopped
            await self.authenticator.aclose()

    async def _refuse(self, scope: Scope, send: Send, exc: Unauthenticated) -> None:
        if self._on_refused is not None:
            client = scope.get("client")
            self._on_refused(exc.why, client[0] if client else "")
        challenge = bearer_challenge(
            self.metadata.url,
            self.metadata.scopes,
            "invalid_token" if exc.refused else None,
            exc.why if exc.refused else None,
        )
        body = orjson.dumps({"jsonrpc": "2.0", "id": None, "error": exc.to_error()})
        headers = [_JSON, (b"www-authenticate", challenge)]
        await _respond(send, 401, headers, body)

    async def _serve_metadata(self, scope: Scope, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await _respond(send, 405, [(b"allow", b"GET, HEAD")], b"")
            return
        headers = [
            _JSON,
            # Public by nature; a browser client on another origin must be able to read it.
            (b"access-control-allow-origin", b"*"),
            (b"cache-control", b"max-age=300"),
        ]
        body = b"" if scope["method"] == "HEAD" else self._document
        await _respond(send, 200, headers, body, len(self._document))


def _is_preflight(scope: Scope) -> bool:
    if scope["method"] != "OPTIONS":
        return False
    return any(name == b"access-control-request-method" for name, _ in scope["headers"])


async def _respond(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes, length: int = -1
) -> None:
    size = len(body) if length < 0 else length
    headers = [*headers, (b"content-length", str(size).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
