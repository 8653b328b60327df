"""The ``access:`` section: roles, grants, policies and rate limits (authorization).

Without authentication every request is anonymous and everything is allowed, as before. Once
``auth.modes`` is not ``[none]``, a principal may see and call only what one of its roles
grants (deny by default)::

    access:
      roles:
        viewer: {tools: ["time__*"], resources: ["time+*"]}
        dev:
          inherits: [viewer]
          tools: ["git__*"]
          policy: {hours: "Mon-Fri 08:00-20:00", cidrs: [10.0.0.0/8], mfa: true}
      tools:
        "git__commit": {policy: {mfa: true}, rate: {per_second: 2, burst: 4}}
      rate_limits:
        per_principal: {per_second: 100, burst: 100}
"""

from __future__ import annotations

import datetime
import ipaddress
import math
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from .policies import KeyPath, Strict, not_bool, problem

# An OAuth scope token (RFC 6749 §3.3): roles are granted by token scopes, so a role name must
# be one.
ROLE_RE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,64}")
# RFC 8176 authentication methods that are a second factor (or say several were used).
MFA_AMR = ["mfa", "mca", "otp", "hwk", "sms", "tel", "sc", "swk"]
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW_RE = re.compile(
    r"(?:(?P<days>[A-Za-z]{3}(?:-[A-Za-z]{3})?(?:,[A-Za-z]{3}(?:-[A-Za-z]{3})?)*)\s+)?"
    r"(?P<start>\d\d:\d\d)-(?P<end>\d\d:\d\d)"
)


@dataclass(frozen=True, slots=True)
class Window:
    """A daily UTC time window, on some weekdays (0 = Monday); ``end`` before ``start``
    wraps past midnight (the night belongs to the day it started on)."""

    days: frozenset[int]
    start: datetime.time
    end: datetime.time

    def holds(self, now: datetime.datetime) -> bool:
        at, day = now.time(), now.weekday()
        if self.start <= self.end:
            return day in self.days and self.start <= at < self.end
        if at >= self.start:
            return day in self.days
        return (day - 1) % 7 in self.days and at < self.end


def window(text: str) -> Window:
    """``"08:00-20:00"`` or ``"Mon-Fri 08:00-20:00"`` or ``"Sat,Sun 22:00-02:00"`` (UTC)."""
    match = _WINDOW_RE.fullmatch(text.strip())
    if match is None:
        raise problem(f"{text!r}: expected HH:MM-HH:MM (UTC), optionally after days: Mon-Fri")
    start, end = (_clock(match[part], text) for part in ("start", "end"))
    if start == end:
        raise problem(f"{text!r}: an empty window (start and end are the same)")
    return Window(_days(match["days"], text), start, end)


def _clock(value: str, text: str) -> datetime.time:
    try:
        return datetime.time.fromisoformat(value)
    except ValueError:
        raise problem(f"{text!r}: {value} is not a time of day") from None


def _days(spec: str | None, text: str) -> frozenset[int]:
    if spec is None:
        return frozenset(range(7))
    days: set[int] = set()
    for part in spec.lower().split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise problem(f"{text!r}: days are Mon Tue Wed Thu Fri Sat Sun")
        start, stop = DAYS.index(first), DAYS.index(last or first)
        days.update(day % 7 for day in range(start, start + (stop - start) % 7 + 1))
    return frozenset(days)


def _check_window(text: str) -> str:
    window(text)
    return text


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _check_network(text: str) -> str:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise problem(f"{text!r} is not an IP network (e.g. 10.0.0.0/8, ::1/128)") from None
    return text


def _check_role(name: str) -> str:
    if not ROLE_RE.fullmatch(name):
        raise problem(
            f"role {name!r}: 1-64 visible ASCII characters, no space, '\"' or '\\' "
            "(role names are OAuth scopes)"
        )
    return name


def _check_pattern(pattern: str) -> str:
    if not pattern:
        raise problem("an empty pattern matches nothing; use '*' for everything")
    return pattern


RoleName = Annotated[str, AfterValidator(_check_role)]
Pattern = Annotated[str, AfterValidator(_check_pattern)]
Hours = Annotated[str, AfterValidator(_check_window)]
Network = Annotated[str, AfterValidator(_check_network)]


class PolicyConfig(Strict):
    """Conditions on the request: all that are given must hold."""

    #: UTC windows; any one of them will do.
    hours: Annotated[list[Hours], BeforeValidator(_one_or_many)] = Field(default_factory=list)
    #: Source networks (the client's address); any one of them will do.
    cidrs: list[Network] = Field(default_factory=list)
    #: The token must show a second factor (``amr``/``acr``, see ``access.mfa``).
    mfa: bool = False


class RateConfig(Strict):
    """A token bucket: ``per_second`` tokens flow in, at most ``burst`` are kept."""

    per_second: Annotated[float, BeforeValidator(not_bool), Field(gt=0, allow_inf_nan=False)]
    #: Calls allowed at once after a quiet spell (default: one second's worth, at least 1).
    burst: Annotated[int, BeforeValidator(not_bool), Field(ge=1)] | None = None

    @property
    def capacity(self) -> int:
        return self.burst if self.burst is not None else max(1, math.ceil(self.per_second))


class RoleConfig(Strict):
    """What a role may see and call: glob patterns over exposed names (``*``, ``?``, ``[…]``)."""

    #: Roles whose grants (and their own policies) this role has too.
    inherits: list[RoleName] = Field(default_factory=list)
    #: Exposed tool names, e.g. ``git__*``, ``time__get_current_time``.
    tools: list[Pattern] = Field(default_factory=list)
    prompts: list[Pattern] = Field(default_factory=list)
    #: Exposed resource URIs and URI templates, e.g. ``time+*``.
    resources: list[Pattern] = Field(default_factory=list)
    #: When this role's own grants apply.
    policy: PolicyConfig | None = None


class ToolRule(Strict):
    """What applies to every call of the tools an ``access.tools`` pattern matches."""

    policy: PolicyConfig | None = None
    #: Per principal and tool.
    rate: RateConfig | None = None


class RateLimits(Strict):
    #: Every gated call of one principal (tools/call, prompts/get, resources/read…).
    per_principal: RateConfig | None = None


class MfaConfig(Strict):
    """What counts as multi-factor: any of these ``amr`` values, or an ``acr`` among these."""

    amr: list[str] = Field(default_factory=lambda: list(MFA_AMR))
    acr: list[str] = Field(default_factory=list)


class AccessConfig(Strict):
    """What each role may see and call; deny by default once authentication is on."""

    roles: dict[RoleName, RoleConfig] = Field(default_factory=dict)
    #: Exposed-name glob → policy and rate limit of those tools (every matching rule applies).
    tools: dict[Pattern, ToolRule] = Field(default_factory=dict)
    rate_limits: RateLimits = RateLimits()
    mfa: MfaConfig = MfaConfig()
    #: The roles of a stdio client once authentication is on (a pipe has no credentials);
    #: None: every role.
    stdio_roles: list[RoleName] | None = None

    @model_validator(mode="after")
    def _check_roles(self) -> AccessConfig:
        for name, role in self.roles.items():
            for index, parent in enumerate(role.inherits):
                if parent not in self.roles:
                    raise problem(
                        f"unknown role {parent!r} (defined: {', '.join(self.roles) or 'none'})",
                        ("roles", name, "inherits", index),
                    )
        cycle = _cycle(self.roles)
        if cycle:
            raise problem(
                f"roles inherit from each other in a cycle: {' → '.join(cycle)}",
                ("roles", cycle[0], "inherits"),
            )
        self.check_roles(self.stdio_roles or [], ("stdio_roles",))
        return self

    def check_roles(self, names: list[str], key: KeyPath) -> None:
        """Raise a config problem at ``key`` naming the first of ``names`` no role has."""
        for index, name in enumerate(names):
            if name not in self.roles:
                defined = ", ".join(self.roles) or "none"
                message = f"unknown role {name!r} (access.roles defines: {defined})"
                raise problem(message, (*key, index))


def _cycle(roles: dict[str, RoleConfig]) -> list[str]:
    """A cycle of inheritance (its first role repeated at the end), or [] when there is none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> list[str]:
        state[name] = 1
        path.append(name)
        for parent in roles[name].inherits:
            if state.get(parent) == 1:
                return [*path[path.index(parent) :], parent]
            if parent not in state and (found := visit(parent)):
                return found
        path.pop()
        state[name] = 2
        return []

    for name in roles:
        if name not in state and (found := visit(name)):
            return found
    return []
