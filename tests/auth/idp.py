"""A small loopback authorization server and MCP backend for the authentication tests.

Real HTTP on a real socket (uvicorn in a thread, see ``backends.conftest.ThreadServer``):

* ``GET /jwks``: the current key set (tests rotate it), counting fetches;
* ``POST /introspect``: RFC 7662 over the tokens a test registered, Basic client auth;
* ``POST /token``: the client-credentials grant, for a backend's own OAuth client;
* ``POST /mcp``: a minimal Streamable HTTP MCP server (handshake era) whose one tool,
  ``whoami``, answers with the ``Authorization`` header the request carried, and which records
  every request's headers.

Keys are generated here with ``cryptography``; tokens are signed with pyjwt.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ISSUER = "http://issuer.test"
CLIENT_ID, CLIENT_SECRET = "only1mcp", "introspection-secret-0123456789"
BACKEND_CLIENT, BACKEND_SECRET = "gateway", "backend-secret-0123456789"


@dataclass
class SigningKey:
    """A private key, its ``kid`` and algorithm."""

    kid: str
    alg: str
    private: Any

    @classmethod
    def rsa(cls, kid: str) -> SigningKey:
        return cls(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def ec(cls, kid: str) -> SigningKey:
        return cls(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))

    def jwk(self) -> dict[str, Any]:
        algorithm = RSAAlgorithm if self.alg.startswith("RS") else ECAlgorithm
        data: dict[str, Any] = algorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**data, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def public_pem(self) -> bytes:
        return bytes(
            self.private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        )

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        return jwt.encode(claims, self.private, self.alg, headers={"kid": self.kid, **header})


def claims(audience: str, **extra: Any) -> dict[str, Any]:
    """Valid access-token claims for ``audience``, expiring in 5 minutes."""
    now = int(time.time())
    base = {"iss": ISSUER, "sub": "alice", "aud": audience, "iat": now, "exp": now + 300}
    return {**base, **extra}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Idp:
    """The state behind the app: keys published, tokens known, what was asked."""

    keys: list[SigningKey] = field(default_factory=list)
    jwks_fetches: int = 0
    #: Opaque token → its introspection answer.
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    introspections: int = 0
    issued: list[str] = field(default_factory=list)
    token_lifetime: int = 3600
    #: Headers of every request the MCP backend got (and its path, as ``:path``).
    mcp_headers: list[dict[str, str]] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/jwks", self._jwks),
                Route("/introspect", self._introspect, methods=["POST"]),
                Route("/token", self._token, methods=["POST"]),
                Route("/mcp", self._mcp, methods=["POST", "GET", "DELETE"]),
                Route("/plain/mcp", self._mcp, methods=["POST", "GET", "DELETE"]),
            ]
        )

    async def _jwks(self, request: Request) -> JSONResponse:
        self.jwks_fetches += 1
        return JSONResponse({"keys": [key.jwk() for key in self.keys]})

    def _client_ok(self, request: Request, client: str, secret: str) -> bool:
        expected = "Basic " + base64.b64encode(f"{client}:{secret}".encode()).decode()
        return request.headers.get("authorization") == expected

    async def _introspect(self, request: Request) -> JSONResponse:
        if not self._client_ok(request, CLIENT_ID, CLIENT_SECRET):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        self.introspections += 1
        form = await request.form()
        answer = self.tokens.get(str(form.get("token")), {"active": False})
        return JSONResponse(answer)

    async def _token(self, request: Request) -> JSONResponse:
        form = await request.form()
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        secret_ok = self._client_ok(request, BACKEND_CLIENT, BACKEND_SECRET) or (
            form.get("client_id") == BACKEND_CLIENT and form.get("client_secret") == BACKEND_SECRET
        )
        if not secret_ok:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        token = f"backend-{uuid.uuid4().hex}"
        self.issued.append(token)
        return JSONResponse(
            {"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime}
        )

    async def _mcp(self, request: Request) -> Response:
        self.mcp_headers.append({**request.headers, ":path": request.url.path})
        if request.method == "GET":
            return Response(status_code=405)
        if request.method == "DELETE":
            return Response(status_code=200)
        msg = json.loads(await request.body())
        if "id" not in msg:
            return Response(status_code=202)
        result = _MCP_ANSWERS.get(msg["method"], {})
        if msg["method"] == "tools/call":
            who = request.headers.get("authorization", "")
            result = {"content": [{"type": "text", "text": who}]}
        headers = {"mcp-session-id": "s1"} if msg["method"] == "initialize" else {}
        body = {"jsonrpc": "2.0", "id": msg["id"], "result": result}
        return JSONResponse(body, headers=headers)


_MCP_ANSWERS: dict[str, dict[str, Any]] = {
    "initialize": {
        "protocolVersion": "2025-06-18",
        "capabilities": {"tools": {}},
        "serverInfo": {"name": "whoami", "version": "1"},
    },
    "tools/list": {
        "tools": [{"name": "whoami", "inputSchema": {"type": "object", "properties": {}}}]
    },
    "ping": {},
}
