"""RFC 7662 introspection against a loopback endpoint: client auth, ``active: false``, the
bounded cache (size, TTL, never beyond ``exp``)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest

from only1mcp.auth.introspection import Introspector
from only1mcp.config.auth import IntrospectionConfig
from only1mcp.errors import Unauthenticated

from .idp import CLIENT_ID, CLIENT_SECRET, ISSUER, Idp

pytestmark = pytest.mark.anyio
AUD = "http://127.0.0.1:8765/mcp"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


def introspector(url: str, client: httpx.AsyncClient, **options: object) -> Introspector:
    config = IntrospectionConfig.model_validate(
        {
            "url": f"{url}/introspect",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            **options,
        }
    )
    return Introspector(config, client, ["scope"], [AUD])


def active(sub: str = "alice", **extra: object) -> dict[str, object]:
    now = int(time.time())
    return {
        "active": True,
        "iss": ISSUER,
        "sub": sub,
        "scope": "dev ops",
        "exp": now + 300,
        "aud": AUD,
        **extra,
    }


async def test_an_active_token_and_the_cache(
    idp: Idp, idp_url: str, client: httpx.AsyncClient
) -> None:
    idp.tokens["opaque-1"] = active()
    check = introspector(idp_url, client)
    principal = await check.introspect("opaque-1")
    assert principal.id == f"{ISSUER} alice" and principal.roles == {"dev", "ops"}
    assert await check.introspect("opaque-1") == principal
    assert idp.introspections == 1


async def test_inactive_unknown_and_foreign_tokens_are_refused(
    idp: Idp, idp_url: str, client: httpx.AsyncClient
) -> None:
    idp.tokens["revoked"] = {"active": False}
    idp.tokens["elsewhere"] = active(aud="http://other.test/mcp")
    idp.tokens["for-no-resource"] = {k: v for k, v in active().items() if k != "aud"}
    idp.tokens["stale"] = active(exp=int(time.time()) - 5)
    check = introspector(idp_url, client)
    for token, why in [
        ("revoked", "not active"),
        ("never-issued", "not active"),
        ("elsewhere", "audience"),
        ("for-no-resource", "audience"),
        ("stale", "expired"),
    ]:
        with pytest.raises(Unauthenticated, match=why):
            await check.introspect(token)
    assert len(check.cache) == 0


async def test_wrong_client_credentials_fail_closed(
    idp: Idp, idp_url: str, client: httpx.AsyncClient
) -> None:
    idp.tokens["opaque-1"] = active()
    config = IntrospectionConfig(
        url=f"{idp_url}/introspect", client_id=CLIENT_ID, client_secret="wrong"
    )
    with pytest.raises(Unauthenticated, match="introspection failed"):
        await Introspector(config, client, ["scope"], [AUD]).introspect("opaque-1")


async def test_the_cache_never_outlives_ttl_or_exp(
    idp: Idp, idp_url: str, client: httpx.AsyncClient
) -> None:
    idp.tokens["short-ttl"] = active()
    idp.tokens["short-exp"] = active(exp=time.time() + 0.3)
    check = introspector(idp_url, client, cache_ttl=0.3)
    await check.introspect("short-ttl")
    await check.introspect("short-exp")
    assert idp.introspections == 2
    time.sleep(0.35)
    idp.tokens["short-ttl"] = {"active": False}  # revoked meanwhile: seen once the TTL is over
    with pytest.raises(Unauthenticated):
        await check.introspect("short-ttl")
    with pytest.raises(Unauthenticated):
        await check.introspect("short-exp")
    assert idp.introspections == 4


async def test_the_cache_is_bounded(idp: Idp, idp_url: str, client: httpx.AsyncClient) -> None:
    for n in range(5):
        idp.tokens[f"t{n}"] = active(sub=f"user{n}")
    check = introspector(idp_url, client, cache_size=3)
    for n in range(5):
        await check.introspect(f"t{n}")
    assert len(check.cache) == 3
    await check.introspect("t4")  # the newest stayed
    assert idp.introspections == 5
    await check.introspect("t0")  # the oldest went
    assert idp.introspections == 6
