"""A backend's circuit breaker: the Rust :class:`~only1mcp._core.CircuitBreaker`, on a clock
that can be injected.

:func:`make_breaker` with the default clock (``time.monotonic``) hands back the Rust breaker
itself: it reads ``CLOCK_MONOTONIC`` on its own — the clock ``time.monotonic`` reads — so the hot
path (``allow``/``record_*`` per call) pays for no Python call. Any other clock gets a
:class:`ClockedBreaker`, which passes ``clock()`` as ``now`` to each call of the same Rust state
machine: what tests use to step through windows and cool-downs exactly, without sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal, Protocol

from only1mcp._core import CircuitBreaker

Clock = Callable[[], float]
BreakerState = Literal["closed", "open", "half_open"]


class Breaker(Protocol):
    """What a backend uses of its breaker (see :class:`~only1mcp._core.CircuitBreaker`)."""

    def allow(self) -> bool: ...
    def record_success(self) -> None: ...
    def record_failure(self) -> None: ...
    def reset(self) -> None: ...
    @property
    def state(self) -> BreakerState: ...


class ClockedBreaker:
    """The Rust breaker driven by ``clock`` (seconds >= 0 that never go back)."""

    __slots__ = ("_clock", "_core")

    def __init__(self, core: CircuitBreaker, clock: Clock) -> None:
        self._core = core
        self._clock = clock

    def allow(self) -> bool:
        return self._core.allow(self._clock())

    def record_success(self) -> None:
        self._core.record_success(self._clock())

    def record_failure(self) -> None:
        self._core.record_failure(self._clock())

    def reset(self) -> None:
        self._core.reset()

    @property
    def state(self) -> BreakerState:
        return self._core.state_at(self._clock())

    def __repr__(self) -> str:
        return f"Clocked{self._core!r}"


def make_breaker(
    failure_threshold: int = 5,
    window: float = 30.0,
    cooldown: float = 10.0,
    *,
    clock: Clock = time.monotonic,
) -> Breaker:
    """A breaker with these settings on ``clock`` (the Rust breaker itself on the default)."""
    core = CircuitBreaker(failure_threshold=failure_threshold, window=window, cooldown=cooldown)
    return core if clock is time.monotonic else ClockedBreaker(core, clock)
