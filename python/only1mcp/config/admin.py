"""The ``admin:`` section: the operator's listener (admin API, dashboard, metrics).

It is a second HTTP server in the same process, on loopback by default. It authenticates with
the ``auth:`` section (or ``admin.auth``, when the operators use other credentials than the
MCP clients), and then also asks for one of ``admin.roles``. Without authentication it may only
bind a loopback address: anyone who reaches it can restart servers and call every tool.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field

from .auth import AuthConfig
from .policies import Strict, not_bool

LOOPBACK_BINDS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps a listener on this machine."""
    return host in LOOPBACK_BINDS or host.startswith("127.")


class AdminConfig(Strict):
    """Where the admin listener binds, and who may use it."""

    enabled: bool = True
    host: str = Field(default="127.0.0.1", min_length=1)
    #: 0 picks a free port.
    port: Annotated[int, BeforeValidator(not_bool), Field(ge=0, le=65535)] = 8766
    #: With authentication on, a principal needs one of these roles (empty: any principal).
    roles: list[str] = Field(default_factory=lambda: ["admin"])
    #: Credentials for the admin listener only; default: the top-level ``auth:`` section.
    auth: AuthConfig | None = None
