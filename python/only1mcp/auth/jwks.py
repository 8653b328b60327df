"""A JSON Web Key Set fetched from the issuer's ``jwks_uri``, cached.

The set is fetched again once it is :data:`MAX_AGE` old. A token whose ``kid`` is not in the
cached set triggers a refetch, at most once per
:data:`REFRESH_INTERVAL` seconds (so a flood of made-up ``kid`` values costs the issuer one
request per interval, not one per token); a key the issuer rotates in is found by that refetch.
Keys come only from the configured URL: a token's ``jku``/``x5u`` headers are never followed.
"""

from __future__ import annotations

import asyncio
import logging
import time

import httpx
import jwt

log = logging.getLogger("only1mcp.auth")

#: Least seconds between two fetches of the key set.
REFRESH_INTERVAL = 30.0
#: The key set is fetched again when a token comes after it is this old, so a key the issuer
#: withdraws stops verifying even if no unknown ``kid`` ever shows up.
MAX_AGE = 3600.0
FETCH_TIMEOUT = 5.0
MAX_JWKS_BYTES = 1 << 20


class JwksKeys:
    """The keys of one JWKS URL, by ``kid``."""

    def __init__(self, url: str, client: httpx.AsyncClient) -> None:
        self.url = url
        self._client = client
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = -REFRESH_INTERVAL  # monotonic; never yet
        self._lock = asyncio.Lock()
        #: Fetches done (tests read it to check the rate limit).
        self.fetches = 0

    async def key(self, kid: str | None) -> jwt.PyJWK | None:
        """The key named ``kid`` (the only key when the token names none), refetching the set
        when it is unknown and the last fetch is old enough."""
        found = self._pick(kid)
        stale = time.monotonic() - self._fetched_at >= MAX_AGE
        if (found is None or stale) and self._may_refresh():
            async with self._lock:
                if self._may_refresh():  # another task may have refreshed meanwhile
                    await self._refresh()
            found = self._pick(kid)
        return found

    def _pick(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None:  # a token naming no key: only a set of one key says which
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    def _may_refresh(self) -> bool:
        return time.monotonic() - self._fetched_at >= REFRESH_INTERVAL

    async def _refresh(self) -> None:
        self._fetched_at = time.monotonic()
        self.fetches += 1
        try:
            response = await self._client.get(self.url, timeout=FETCH_TIMEOUT)
            response.raise_for_status()
            if len(response.content) > MAX_JWKS_BYTES:
                raise ValueError("key set too large")
            keys = jwt.PyJWKSet.from_json(response.text).keys
        except (httpx.HTTPError, ValueError, jwt.PyJWKSetError) as exc:
            # Keep the keys we have: an issuer's hiccup must not lock everyone out.
            log.warning("cannot fetch the JWKS at %s: %s", self.url, exc)
            return
        usable = [key for key in keys if _verifies(key)]
        self._keys = {key.key_id or "": key for key in usable}


def _verifies(key: jwt.PyJWK) -> bool:
    # A symmetric ("oct") key in a public key set would let a token signed HS256 with the
    # *public* material pass: only asymmetric signing keys are kept.
    return key.key_type != "oct" and key.public_key_use in (None, "sig")
