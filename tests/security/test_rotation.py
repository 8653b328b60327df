"""Signing-key rotation at the provider: the gateway's cached key set meets an unknown ``kid``,
refetches the provider's JWKS (at most once per 30 s however many unknown kids arrive) and then
accepts tokens signed by the new key, while tokens of the old key stay valid."""

from __future__ import annotations

import time

import httpx
import jwt

from .gateway import INIT, Gateway, bearer, post
from .idp import IdentityProvider

REFRESH_INTERVAL = 30.0
"""Least seconds between two fetches of the key set (issue 13)."""
GATEWAY_IDP = "rotating_idp"


def test_token_of_a_rotated_in_key_is_accepted(gw: Gateway, rotating_idp: IdentityProvider) -> None:
    idp = rotating_idp
    with httpx.Client(timeout=15.0) as http:
        old = gw.token("alice")
        assert post(http, gw.url, INIT, bearer(old)).status_code == 200
        first_fetch = time.monotonic()
        fetches = idp.state()["jwks_fetches"]
        assert fetches >= 1

        assert idp.rotate() == "k2"
        new = gw.token("alice")
        assert jwt.get_unverified_header(new)["kid"] == "k2"
        accepted_after = None
        deadline = first_fetch + REFRESH_INTERVAL + 10.0
        while accepted_after is None:
            status = post(http, gw.url, INIT, bearer(new)).status_code
            if status == 200:
                accepted_after = time.monotonic() - first_fetch
            else:
                assert status == 401
                assert time.monotonic() < deadline, "a token of the rotated-in key is refused"
                time.sleep(0.5)
        # Every refused attempt above met an unknown kid: the provider saw one refetch at most
        # per interval, not one per token.
        refetches = idp.state()["jwks_fetches"] - fetches
        assert 1 <= refetches <= 1 + int(accepted_after // REFRESH_INTERVAL), refetches
        assert post(http, gw.url, INIT, bearer(old)).status_code == 200
