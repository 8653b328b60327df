"""The identity provider fixture itself: discovery, JWT access tokens that verify with its key
set, introspection, revocation and key rotation."""

from __future__ import annotations

import jwt
import pytest

from .idp import CLIENTS, IdentityProvider, IdpError

RESOURCE = "http://127.0.0.1:8765/mcp"


def verify(idp: IdentityProvider, token: str, audience: str = RESOURCE) -> dict[str, object]:
    """``token``'s claims, checked with the provider's published key set."""
    keys = jwt.PyJWKClient(idp.jwks_uri, cache_jwk_set=False)
    key = keys.get_signing_key_from_jwt(token)
    claims: dict[str, object] = jwt.decode(
        token, key, algorithms=["RS256"], audience=audience, issuer=idp.issuer
    )
    return claims


def test_discovery_names_the_endpoints(idp: IdentityProvider) -> None:
    doc = idp.discovery()
    assert doc["issuer"] == idp.issuer
    assert doc["issuer"].startswith("http://127.0.0.1:")
    assert doc["jwks_uri"] == idp.jwks_uri
    assert doc["token_endpoint"] == idp.token_endpoint
    assert doc["introspection_endpoint"] == idp.introspection_endpoint
    assert doc["revocation_endpoint"] == idp.revocation_endpoint
    assert "client_credentials" in doc["grant_types_supported"]
    assert {"tools.read", "git.write"} <= set(doc["scopes_supported"])


def test_jwt_access_token_verifies_with_the_jwks(idp: IdentityProvider) -> None:
    token = idp.token("alice", resource=RESOURCE)
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "typ": "at+jwt", "kid": "k1"}
    claims = verify(idp, token)
    assert claims["aud"] == RESOURCE
    assert claims["sub"] == "alice"
    assert claims["scope"] == "tools.read git.write"
    assert claims["roles"] == ["dev"]
    assert claims["amr"] == ["pwd", "mfa"]
    assert isinstance(claims["exp"], int)


def test_token_for_one_resource_does_not_verify_for_another(idp: IdentityProvider) -> None:
    token = idp.token("bob", resource="http://127.0.0.1:1/other/mcp")
    with pytest.raises(jwt.InvalidAudienceError):
        verify(idp, token)


def test_scope_outside_the_client_s_grant_is_refused(idp: IdentityProvider) -> None:
    resp = idp.token_response("bob", scope="git.write", resource=RESOURCE)
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_scope"


def test_resource_outside_loopback_is_refused(idp: IdentityProvider) -> None:
    resp = idp.token_response("alice", scope="tools.read", resource="https://evil.example/mcp")
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_target"


def test_introspection_then_revocation(idp: IdentityProvider) -> None:
    token = idp.token("alice-opaque", resource=RESOURCE)
    assert token.count(".") == 0  # opaque: only the provider can tell what it means
    answer = idp.introspect(token)
    assert answer["active"] is True
    assert answer["aud"] == RESOURCE
    assert answer["sub"] == "alice-opaque"
    assert answer["roles"] == ["dev"]
    idp.revoke(token, "alice-opaque")
    assert idp.introspect(token) == {"active": False}


def test_introspection_needs_client_credentials(idp: IdentityProvider) -> None:
    token = idp.token("alice-opaque", resource=RESOURCE)
    resp = idp.http.post(idp.introspection_endpoint, data={"token": token})
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_request"  # no client authentication
    assert "active" not in resp.json()


def test_forged_claims_are_signed_by_the_provider_key(idp: IdentityProvider) -> None:
    token = idp.sign(idp.claims("bob", RESOURCE, scope="git.write"))
    assert verify(idp, token)["scope"] == "git.write"


def test_rotation_publishes_and_signs_with_the_second_key(
    rotating_idp: IdentityProvider,
) -> None:
    idp = rotating_idp
    assert idp.state() == {"signing_kid": "k1", "published": ["k1"], "jwks_fetches": 0}
    assert [key["kid"] for key in idp.jwks()["keys"]] == ["k1"]
    before = idp.token("alice", resource=RESOURCE)
    assert idp.rotate() == "k2"
    assert [key["kid"] for key in idp.jwks()["keys"]] == ["k1", "k2"]
    after = idp.token("alice", resource=RESOURCE)
    assert jwt.get_unverified_header(after)["kid"] == "k2"
    assert verify(idp, after)["sub"] == "alice"
    assert verify(idp, before)["sub"] == "alice"  # the old key stays published
    assert all("d" not in key for key in idp.jwks()["keys"])  # never a private part
    assert idp.state()["jwks_fetches"] == 5


def test_unknown_client_is_refused(idp: IdentityProvider) -> None:
    assert "mallory" not in CLIENTS
    resp = idp.http.post(
        idp.token_endpoint,
        data={"grant_type": "client_credentials", "resource": RESOURCE},
        auth=("mallory", "guess"),
    )
    assert resp.status_code == 401
    assert resp.json()["error"] == "invalid_client"


def test_revocation_by_another_client_is_refused(idp: IdentityProvider) -> None:
    token = idp.token("alice-opaque", resource=RESOURCE)
    with pytest.raises(IdpError, match="not authorized"):
        idp.revoke(token, "bob")
    assert idp.introspect(token)["active"] is True
