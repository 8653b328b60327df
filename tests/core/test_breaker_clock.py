"""The breaker on an injected clock: windows and cool-downs stepped exactly, with no sleep.

The state machine is the Rust one (``CircuitBreaker``, given ``now``); the clock is a float the
test moves. Each boundary is checked on both sides: a hair before it, and at it.
"""

from __future__ import annotations

import math
import time

import pytest

from only1mcp._core import CircuitBreaker
from only1mcp.backends.breaker import ClockedBreaker, make_breaker

HAIR = 1e-6


class FakeClock:
    def __init__(self, start: float = 100.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_the_default_clock_is_the_rust_breaker_itself() -> None:
    """Nothing between the hot path and Rust: time.monotonic is the clock Rust reads itself."""
    assert type(make_breaker()) is CircuitBreaker
    assert type(make_breaker(clock=FakeClock())) is ClockedBreaker


def test_failures_open_it_only_within_the_window(clock: FakeClock) -> None:
    cb = make_breaker(failure_threshold=3, window=10.0, cooldown=5.0, clock=clock)
    cb.record_failure()
    clock.advance(5.0)
    cb.record_failure()
    clock.advance(5.0)  # the first failure leaves the window exactly now
    cb.record_failure()
    assert cb.state == "closed"
    clock.advance(5.0 - HAIR)  # the second is still in it
    cb.record_failure()
    assert cb.state == "open"
    assert cb.allow() is False


def test_cooldown_ends_exactly_when_due(clock: FakeClock) -> None:
    cb = make_breaker(failure_threshold=1, window=10.0, cooldown=5.0, clock=clock)
    cb.record_failure()
    clock.advance(5.0 - HAIR)
    assert cb.state == "open" and cb.allow() is False
    clock.advance(HAIR)
    assert cb.state == "half_open"
    assert cb.allow() is True  # the one probe
    assert cb.allow() is False  # no second probe while the first runs
    cb.record_success()
    assert cb.state == "closed"


def test_a_failed_probe_restarts_the_cooldown(clock: FakeClock) -> None:
    cb = make_breaker(failure_threshold=1, window=10.0, cooldown=5.0, clock=clock)
    cb.record_failure()
    clock.advance(5.0)
    assert cb.allow() is True
    clock.advance(2.0)
    cb.record_failure()  # the probe failed: a fresh cool-down from now
    clock.advance(5.0 - HAIR)
    assert cb.state == "open"
    clock.advance(HAIR)
    assert cb.state == "half_open"


def test_reset_closes_it_whatever_the_clock(clock: FakeClock) -> None:
    cb = make_breaker(failure_threshold=1, window=10.0, cooldown=1000.0, clock=clock)
    cb.record_failure()
    assert cb.state == "open"
    cb.reset()
    assert cb.state == "closed" and cb.allow() is True


@pytest.mark.parametrize("now", [-1.0, math.nan, math.inf])
def test_a_clock_reading_that_is_no_time_is_refused(now: float) -> None:
    cb = CircuitBreaker()
    with pytest.raises(ValueError, match="now must be a finite number of seconds >= 0"):
        cb.allow(now)
    with pytest.raises(ValueError, match="now"):
        cb.state_at(now)


def test_the_real_clock_still_drives_a_breaker_given_no_now() -> None:
    cb = make_breaker(failure_threshold=1, window=10.0, cooldown=0.0, clock=time.monotonic)
    cb.record_failure()
    assert cb.state == "half_open"  # a zero cool-down is over at once
