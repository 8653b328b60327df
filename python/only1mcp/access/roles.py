"""Roles: the names each grants (glob patterns per kind), the roles each inherits.

Grants are patterns over exposed names as clients see them (``git__*``,
``time__get_current_time``, ``time+*`` for resource URIs and URI templates). A role's own
policy governs its own grants only: a role that inherits another holds that role as it is,
with that role's policy.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass

from only1mcp.config.access import AccessConfig, MfaConfig, RoleConfig

from .policy import Policy

# List kind (the catalog's) → the grant list of a role that covers it: templates are URIs too.
GRANT_KIND = {"tools": "tools", "prompts": "prompts", "resources": "resources"}
GRANT_KIND["templates"] = "resources"
_CACHE_LIMIT = 10_000  # names asked about (clients choose them): bounded


def compile_globs(patterns: Iterable[str]) -> re.Pattern[str] | None:
    """One regular expression for any of ``patterns`` (fnmatch syntax, case-sensitive); None
    for no pattern (it matches nothing)."""
    parts = [fnmatch.translate(pattern) for pattern in patterns]
    return re.compile("|".join(parts)) if parts else None


@dataclass(frozen=True, slots=True, eq=False)
class Role:
    name: str
    #: grant kind → what its own grants match (None: nothing of that kind).
    grants: dict[str, re.Pattern[str] | None]
    #: When its grants apply (None: always).
    policy: Policy | None

    @classmethod
    def build(cls, name: str, config: RoleConfig, mfa: MfaConfig) -> Role:
        grants = {kind: compile_globs(getattr(config, kind)) for kind in set(GRANT_KIND.values())}
        policy = Policy(config.policy, mfa) if config.policy is not None else None
        return cls(name, grants, policy)

    def grants_name(self, kind: str, name: str) -> bool:
        pattern = self.grants[GRANT_KIND[kind]]
        return pattern is not None and pattern.match(name) is not None


class Roles:
    """Every configured role, with what each holds through inheritance."""

    def __init__(self, config: AccessConfig) -> None:
        self.by_name = {
            name: Role.build(name, role, config.mfa) for name, role in config.roles.items()
        }
        self._closure = {name: self._inherited(config, name) for name in config.roles}
        self._scopes: dict[tuple[str, str], tuple[str, ...]] = {}

    @staticmethod
    def _inherited(config: AccessConfig, name: str) -> frozenset[str]:
        held = {name}
        todo = [name]
        while todo:  # the config has no cycle: its validator saw to it
            for parent in config.roles[todo.pop()].inherits:
                if parent not in held:
                    held.add(parent)
                    todo.append(parent)
        return frozenset(held)

    def expand(self, names: Iterable[str]) -> frozenset[str]:
        """The roles ``names`` hold, inherited ones included; names of no role (a token's
        ``openid`` scope, say) are dropped."""
        held: set[str] = set()
        for name in names:
            held |= self._closure.get(name, frozenset())
        return frozenset(held)

    def scopes_for(self, kind: str, name: str) -> tuple[str, ...]:
        """Every role that would allow ``name`` (by its own grants or inherited ones), for a
        refusal to name: any one of them as a token scope would do."""
        key = (kind, name)
        found = self._scopes.get(key)
        if found is None:
            granting = {role for role in self.by_name.values() if role.grants_name(kind, name)}
            found = tuple(
                holder
                for holder, held in self._closure.items()
                if any(self.by_name[role] in granting for role in held)
            )
            if len(self._scopes) >= _CACHE_LIMIT:
                self._scopes.clear()
            self._scopes[key] = found
        return found
