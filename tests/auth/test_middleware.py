"""The middleware over a stand-in app: 401s and their challenge, the metadata documents, the
open paths, query-string tokens, API key headers, and the verified-token cache."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import orjson
import pytest

from only1mcp.auth import authenticator
from only1mcp.auth.factory import build_authenticator, build_metadata
from only1mcp.auth.middleware import AuthMiddleware
from only1mcp.auth.principal import principal_of
from only1mcp.auth.tokens import JwtVerifier
from only1mcp.config.auth import AuthConfig, hash_key
from only1mcp.types import Receive, Scope, Send

from .idp import ISSUER, SigningKey, claims

pytestmark = pytest.mark.anyio
RESOURCE = "http://127.0.0.1:8765/mcp"
SECRET = "a-shared-secret-of-at-least-32-characters"
ALICE_KEY = "alice-key-0123456789abcdef"
META = "http://127.0.0.1:8765/.well-known/oauth-protected-resource/mcp"


async def whoami(scope: Scope, receive: Receive, send: Send) -> None:
    """The app behind: answers with the principal it was given."""
    principal = principal_of(scope)
    body = orjson.dumps({"id": principal.id, "roles": sorted(principal.roles)})
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def middleware(refusals: list[tuple[str, str]] | None = None) -> AuthMiddleware:
    config = AuthConfig.model_validate(
        {
            "modes": ["api_key", "jwt"],
            "authorization_servers": [ISSUER],
            "api_keys": [{"name": "alice", "hash": hash_key(ALICE_KEY), "roles": ["dev"]}],
            "jwt": {"issuer": ISSUER, "secret": SECRET, "algorithms": ["HS256"]},
        }
    )
    return AuthMiddleware(
        whoami,
        build_authenticator(config, RESOURCE, ""),
        build_metadata(config, RESOURCE, ["dev", "viewer"]),
        (lambda why, client: refusals.append((why, client))) if refusals is not None else None,
    )


@pytest.fixture
async def guarded() -> AsyncIterator[tuple[AuthMiddleware, httpx.AsyncClient]]:
    app = middleware()
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8765") as http:
        yield app, http
    await app.authenticator.aclose()


def token(**extra: Any) -> str:
    return jwt.encode(claims(RESOURCE, roles=["viewer"], **extra), SECRET, "HS256")


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


async def test_no_credentials_is_a_401_with_the_challenge(guarded: Any) -> None:
    _, http = guarded
    response = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert response.status_code == 401
    assert response.json() == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32000, "message": "Unauthorized: no credentials"},
    }
    assert response.headers["www-authenticate"] == (
        f'Bearer resource_metadata="{META}", scope="dev viewer"'
    )


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        (bearer("not-a-key-and-not-a-jwt"), "token not accepted"),
        (bearer(token(exp=int(time.time()) - 120)), "token expired"),
        (bearer(token(aud="http://other.test/mcp")), "audience"),
        ({"X-API-Key": "wrong-key-0123456789"}, "unknown API key"),
        ({"Authorization": "Basic YWxpY2U6cHc="}, "Bearer"),
    ],
)
async def test_a_refused_credential_says_invalid_token(
    guarded: Any, headers: dict[str, str], why: str
) -> None:
    _, http = guarded
    response = await http.post("/mcp", headers=headers, content=b"{}")
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer error="invalid_token", error_description=')
    assert f'resource_metadata="{META}"' in challenge
    assert why in response.json()["error"]["message"]


async def test_a_valid_token_or_key_reaches_the_app_with_its_principal(guarded: Any) -> None:
    _, http = guarded
    by_jwt = await http.post("/mcp", headers=bearer(token()))
    assert by_jwt.json() == {"id": f"{ISSUER} alice", "roles": ["viewer"]}
    for headers in (bearer(ALICE_KEY), {"X-API-Key": ALICE_KEY}):
        by_key = await http.get("/sse", headers=headers)
        assert by_key.json() == {"id": "key:alice", "roles": ["dev"]}


async def test_a_known_credential_carries_no_second_one(guarded: Any) -> None:
    """Once a token is cached (or a key known), the fast path must still refuse a request
    that carries a second credential beside it, whatever that one is."""
    _, http = guarded
    good = token()
    assert (await http.post("/mcp", headers=bearer(good))).status_code == 200  # now cached
    twice = [("authorization", f"Bearer {good}"), ("authorization", "Bearer forged")]
    both = [("x-api-key", ALICE_KEY), ("authorization", f"Bearer {good}")]
    for headers in (twice, both, [("x-api-key", ALICE_KEY), ("x-api-key", "other")]):
        response = await http.post("/mcp", headers=headers, content=b"{}")
        assert response.status_code == 401, headers
        assert "more than one credential" in response.json()["error"]["message"]


@pytest.mark.parametrize("param", ["access_token", "token", "id_token", "api_key", "AccessToken"])
async def test_credentials_in_the_query_string_are_refused(guarded: Any, param: str) -> None:
    _, http = guarded
    response = await http.post(f"/mcp?{param}={ALICE_KEY}", headers=bearer(token()))
    assert response.status_code == 401
    assert "query string" in response.json()["error"]["message"]
    ok = await http.post("/messages?session_id=abc", headers=bearer(token()))
    assert ok.status_code == 200


@pytest.mark.parametrize(
    "path", ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"]
)
async def test_the_metadata_documents(guarded: Any, path: str) -> None:
    _, http = guarded
    response = await http.get(path)
    assert response.status_code == 200
    assert response.json() == {
        "resource": RESOURCE,
        "authorization_servers": [ISSUER],
        "bearer_methods_supported": ["header"],
        "scopes_supported": ["dev", "viewer"],
    }
    assert (await http.post(path)).status_code == 405


async def test_healthz_and_preflights_are_open(guarded: Any) -> None:
    _, http = guarded
    assert (await http.get("/healthz")).json() == {"id": "", "roles": []}
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    assert (await http.options("/mcp", headers=preflight)).status_code == 200
    assert (await http.options("/mcp")).status_code == 401


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens whose signature was checked."""
    seen: list[str] = []
    real = JwtVerifier._decode

    def counting(self: JwtVerifier, value: str, key: Any) -> dict[str, Any]:
        seen.append(value)
        return real(self, value, key)

    monkeypatch.setattr(JwtVerifier, "_decode", counting)
    return seen


async def test_a_verified_token_is_not_verified_again(guarded: Any, decoded: list[str]) -> None:
    app, http = guarded
    value = token()
    for _ in range(3):
        assert (await http.post("/mcp", headers=bearer(value))).status_code == 200
    assert len(decoded) == 1
    assert len(app.authenticator.cache) == 1


async def test_a_cached_token_is_verified_again_after_its_exp(
    guarded: Any, decoded: list[str]
) -> None:
    _, http = guarded
    value = token(exp=time.time() + 0.4)
    assert (await http.post("/mcp", headers=bearer(value))).status_code == 200
    time.sleep(0.5)
    # Past exp (inside the leeway, so still accepted): the cache entry is gone, the signature
    # and claims are checked again.
    assert (await http.post("/mcp", headers=bearer(value))).status_code == 200
    assert len(decoded) == 2


async def test_a_long_lived_token_is_checked_again_after_the_cache_limit(
    guarded: Any, decoded: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(authenticator, "TOKEN_CACHE_MAX", 0.2)
    _, http = guarded
    value = token()  # exp in 5 minutes
    assert (await http.post("/mcp", headers=bearer(value))).status_code == 200
    assert (await http.post("/mcp", headers=bearer(value))).status_code == 200
    assert len(decoded) == 1
    time.sleep(0.25)
    assert (await http.post("/mcp", headers=bearer(value))).status_code == 200
    assert len(decoded) == 2


async def test_refusals_reach_the_audit_hook() -> None:
    refusals: list[tuple[str, str]] = []
    app = middleware(refusals)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app, client=("10.1.2.3", 5555)), base_url="http://x"
    ) as http:
        await http.post("/mcp", headers={"X-API-Key": "wrong-key-0123456789"})
    await app.authenticator.aclose()
    assert refusals == [("unknown API key", "10.1.2.3")]


async def test_the_ec_and_rsa_keys_of_a_session(rsa_key: SigningKey) -> None:
    # The HS256 middleware refuses an RS256 token outright (no key confusion possible).
    app = middleware()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://x") as http:
        response = await http.post("/mcp", headers=bearer(rsa_key.sign(claims(RESOURCE))))
    await app.authenticator.aclose()
    assert response.status_code == 401
    assert "algorithm" in response.json()["error"]["message"]
