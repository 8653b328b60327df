"""From a request's headers to its principal, by the modes ``auth.modes`` lists.

Credentials are read from ``Authorization: Bearer <token>`` or ``X-API-Key: <key>`` only: a
token in the query string (``?access_token=``, ``?token=``, ``?api_key=``…) is refused, since
URLs end up in logs and browser history (OAuth 2.1 §5.1.1, MCP authorization spec). A bearer
value is tried as an API key (cheap, in memory), then as a JWT when it has the shape of one,
then introspected.

A principal proved by a JWT is remembered by the token's hash until its ``exp`` (at most
:data:`TOKEN_CACHE_MAX`): the next request with the same token is one hash and one dict lookup
(introspection answers have their own cache, see :mod:`.introspection`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from urllib.parse import parse_qsl

import httpx

from only1mcp.auth.cache import TokenCache, token_hash
from only1mcp.auth.introspection import Introspector
from only1mcp.auth.keys import ApiKeys
from only1mcp.auth.principal import Principal
from only1mcp.auth.tokens import JwtVerifier
from only1mcp.errors import Unauthenticated
from only1mcp.types import Scope

_BEARER = "bearer "
# Query parameter names that carry a credential (lower case; any name containing "token" too).
_SECRET_PARAMS = frozenset({"api_key", "apikey", "key", "access_key", "auth", "authorization"})
#: Seconds a verified JWT is remembered at most (then checked again: a key the issuer has
#: since withdrawn stops working within this time, not at the token's far-off exp).
TOKEN_CACHE_MAX = 300.0


class Authenticator:
    """The configured credential checks, in order of cost."""

    def __init__(
        self,
        keys: ApiKeys | None,
        jwt: JwtVerifier | None,
        introspector: Introspector | None,
        cache_size: int,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.keys = keys
        self.jwt = jwt
        self.introspector = introspector
        self.cache = TokenCache(cache_size)
        self._client = client  # the JWKS and introspection fetches'

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    def known(self, scope: Scope, headers: Mapping[bytes, bytes]) -> Principal | None:
        """The request's principal when it needs no I/O: a bearer token verified before (one
        hash, one dict lookup) or a good API key; None sends the request to
        :meth:`authenticate`, which also says why a credential is refused. ``headers``: the
        scope's header lines by name.

        Only a request with one credential header, named once, is answered here: one that
        carries two (or a header line twice, which the mapping would hide) goes the long way,
        where it is refused, so a cached credential cannot carry a second one past the check."""
        if scope["query_string"] or len(headers) != len(scope["headers"]):
            return None
        bearer = headers.get(b"authorization")
        api_key = headers.get(b"x-api-key")
        if api_key is not None:
            if bearer is not None or self.keys is None:
                return None
            return self.keys.find(api_key.decode("latin-1").strip())
        if bearer is None or bearer[:7].lower() != b"bearer ":
            return None
        return self.cache.get(token_hash(bearer[7:].strip()))

    async def authenticate(self, scope: Scope) -> Principal:
        """The request's principal, or :class:`Unauthenticated` saying why not."""
        if scope["query_string"]:
            _refuse_query_credentials(scope["query_string"])
        bearer, api_key = _credentials(scope)
        if api_key is not None:
            return self._key(api_key)
        if bearer is None:
            raise Unauthenticated("no credentials", refused=False)
        key = token_hash(bearer)
        principal = self.cache.get(key)
        if principal is not None:
            return principal
        return await self._token(bearer, key)

    def _key(self, presented: str) -> Principal:
        principal = self.keys.find(presented) if self.keys is not None else None
        if principal is None:
            raise Unauthenticated("unknown API key")
        return principal

    async def _token(self, token: str, key: bytes) -> Principal:
        if self.keys is not None and (principal := self.keys.find(token)) is not None:
            return principal
        if self.jwt is not None and token.count(".") == 2:
            principal = await self.jwt.verify(token)
            until = time.time() + TOKEN_CACHE_MAX
            exp = principal.expires_at  # always set: the verifier requires exp
            self.cache.put(key, principal, until if exp is None else min(exp, until))
            return principal
        if self.introspector is not None:
            return await self.introspector.introspect(token)
        raise Unauthenticated("token not accepted")


def _credentials(scope: Scope) -> tuple[str | None, str | None]:
    bearer = api_key = None
    seen = 0
    for name, value in scope["headers"]:
        if name == b"authorization":
            text = value.decode("latin-1")
            if text[:7].lower() != _BEARER or not text[7:].strip():
                raise Unauthenticated("Authorization must be 'Bearer <token>'")
            bearer, seen = text[7:].strip(), seen + 1
        elif name == b"x-api-key":
            api_key, seen = value.decode("latin-1").strip(), seen + 1
    if seen > 1:
        # Picking one would let a request carry one principal's credential past a check that
        # read another's (RFC 6750 §2: a client uses one method per request).
        raise Unauthenticated("more than one credential in the request")
    return bearer, api_key


def _refuse_query_credentials(query: bytes) -> None:
    for name, _ in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        lowered = name.lower()
        if "token" in lowered or lowered in _SECRET_PARAMS:
            raise Unauthenticated("credentials are not accepted in the query string")
