"""A backend's own client-credentials token: fetched once, renewed before expiry, dropped on a
401, and a failing token endpoint is a backend error (never a request without a token)."""

from __future__ import annotations

import time

import pytest

from only1mcp.backends import credentials
from only1mcp.backends.credentials import ClientCredentials
from only1mcp.config.auth import BackendOAuthConfig
from only1mcp.errors import BackendError

from .idp import BACKEND_CLIENT, BACKEND_SECRET, Idp

pytestmark = pytest.mark.anyio


def oauth(url: str, secret: str = BACKEND_SECRET) -> ClientCredentials:
    config = BackendOAuthConfig(
        token_url=f"{url}/token", client_id=BACKEND_CLIENT, client_secret=secret, scope="mcp"
    )
    return ClientCredentials("remote", config)


async def test_the_token_is_cached_until_shortly_before_expiry(
    idp: Idp, idp_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    idp.issued.clear()
    creds = oauth(idp_url)
    first = await creds.authorization()
    assert first == f"Bearer {idp.issued[0]}"
    assert await creds.authorization() == first
    assert creds.fetches == 1
    idp.token_lifetime = 1  # renewed 0.1 s before its end
    creds.drop()
    short = await creds.authorization()
    assert short != first and creds.fetches == 2
    time.sleep(0.95)
    assert await creds.authorization() != short
    assert creds.fetches == 3
    assert credentials.RENEW_MARGIN == 30.0


async def test_a_refused_client_is_a_backend_error(idp: Idp, idp_url: str) -> None:
    creds = oauth(idp_url, secret="wrong-secret-0123456789")
    with pytest.raises(BackendError, match="no token from"):
        await creds.authorization()
    assert creds.current is None
