"""The principal: the authenticated identity behind a request, as every layer sees it.

The authentication middleware stores it in the ASGI scope under :data:`SCOPE_KEY`; a handshake
session is bound to the principal that initialized it (``Session.principal``). Without
authentication every request is :data:`ANONYMOUS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from only1mcp.types import Scope

#: Where the middleware puts the request's principal in the ASGI scope.
SCOPE_KEY = "only1mcp.principal"
#: The request's header lines by (lower-case) name, where the middleware left them for the
#: front (absent without authentication: the front builds its own).
HEADERS_KEY = "only1mcp.headers"

_NO_CLAIMS: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, and the roles that decide what they may do.

    ``id`` is stable per identity and never a secret: ``"<iss> <sub>"`` for a token,
    ``"key:<name>"`` for an API key, ``""`` when no authentication is configured.
    """

    id: str
    #: Role names as granted (by the API key's config or the token's role/scope claims),
    #: before inheritance is expanded.
    roles: frozenset[str] = frozenset()
    #: The verified token's claims (``amr``/``acr`` for MFA policies); empty for an API key.
    claims: Mapping[str, Any] = field(default_factory=lambda: _NO_CLAIMS, compare=False)
    #: When the credential stops being valid (epoch seconds); None: it does not expire.
    expires_at: float | None = None

    @property
    def authenticated(self) -> bool:
        return bool(self.id)


#: The principal of every request when authentication is off (``auth.modes: [none]``).
ANONYMOUS = Principal("")


def principal_of(scope: Scope) -> Principal:
    """The principal the middleware found for this request (:data:`ANONYMOUS` without one)."""
    principal: Principal = scope.get(SCOPE_KEY, ANONYMOUS)
    return principal
