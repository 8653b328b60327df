"""``auth.modes: [introspection]``: opaque tokens checked by RFC 7662 introspection at the
provider, with a cache whose answers expire (``cache_ttl`` 1 s here), so a revoked token stops
working."""

from __future__ import annotations

import time

import httpx

from .gateway import (
    INIT,
    INTROSPECTION_CACHE_TTL,
    OTHER_RESOURCE,
    Gateway,
    assert_echoes,
    assert_unauthorized,
    bearer,
    modern_call,
    post,
)
from .idp import IdentityProvider

GATEWAY_MODES = [("introspection",)]


def test_active_opaque_token_is_accepted(http: httpx.Client, gw: Gateway) -> None:
    token = gw.token("alice-opaque")
    assert "." not in token
    assert_echoes(http, gw, token, "introspected")


def test_token_revoked_before_first_use(
    http: httpx.Client, gw: Gateway, idp: IdentityProvider
) -> None:
    token = gw.token("alice-opaque")
    idp.revoke(token, "alice-opaque")
    assert_unauthorized(post(http, gw.url, INIT, bearer(token)), gw, presented=token)


def test_token_revoked_while_in_use_stops_within_the_cache_ttl(
    http: httpx.Client, gw: Gateway, idp: IdentityProvider
) -> None:
    token = gw.token("alice-opaque")
    assert post(http, gw.url, modern_call(), bearer(token)).status_code == 200
    idp.revoke(token, "alice-opaque")
    assert idp.introspect(token) == {"active": False}
    deadline = time.monotonic() + INTROSPECTION_CACHE_TTL + 5.0
    while (resp := post(http, gw.url, modern_call(), bearer(token))).status_code == 200:
        assert time.monotonic() < deadline, "a revoked token still works past the cache TTL"
        time.sleep(0.2)
    assert_unauthorized(resp, gw, presented=token)


def test_unknown_opaque_token(http: httpx.Client, gw: Gateway) -> None:
    token = "OpaqueTokenTheProviderNeverIssued7f3a"
    assert_unauthorized(post(http, gw.url, INIT, bearer(token)), gw, presented=token)


def test_active_token_for_another_resource(
    http: httpx.Client, gw: Gateway, idp: IdentityProvider
) -> None:
    token = idp.token("alice-opaque", resource=OTHER_RESOURCE)
    assert idp.introspect(token)["active"] is True
    assert_unauthorized(post(http, gw.url, INIT, bearer(token)), gw, presented=token)


def test_jwt_the_provider_cannot_introspect(http: httpx.Client, gw: Gateway) -> None:
    # oidc-provider refuses to introspect structured tokens (400 unsupported_token_type): the
    # gateway must refuse the token, not fail.
    token = gw.token("alice")
    resp = post(http, gw.url, INIT, bearer(token))
    assert_unauthorized(resp, gw)
    assert token not in resp.text


def test_active_token_issued_for_no_resource(
    http: httpx.Client, gw: Gateway, idp: IdentityProvider
) -> None:
    # Asked for without `resource`, the token has no audience: it was not issued for this MCP
    # server, which must not accept it (MCP authorization spec, RFC 8707).
    token = idp.token("alice-opaque")
    answer = idp.introspect(token)
    assert answer["active"] is True and "aud" not in answer
    assert_unauthorized(post(http, gw.url, INIT, bearer(token)), gw, presented=token)
