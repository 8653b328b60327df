"""A backend's own bearer token, from the OAuth 2 client-credentials grant (RFC 6749 §4.4).

Only1MCP never passes a client's token on (MCP authorization spec, "token passthrough"): a
backend that wants a bearer token gets one issued to Only1MCP itself, configured under
``servers.<name>.oauth``. The token is fetched on first use and kept until shortly before it
expires; a 401 from the backend drops it so the next request fetches a new one.
"""

from __future__ import annotations

import asyncio
import time
import weakref

from only1mcp.config.auth import BackendOAuthConfig
from only1mcp.errors import BackendError

#: Seconds before expiry a token is renewed (at most this share of its lifetime).
RENEW_MARGIN, RENEW_SHARE = 30.0, 0.1
#: Lifetime assumed when the token endpoint gives no ``expires_in``.
DEFAULT_LIFETIME = 300.0
FETCH_TIMEOUT = 10.0


class ClientCredentials:
    """The ``Authorization`` value for one backend, renewed as it nears expiry."""

    @classmethod
    def of(cls, server: str, config: BackendOAuthConfig) -> ClientCredentials:
        """The credentials every instance of ``server`` with this ``config`` shares."""
        secret = config.client_secret.get_secret_value()
        key = (server, config.token_url, config.client_id, secret, config.scope, config.resource)
        held = _HELD.get(key)
        if held is None:
            held = _HELD[key] = cls(server, config)
        return held

    def __init__(self, server: str, config: BackendOAuthConfig) -> None:
        self.server = server
        self.config = config
        self._value: str | None = None
        self._renew_at = 0.0
        self._lock = asyncio.Lock()
        #: Tokens fetched so far (tests read it).
        self.fetches = 0

    @property
    def current(self) -> str | None:
        """The header value now held (None before the first fetch)."""
        return self._value

    async def authorization(self) -> str:
        """A valid ``Bearer <token>``, fetched when none is held or it is about to expire."""
        if self._value is not None and time.monotonic() < self._renew_at:
            return self._value
        async with self._lock:
            if self._value is None or time.monotonic() >= self._renew_at:
                await self._fetch()
        assert self._value is not None
        return self._value

    def drop(self) -> None:
        """Forget the token (the backend refused it)."""
        self._value = None

    async def _fetch(self) -> None:
        import httpx  # only a server with backend OAuth needs it: not loaded at every start

        form = {"grant_type": "client_credentials"}
        if self.config.scope:
            form["scope"] = self.config.scope
        if self.config.resource:
            form["resource"] = self.config.resource
        auth = httpx.BasicAuth(self.config.client_id, self.config.client_secret.get_secret_value())
        self.fetches += 1
        try:
            async with httpx.AsyncClient(trust_env=False, timeout=FETCH_TIMEOUT) as client:
                response = await client.post(self.config.token_url, data=form, auth=auth)
            response.raise_for_status()
            answer = response.json()
            token = answer["access_token"]
            lifetime = float(answer.get("expires_in") or DEFAULT_LIFETIME)
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise BackendError(
                f"server {self.server!r}: no token from {self.config.token_url} ({exc!r})"
            ) from None
        if not isinstance(token, str) or not token:
            raise BackendError(f"server {self.server!r}: the token endpoint gave no token")
        self._value = f"Bearer {token}"
        self._renew_at = time.monotonic() + lifetime - min(RENEW_MARGIN, lifetime * RENEW_SHARE)


# (server, client, token endpoint…) → the credentials held: a server's instances (its handshake
# face, its instances per capability set, leases) share one token rather than each fetching its
# own.
_HELD: weakref.WeakValueDictionary[tuple[object, ...], ClientCredentials] = (
    weakref.WeakValueDictionary()
)
