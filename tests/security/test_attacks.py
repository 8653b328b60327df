"""The attack list of issue 13 against ``only1mcp start`` with ``auth.modes: [jwt]`` on a real
OpenID provider: every forged, tampered, misdirected or misplaced credential is refused.

Tokens are either issued by the provider itself (client credentials, RFC 8707 ``resource``) or
signed with the provider's own private key with one claim changed, so each test differs from a
valid token in exactly the property it attacks.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from e2e.rawwire import encode, frame_ok, raw_http
from jwt.algorithms import HMACAlgorithm, RSAAlgorithm
from jwt.utils import base64url_encode

from .gateway import (
    HANDSHAKE,
    INIT,
    OTHER_RESOURCE,
    Gateway,
    assert_echoes,
    assert_unauthorized,
    bearer,
    modern_call,
    post,
)
from .idp import IdentityProvider

#: Every attack against local JWT verification, then with introspection as a fallback too (a
#: token refused locally must not be let in by the other mode).
GATEWAY_MODES = [("jwt",), ("jwt", "introspection")]

ACCEPT_LINE = b"Accept: application/json, text/event-stream\r\n"


def init_with(http: httpx.Client, gw: Gateway, token: str) -> httpx.Response:
    return post(http, gw.url, INIT, bearer(token))


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> bytes:
    """The signing input ``b64(header).b64(claims)`` of a hand-assembled token."""
    parts = (json.dumps(header).encode(), json.dumps(claims).encode())
    return b".".join(base64url_encode(part) for part in parts)


# --------------------------------------------------------------------------- the valid baseline


def test_valid_token_opens_both_eras(http: httpx.Client, gw: Gateway) -> None:
    token = gw.token("alice")
    resp = init_with(http, gw, token)
    assert resp.status_code == 200, resp.text
    assert resp.json()["result"]["protocolVersion"] == HANDSHAKE
    assert_echoes(http, gw, token, "authorized")


def test_expiry_within_the_configured_leeway_is_accepted(
    http: httpx.Client, gw: Gateway, idp: IdentityProvider
) -> None:
    now = int(time.time())
    token = idp.sign(idp.claims("alice", gw.resource, exp=now - 5, iat=now - 605))
    assert init_with(http, gw, token).status_code == 200


def test_protected_resource_metadata_names_the_provider(
    http: httpx.Client, gw: Gateway, idp: IdentityProvider
) -> None:
    for url in (gw.metadata_url, f"{gw.base}/.well-known/oauth-protected-resource"):
        resp = http.get(url)
        assert resp.status_code == 200, (url, resp.text)
        doc = resp.json()
        assert doc["resource"] == gw.resource
        assert doc["authorization_servers"] == [idp.issuer]
        assert doc["bearer_methods_supported"] == ["header"]
    assert http.get(f"{gw.base}/healthz").status_code == 200


# --------------------------------------------------------------------------- no or broken tokens


@pytest.mark.parametrize("era", ["handshake", "2026"])
def test_no_token(http: httpx.Client, gw: Gateway, era: str) -> None:
    body = INIT if era == "handshake" else modern_call()
    assert_unauthorized(post(http, gw.url, body), gw)


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer not-a-jwt-at-all-7f3a",
        "Bearer eyJhbGciOiJSUzI1NiJ9.bm90LWpzb24tN2YzYQ.c2ln",
        "Bearer a.b.c.d.e.f7f3a",
        "Bearer",
        "Basic YWxpY2U6YWxpY2Utc2VjcmV0",
        "Token not-a-jwt-7f3a",
    ],
)
def test_malformed_credentials(http: httpx.Client, gw: Gateway, authorization: str) -> None:
    resp = post(http, gw.url, INIT, {"Authorization": authorization})
    assert_unauthorized(resp, gw)


@pytest.mark.parametrize(
    "header",
    [b"Authorization: Bearer \r\n", b"Authorization: Bearer\tx7f3a\r\n", b"Authorization:\r\n"],
)
def test_malformed_headers_on_the_wire(gw: Gateway, header: bytes) -> None:
    resp = raw_http(
        gw.agg.port, b"Content-Type: application/json\r\n" + ACCEPT_LINE + header, encode(INIT)
    )
    assert resp.status == 401, resp
    assert frame_ok(resp.body)["error"]["code"] == -32000


@pytest.mark.parametrize("second", ["Authorization: Bearer {bob}", "X-API-Key: {bob}"])
def test_two_credentials(gw: Gateway, second: str) -> None:
    """Authorization is not a list header, and a request carries one credential: another
    principal's next to a valid one is refused, not resolved by picking one."""
    alice, bob = gw.token("alice"), gw.token("bob")
    head = b"Content-Type: application/json\r\n" + ACCEPT_LINE
    head += f"Authorization: Bearer {alice}\r\n{second.format(bob=bob)}\r\n".encode()
    resp = raw_http(gw.agg.port, head, encode(INIT))
    assert resp.status in (400, 401), resp


def test_alg_none(http: httpx.Client, gw: Gateway, idp: IdentityProvider) -> None:
    claims = idp.claims("alice", gw.resource)
    for alg in ("none", "None", "NONE"):
        token = unsigned({"alg": alg, "typ": "at+jwt", "kid": "k1"}, claims).decode() + "."
        assert_unauthorized(init_with(http, gw, token), gw, presented=token)


def _public_key_forms(idp: IdentityProvider) -> list[bytes]:
    """Every form of the provider's public key an HS256 verifier might be fooled into using as
    its secret: PEM (SubjectPublicKeyInfo and PKCS#1), DER, and the published JWK."""
    public = idp.keys["k1"].public_key()
    pem = serialization.Encoding.PEM
    return [
        public.public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo),
        public.public_bytes(pem, serialization.PublicFormat.PKCS1),
        public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1),
        json.dumps(next(k for k in idp.jwks()["keys"] if k["kid"] == "k1")).encode(),
    ]


def test_hs256_signed_with_the_rsa_public_key(
    http: httpx.Client, gw: Gateway, idp: IdentityProvider
) -> None:
    claims = idp.claims("alice", gw.resource)
    hmac = HMACAlgorithm(HMACAlgorithm.SHA256)
    for secret in _public_key_forms(idp):
        signing_input = unsigned({"alg": "HS256", "typ": "at+jwt", "kid": "k1"}, claims)
        token = (signing_input + b"." + base64url_encode(hmac.sign(signing_input, secret))).decode()
        assert_unauthorized(init_with(http, gw, token), gw, presented=token)


def test_bad_signature(http: httpx.Client, gw: Gateway, idp: IdentityProvider) -> None:
    header, payload, signature = gw.token("bob").split(".")
    # The payload of a more privileged token under bob's signature.
    alice_payload = gw.token("alice").split(".")[1]
    flipped = signature[:-6] + ("AAAAAA" if signature[-6:] != "AAAAAA" else "BBBBBB")
    for token in (f"{header}.{alice_payload}.{signature}", f"{header}.{payload}.{flipped}"):
        assert_unauthorized(init_with(http, gw, token), gw, presented=token)


def test_signed_by_a_key_the_provider_does_not_have(
    http: httpx.Client, gw: Gateway, idp: IdentityProvider
) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = idp.claims("alice", gw.resource)
    for kid in ("k1", "k2", "unknown-kid", None):
        headers = {"typ": "at+jwt"} if kid is None else {"typ": "at+jwt", "kid": kid}
        token = jwt.encode(claims, stranger, algorithm="RS256", headers=headers)
        assert_unauthorized(init_with(http, gw, token), gw, presented=token)


# --------------------------------------------------------------------------- claims


def _claim_attacks(now: int) -> dict[str, dict[str, Any]]:
    """One changed claim per attack (``None`` removes the claim)."""
    return {
        "expired beyond the 60 s skew": {"exp": now - 120, "iat": now - 720},
        "nbf in the future": {"nbf": now + 300},
        "missing exp": {"exp": None},
        "wrong iss": {"iss": "http://127.0.0.1:1"},
        "iss with a trailing slash": {"iss": "{issuer}/"},
        "aud of another resource": {"aud": OTHER_RESOURCE},
        "aud missing": {"aud": None},
        "aud naming the resource's origin only": {"aud": "{origin}"},
    }


@pytest.mark.parametrize("attack", list(_claim_attacks(0)))
def test_claim_attack(http: httpx.Client, gw: Gateway, idp: IdentityProvider, attack: str) -> None:
    changes = {
        claim: value.format(issuer=idp.issuer, origin=gw.base) if isinstance(value, str) else value
        for claim, value in _claim_attacks(int(time.time()))[attack].items()
    }
    token = idp.sign(idp.claims("alice", gw.resource, **changes))
    assert_unauthorized(init_with(http, gw, token), gw, presented=token)


def test_token_the_provider_issued_for_another_resource(
    http: httpx.Client, gw: Gateway, idp: IdentityProvider
) -> None:
    token = idp.token("alice", resource=OTHER_RESOURCE)
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == OTHER_RESOURCE
    assert_unauthorized(init_with(http, gw, token), gw, presented=token)


# --------------------------------------------------------------------------- where the token is


def test_token_in_the_query_string(http: httpx.Client, gw: Gateway) -> None:
    token = gw.token("alice")
    for name in ("access_token", "token"):
        resp = post(http, gw.url, INIT, params={name: token})
        assert_unauthorized(resp, gw)
        # Next to a valid header too: a token that was put in a URL is refused, not ignored.
        both = post(http, gw.url, INIT, bearer(token), params={"access_token": token})
        assert both.status_code in (400, 401), both.text


class _KeyHost:
    """An attacker's web server on loopback serving a JWKS and a certificate URL; it counts
    the requests it gets (the gateway must make none)."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        body = json.dumps(jwks).encode()
        self.hits: list[str] = []
        hits = self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_jku_and_x5u_headers_are_not_followed(
    http: httpx.Client, gw: Gateway, idp: IdentityProvider
) -> None:
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(attacker.public_key()))
    host = _KeyHost({"keys": [{**jwk, "kid": "attacker", "use": "sig", "alg": "RS256"}]})
    try:
        claims = idp.claims("alice", gw.resource)
        for kid in ("attacker", "k1"):
            for header in ("jku", "x5u"):
                headers = {"typ": "at+jwt", "kid": kid, header: f"{host.url}/{header}.json"}
                token = jwt.encode(claims, attacker, algorithm="RS256", headers=headers)
                assert_unauthorized(init_with(http, gw, token), gw, presented=token)
        assert host.hits == []
    finally:
        host.close()


# --------------------------------------------------------------------------- sessions


def test_session_of_another_principal_is_not_found(http: httpx.Client, gw: Gateway) -> None:
    alice, bob = gw.token("alice"), gw.token("bob")
    opened = init_with(http, gw, alice)
    assert opened.status_code == 200
    session = {
        "Mcp-Session-Id": opened.headers["mcp-session-id"],
        "MCP-Protocol-Version": HANDSHAKE,
    }
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert post(http, gw.url, initialized, {**bearer(alice), **session}).status_code == 202
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    stolen = post(http, gw.url, listing, {**bearer(bob), **session})
    assert stolen.status_code == 404, stolen.text
    assert "fx__" not in stolen.text
    # Without any token the session id alone opens nothing either.
    assert_unauthorized(post(http, gw.url, listing, session), gw)
    # Its owner still has it.
    mine = post(http, gw.url, listing, {**bearer(alice), **session})
    assert mine.status_code == 200
    assert "fx__pid" in {tool["name"] for tool in mine.json()["result"]["tools"]}


def test_call_outside_the_grants_is_forbidden(http: httpx.Client, gw: Gateway) -> None:
    token = gw.token("bob")
    allowed = post(http, gw.url, modern_call("fx__echo", "viewer"), bearer(token))
    assert allowed.status_code == 200, allowed.text
    call = modern_call("fx__pid")
    call["params"]["arguments"] = {}
    refused = post(http, gw.url, call, bearer(token))
    assert refused.status_code == 403, refused.text
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    assert refused.json()["error"]["code"] == -32003
    assert refused.json()["id"] == 1


def test_legacy_sse_session_of_another_principal_is_not_found(
    http: httpx.Client, gw: Gateway
) -> None:
    alice, bob = gw.token("alice"), gw.token("bob")
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    sse = {**bearer(alice), "Accept": "text/event-stream"}
    with http.stream("GET", f"{gw.base}/sse", headers=sse) as stream:
        assert stream.status_code == 200
        lines = stream.iter_lines()  # kept: a closed iterator would end the stream (and session)
        endpoint = next(line for line in lines if line.startswith("data:"))
        url = f"{gw.base}{endpoint.removeprefix('data:').strip()}"
        assert "/messages?session_id=" in url
        stolen = http.post(url, json=ping, headers=bearer(bob))
        assert stolen.status_code == 404, stolen.text
        assert_unauthorized(http.post(url, json=ping), gw)
        assert http.post(url, json=ping, headers=bearer(alice)).status_code == 202
