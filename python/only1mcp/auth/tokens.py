"""JWT bearer tokens (RFC 9068 access tokens, or any JWT the issuer signs), verified locally.

What is refused, and where: ``alg: none`` and any algorithm outside ``auth.jwt.algorithms``
(pyjwt checks the header against the list); HS/RS confusion (the config allows HS* only with a
``secret`` and the others only with public keys, and a key set never yields a symmetric key);
a bad signature; ``exp`` past or missing, ``nbf`` in the future (both with at most 60 s of
leeway); ``iss`` not the issuer; ``aud`` not this resource (RFC 8707). ``jku``/``x5u``/``jwk``
headers are never read: keys come from the config only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jwt

from only1mcp.auth.jwks import JwksKeys
from only1mcp.auth.principal import Principal
from only1mcp.config.auth import JwtConfig
from only1mcp.errors import Unauthenticated

_REQUIRED = ["exp", "iss", "aud"]
KeyType = Any  # a PEM public key, a secret, or a PyJWK


class JwtVerifier:
    """Verifies one issuer's tokens and turns their claims into a :class:`Principal`."""

    def __init__(
        self,
        config: JwtConfig,
        audience: list[str],
        static_key: KeyType | None = None,
        jwks: JwksKeys | None = None,
    ) -> None:
        assert (static_key is None) != (jwks is None)
        self.config = config
        self.audience = audience
        self._static = static_key
        self._jwks = jwks
        self._decoder = jwt.PyJWT(
            {"require": _REQUIRED, "verify_signature": True, "verify_aud": True}
        )

    async def verify(self, token: str) -> Principal:
        """The principal of a valid token; :class:`Unauthenticated` with the reason otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise Unauthenticated("malformed token") from None
        if header.get("alg") not in self.config.algorithms:
            raise Unauthenticated("token algorithm not accepted")
        key = self._static
        if self._jwks is not None:
            kid = header.get("kid")
            key = await self._jwks.key(kid if isinstance(kid, str) else None)
            if key is None:
                raise Unauthenticated("token signed by an unknown key")
        claims = self._decode(token, key)
        return principal_from_claims(claims, self.config.role_claims)

    def _decode(self, token: str, key: KeyType) -> dict[str, Any]:
        try:
            return self._decoder.decode(
                token,
                key,
                algorithms=self.config.algorithms,
                audience=self.audience,
                issuer=self.config.issuer,
                leeway=self.config.leeway,
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("token not valid yet") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"token has no {exc.claim!r} claim") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("token audience is not this resource") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("token issuer not accepted") from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated("token signature does not verify") from None
        except (jwt.InvalidTokenError, jwt.InvalidKeyError):
            raise Unauthenticated("invalid token") from None


def principal_from_claims(claims: Mapping[str, Any], role_claims: list[str]) -> Principal:
    """``<iss> <sub>`` (``client_id`` for a client-credentials token without ``sub``) and the
    roles named by ``role_claims``."""
    subject = claims.get("sub") or claims.get("client_id")
    if not isinstance(subject, str) or not subject:
        raise Unauthenticated("token names no subject")
    exp = claims.get("exp")
    return Principal(
        f"{claims.get('iss', '')} {subject}",
        roles_of(claims, role_claims),
        claims,
        float(exp) if isinstance(exp, int | float) else None,
    )


def roles_of(claims: Mapping[str, Any], role_claims: list[str]) -> frozenset[str]:
    roles: set[str] = set()
    for name in role_claims:
        value = claims.get(name)
        if isinstance(value, str):
            roles.update(value.split())
        elif isinstance(value, list):
            roles.update(item for item in value if isinstance(item, str))
    return frozenset(roles)
