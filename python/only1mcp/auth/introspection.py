"""RFC 7662 token introspection: the authorization server says whether a token is active.

The request is a form POST with HTTP Basic client authentication (RFC 7662 §2.1). ``active:
false``, or any answer that is not an active token, is a 401. Answers for active tokens are
cached (by token hash) for ``cache_ttl`` seconds, never beyond the token's ``exp``, in a cache
of at most ``cache_size`` entries; a refused token is not cached (it is cheap to refuse again
and caching it would let a flood of junk tokens push out the good ones).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx

from only1mcp.auth.cache import TokenCache, token_hash
from only1mcp.auth.principal import Principal
from only1mcp.auth.tokens import principal_from_claims
from only1mcp.config.auth import IntrospectionConfig
from only1mcp.errors import Unauthenticated

log = logging.getLogger("only1mcp.auth")


class Introspector:
    """Asks the introspection endpoint about opaque (or any) tokens."""

    def __init__(
        self,
        config: IntrospectionConfig,
        client: httpx.AsyncClient,
        role_claims: list[str],
        audience: list[str],
    ) -> None:
        self.config = config
        self._client = client
        self._role_claims = role_claims
        self._audience = audience
        self._auth = httpx.BasicAuth(config.client_id, config.client_secret.get_secret_value())
        self.cache = TokenCache(config.cache_size)
        #: Requests made to the endpoint (tests read it to check the cache).
        self.requests = 0

    async def introspect(self, token: str) -> Principal:
        key = token_hash(token)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        answer = await self._ask(token)
        if answer.get("active") is not True:
            raise Unauthenticated("token is not active")
        self._check_audience(answer)
        principal = principal_from_claims(answer, self._role_claims)
        exp = principal.expires_at
        if exp is not None and exp <= time.time():
            raise Unauthenticated("token expired")
        until = time.time() + self.config.cache_ttl
        self.cache.put(key, principal, until if exp is None else min(until, exp))
        return principal

    async def _ask(self, token: str) -> dict[str, Any]:
        self.requests += 1
        try:
            response = await self._client.post(
                self.config.url,
                data={"token": token, "token_type_hint": "access_token"},
                auth=self._auth,
                headers={"Accept": "application/json"},
                timeout=self.config.timeout,
            )
            response.raise_for_status()
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("token introspection at %s failed: %s", self.config.url, exc)
            raise Unauthenticated("token introspection failed", refused=False) from None
        if not isinstance(answer, dict):
            raise Unauthenticated("token is not active")
        return answer

    def _check_audience(self, answer: dict[str, Any]) -> None:
        # RFC 8707 and the MCP authorization spec: a token must have been issued for this
        # resource. One for another resource, or for none (no ``aud``: a provider issues that
        # when the client named no resource), is not for us.
        if not self._audience:
            return
        aud = answer.get("aud")
        auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if not set(auds) & set(self._audience):
            raise Unauthenticated("token audience is not this resource")
