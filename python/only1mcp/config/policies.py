"""Resilience settings of a server: health checks, breaker, timeouts, restarts, replica pools.

Every server kind takes the same policy keys (``health``, ``breaker``, ``timeouts``,
``restart``); a server with ``replicas`` also picks a load-balancing ``strategy``, a
``hash_key`` and a ``retry`` policy. Defaults reproduce the behaviour of a server without any
of these keys.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

#: Error type of the errors raised by :func:`problem` (the loader reads their context).
PROBLEM = "only1mcp_config"
#: Key path below the validated location, as carried in a problem's context.
KeyPath = tuple[str | int, ...]

HASH_KEY_RE = re.compile(r"session|header:[A-Za-z0-9!#$%&'*+.^_`|~-]+|argument:[^\s]+")


def problem(message: str, key: KeyPath = ()) -> PydanticCustomError:
    """A validation error with a human ``message``, located ``key`` below where it is raised."""
    return PydanticCustomError(PROBLEM, "{problem}", {"problem": message, "key": key})


def not_bool(value: Any) -> Any:
    # pydantic's lax mode reads true as 1; a boolean timeout or port is always a mistake.
    if isinstance(value, bool):
        raise problem("expected a number, not true/false")
    return value


Timeout = Annotated[float, BeforeValidator(not_bool), Field(gt=0, allow_inf_nan=False)]
Seconds = Annotated[float, BeforeValidator(not_bool), Field(ge=0, allow_inf_nan=False)]
Count = Annotated[int, BeforeValidator(not_bool), Field(ge=1)]


MASK = "***"
# Fields whose values are secrets: a repr shows their keys only.
SECRET_MAPS = ("env", "headers")


class Strict(BaseModel):
    """Strict keys, immutability, a repr without secrets (every config model is one)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, dict.fromkeys(value, MASK) if name in SECRET_MAPS else value


class Strategy(enum.StrEnum):
    """How a pool picks the replica for each request."""

    ROUND_ROBIN = "round_robin"
    #: Power of two choices over the requests in flight.
    LEAST_CONNECTIONS = "least_connections"
    #: The replica owning ``hash_key`` on a consistent-hash ring (150 points per weight unit).
    CONSISTENT_HASH = "consistent_hash"
    WEIGHTED_RANDOM = "weighted_random"
    #: A client session stays on the replica it was first given while that one is healthy.
    STICKY = "sticky"


class Retry(enum.StrEnum):
    """Which failed requests a pool replays on another replica."""

    #: Lists, reads, and tools annotated ``readOnlyHint`` or ``idempotentHint``.
    SAFE = "safe"
    #: Any request, tool calls included (every tool of the server is idempotent).
    ALWAYS = "always"
    #: None: only a request that never reached a replica goes to another one.
    NEVER = "never"


class HealthConfig(Strict):
    """Active checks: a ``ping`` every ``interval`` seconds (0 turns them off)."""

    interval: Seconds = 30.0
    timeout: Timeout = 5.0
    #: Consecutive failed pings after which the server (replica) gets no traffic.
    unhealthy_after: Count = 2


class BreakerConfig(Strict):
    """Opens after ``failures`` transport errors or timeouts within ``window`` seconds;
    after ``cooldown`` seconds one probe is let through."""

    failures: Count = 5
    window: Timeout = 30.0
    cooldown: Seconds = 5.0


class TimeoutsConfig(Strict):
    #: Tool name (as the server names it) → seconds, instead of the server's ``timeout``.
    tools: dict[str, Timeout] = {}
    #: Each progress notification restarts a call's timeout, up to this many seconds in all.
    max_with_progress: Timeout | None = None


class RestartConfig(Strict):
    """Reconnection after a crash: exponential backoff from ``backoff`` to ``backoff_max``."""

    backoff: Timeout = 0.2
    backoff_max: Timeout = 15.0
    #: Failed (re)starts in a row after which the server's tools leave the catalog.
    crash_loop: Count = 3

    @model_validator(mode="after")
    def _check_order(self) -> RestartConfig:
        if self.backoff > self.backoff_max:
            raise problem("must not be greater than `backoff_max`", ("backoff",))
        return self


def check_progress_cap(timeout: float, timeouts: TimeoutsConfig) -> None:
    """``max_with_progress`` may extend a call's timeout, never shorten it."""
    cap = timeouts.max_with_progress
    if cap is not None and cap < max([timeout, *timeouts.tools.values()]):
        raise problem(
            "must be at least `timeout` and every per-tool timeout",
            ("timeouts", "max_with_progress"),
        )


def check_hash_key(key: str) -> str:
    if not HASH_KEY_RE.fullmatch(key):
        raise problem("use `session`, `header:<Header-Name>` or `argument:<name>`")
    return key
