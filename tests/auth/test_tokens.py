"""Every attack on JWT validation, with real signed tokens (keys generated per session), against
a static public key and against a JWKS served on a loopback port."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import jwt
import pytest
from pydantic import ValidationError

from only1mcp.auth import jwks
from only1mcp.auth.jwks import JwksKeys
from only1mcp.auth.tokens import JwtVerifier
from only1mcp.config.auth import JwtConfig
from only1mcp.errors import Unauthenticated

from .idp import ISSUER, Idp, SigningKey, b64, claims

pytestmark = pytest.mark.anyio
AUD = "http://127.0.0.1:8765/mcp"
SECRET = "a-shared-secret-of-at-least-32-characters"


def static(key: SigningKey, **options: Any) -> JwtVerifier:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    config = JwtConfig(issuer=ISSUER, key_file="unused.pem", algorithms=[key.alg], **options)
    return JwtVerifier(config, [AUD], static_key=load_pem_public_key(key.public_pem()))


@contextlib.asynccontextmanager
async def from_jwks(url: str, algorithms: list[str] | None = None) -> AsyncIterator[JwtVerifier]:
    config = JwtConfig(
        issuer=ISSUER, jwks_url=f"{url}/jwks", algorithms=algorithms or ["RS256", "ES256"]
    )
    async with httpx.AsyncClient() as client:
        yield JwtVerifier(config, [AUD], jwks=JwksKeys(config.jwks_url or "", client))


async def refused(verifier: JwtVerifier, token: str, why: str) -> None:
    with pytest.raises(Unauthenticated) as info:
        await verifier.verify(token)
    assert why in info.value.why


async def test_a_valid_token_gives_its_principal(rsa_key: SigningKey) -> None:
    token = rsa_key.sign(claims(AUD, roles=["dev"], scope="tools.read git.write"))
    principal = await static(rsa_key).verify(token)
    assert principal.id == f"{ISSUER} alice"
    assert principal.roles == {"dev", "tools.read", "git.write"}
    assert principal.expires_at is not None and principal.expires_at > time.time()


async def test_alg_none_is_refused(rsa_key: SigningKey) -> None:
    header = b64(b'{"alg":"none","typ":"JWT"}')
    body = b64(json.dumps(claims(AUD)).encode())
    await refused(static(rsa_key), f"{header}.{body}.", "algorithm not accepted")


async def test_hs256_signed_with_the_public_key_is_refused(rsa_key: SigningKey) -> None:
    # The classic confusion: the attacker HMACs with the public PEM, hoping the verifier uses
    # the RSA public key as an HMAC secret.
    import hashlib
    import hmac

    header = b64(b'{"alg":"HS256","typ":"JWT","kid":"rsa-1"}')
    body = b64(json.dumps(claims(AUD)).encode())
    mac = hmac.new(rsa_key.public_pem(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    forged = f"{header}.{body}.{b64(mac)}"
    await refused(static(rsa_key), forged, "algorithm not accepted")


async def test_rs256_token_is_refused_by_an_hs256_verifier(rsa_key: SigningKey) -> None:
    config = JwtConfig(issuer=ISSUER, secret=SECRET, algorithms=["HS256"])
    verifier = JwtVerifier(config, [AUD], static_key=SECRET.encode())
    await refused(verifier, rsa_key.sign(claims(AUD)), "algorithm not accepted")
    good = jwt.encode(claims(AUD), SECRET, "HS256")
    assert (await verifier.verify(good)).id == f"{ISSUER} alice"


async def test_a_token_signed_by_another_key_is_refused(
    rsa_key: SigningKey, rsa_key_2: SigningKey
) -> None:
    forged = SigningKey("rsa-1", "RS256", rsa_key_2.private).sign(claims(AUD))
    await refused(static(rsa_key), forged, "signature does not verify")


async def test_a_tampered_payload_is_refused(rsa_key: SigningKey) -> None:
    header, _, signature = rsa_key.sign(claims(AUD)).split(".")
    payload = b64(json.dumps(claims(AUD, roles=["admin"])).encode())
    await refused(static(rsa_key), f"{header}.{payload}.{signature}", "signature")


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"exp": int(time.time()) - 120}, "expired"),
        ({"nbf": int(time.time()) + 3600}, "not valid yet"),
        ({"iss": "http://evil.test"}, "issuer"),
        ({"aud": "http://other.test/mcp"}, "audience"),
        ({"aud": ["http://other.test/mcp", "http://third.test"]}, "audience"),
    ],
    ids=["expired", "nbf-future", "wrong-iss", "wrong-aud", "wrong-aud-list"],
)
async def test_bad_claims_are_refused(
    rsa_key: SigningKey, change: dict[str, Any], why: str
) -> None:
    await refused(static(rsa_key), rsa_key.sign(claims(AUD, **change)), why)


@pytest.mark.parametrize("claim", ["exp", "aud", "iss"])
async def test_a_missing_claim_is_refused(rsa_key: SigningKey, claim: str) -> None:
    token_claims = claims(AUD)
    del token_claims[claim]
    await refused(static(rsa_key), rsa_key.sign(token_claims), f"no '{claim}'")


async def test_leeway_tolerates_a_little_skew_only(rsa_key: SigningKey) -> None:
    verifier = static(rsa_key, leeway=30)
    recent = rsa_key.sign(claims(AUD, exp=int(time.time()) - 10))
    assert (await verifier.verify(recent)).id
    await refused(verifier, rsa_key.sign(claims(AUD, exp=int(time.time()) - 45)), "expired")
    with pytest.raises(ValidationError, match="less than or equal to 60"):
        JwtConfig(issuer=ISSUER, key_file="k.pem", leeway=61)


async def test_jku_and_x5u_headers_are_never_followed(
    idp: Idp, idp_url: str, rsa_key: SigningKey, rsa_key_2: SigningKey
) -> None:
    # Signed by a key the issuer never published, pointing at a key set that holds it: the
    # verifier must look only at its configured JWKS (the attacker's URL is this same server's
    # /jwks, with the attacker's key added; its fetch count shows whether it was followed).
    attacker = SigningKey("attacker", "RS256", rsa_key_2.private)
    token = attacker.sign(claims(AUD), jku=f"{idp_url}/jwks", x5u=f"{idp_url}/jwks")
    async with from_jwks(idp_url) as verifier:
        assert (await verifier.verify(rsa_key.sign(claims(AUD)))).id
        fetches = idp.jwks_fetches
        idp.keys.append(attacker)  # only if fetched would it be found
        await refused(verifier, token, "unknown key")
    assert idp.jwks_fetches == fetches, "a refused kid within 30 s must not refetch"


async def test_an_embedded_jwk_header_is_not_trusted(
    rsa_key: SigningKey, rsa_key_2: SigningKey
) -> None:
    evil = SigningKey("rsa-1", "RS256", rsa_key_2.private)
    token = evil.sign(claims(AUD), jwk=evil.jwk())
    await refused(static(rsa_key), token, "signature")


async def test_jwks_keys_verify_rsa_and_ec_tokens(
    idp: Idp, idp_url: str, rsa_key: SigningKey, ec_key: SigningKey
) -> None:
    async with from_jwks(idp_url) as verifier:
        assert (await verifier.verify(rsa_key.sign(claims(AUD)))).id
        assert (await verifier.verify(ec_key.sign(claims(AUD, sub="bob")))).id.endswith("bob")
    assert idp.jwks_fetches == 1


async def test_an_ec_key_cannot_verify_a_token_claiming_rs256(
    idp: Idp, idp_url: str, ec_key: SigningKey, rsa_key: SigningKey
) -> None:
    # A token that names the EC key's kid but says RS256, signed with an RSA key.
    token = SigningKey("ec-1", "RS256", rsa_key.private).sign(claims(AUD))
    async with from_jwks(idp_url) as verifier:
        await refused(verifier, token, "")


async def test_rotation_and_the_unknown_kid_refresh_limit(
    idp: Idp,
    idp_url: str,
    rsa_key: SigningKey,
    rsa_key_2: SigningKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(jwks, "REFRESH_INTERVAL", 0.5)
    async with from_jwks(idp_url) as verifier:
        assert (await verifier.verify(rsa_key.sign(claims(AUD)))).id
        assert idp.jwks_fetches == 1
        # A flood of unknown kids right after a fetch: no refetch.
        for n in range(20):
            junk = SigningKey(f"junk-{n}", "RS256", rsa_key_2.private).sign(claims(AUD))
            await refused(verifier, junk, "unknown key")
        assert idp.jwks_fetches == 1
        # The issuer rotates in rsa-2 and drops rsa-1: found by the next allowed refetch.
        idp.keys[:] = [rsa_key_2]
        await anyio.sleep(0.55)
        assert (await verifier.verify(rsa_key_2.sign(claims(AUD, sub="rotated")))).id
        assert idp.jwks_fetches == 2
        # Known now: no fetch at all; the key rotated out no longer verifies.
        assert (await verifier.verify(rsa_key_2.sign(claims(AUD)))).id
        await refused(verifier, rsa_key.sign(claims(AUD)), "unknown key")
        assert idp.jwks_fetches == 2


async def test_the_real_interval_is_thirty_seconds() -> None:
    assert jwks.REFRESH_INTERVAL == 30.0


async def test_a_symmetric_key_in_the_jwks_is_ignored(
    idp: Idp, idp_url: str, rsa_key: SigningKey
) -> None:
    class OctKey(SigningKey):
        def jwk(self) -> dict[str, Any]:
            return {"kty": "oct", "kid": self.kid, "k": b64(SECRET.encode()), "alg": "HS256"}

    idp.keys.append(OctKey("oct", "HS256", None))
    token = jwt.encode(claims(AUD), SECRET, "HS256", headers={"kid": "oct"})
    async with from_jwks(idp_url, ["RS256"]) as verifier:
        await refused(verifier, token, "algorithm not accepted")
        jwks_keys = verifier._jwks
        assert jwks_keys is not None
        assert await jwks_keys.key("oct") is None


async def test_a_withdrawn_key_stops_verifying_once_the_set_is_old(
    idp: Idp,
    idp_url: str,
    rsa_key: SigningKey,
    rsa_key_2: SigningKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(jwks, "REFRESH_INTERVAL", 0.2)
    monkeypatch.setattr(jwks, "MAX_AGE", 0.3)
    async with from_jwks(idp_url) as verifier:
        assert (await verifier.verify(rsa_key.sign(claims(AUD)))).id
        idp.keys[:] = [rsa_key_2]  # rsa-1 withdrawn; no token names an unknown kid
        assert (await verifier.verify(rsa_key.sign(claims(AUD)))).id  # the set is fresh
        await anyio.sleep(0.35)
        await refused(verifier, rsa_key.sign(claims(AUD)), "unknown key")
    assert idp.jwks_fetches == 2
