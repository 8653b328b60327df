"""CircuitBreaker state machine.

Timing tests only ever assert that a short duration *has* elapsed (sleeping
well past it); "not yet elapsed" is checked with long durations, so a slow
CI machine cannot flake them.
"""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from only1mcp._core import CircuitBreaker

SHORT = 0.05
PAST_SHORT = 0.12


def test_defaults_start_closed() -> None:
    cb = CircuitBreaker()
    assert cb.state == "closed"
    assert cb.allow() is True
    for _ in range(4):
        cb.record_failure()
    assert cb.state == "closed"
    cb.record_failure()
    assert cb.state == "open"
    assert cb.allow() is False


@pytest.mark.parametrize(
    "kwargs",
    [
        {"failure_threshold": 0},
        {"failure_threshold": -1},
        {"window": 0.0},
        {"window": -1.0},
        {"window": math.inf},
        {"window": math.nan},
        {"cooldown": -0.1},
        {"cooldown": math.inf},
        {"cooldown": math.nan},
        {"half_open_probes": 0},
        {"success_threshold": 0},
    ],
)
def test_rejects_bad_config(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(**kwargs)  # type: ignore[arg-type]


def test_success_while_closed_does_not_forgive_failures() -> None:
    cb = CircuitBreaker(failure_threshold=3, window=60)
    cb.record_failure()
    cb.record_success()
    cb.record_failure()
    cb.record_success()
    cb.record_failure()
    assert cb.state == "open"


def test_failures_slide_out_of_window() -> None:
    cb = CircuitBreaker(failure_threshold=3, window=SHORT, cooldown=60)
    cb.record_failure()
    cb.record_failure()
    time.sleep(PAST_SHORT)
    cb.record_failure()
    assert cb.state == "closed", "the two old failures slid out of the window"


def test_stays_open_during_cooldown() -> None:
    cb = CircuitBreaker(failure_threshold=1, cooldown=60)
    cb.record_failure()
    assert cb.state == "open"
    assert not any(cb.allow() for _ in range(10))
    cb.record_success()
    assert cb.state == "open", "a late success must not close an open breaker"


def test_half_open_probe_success_closes() -> None:
    cb = CircuitBreaker(failure_threshold=2, window=60, cooldown=SHORT)
    cb.record_failure()
    cb.record_failure()
    time.sleep(PAST_SHORT)
    assert cb.state == "half_open"
    assert cb.allow() is True
    assert cb.allow() is False, "only one probe at a time by default"
    cb.record_success()
    assert cb.state == "closed"
    assert cb.allow() is True
    cb.record_failure()
    assert cb.state == "closed", "failure history was cleared on close"


def test_half_open_probe_failure_reopens_and_restarts_cooldown() -> None:
    cb = CircuitBreaker(failure_threshold=1, cooldown=SHORT)
    cb.record_failure()
    time.sleep(PAST_SHORT)
    assert cb.allow() is True
    cb.record_failure()
    assert cb.state == "open"
    time.sleep(PAST_SHORT)
    assert cb.state == "half_open"
    assert cb.allow() is True


def test_probe_limit_and_success_threshold() -> None:
    cb = CircuitBreaker(
        failure_threshold=1, cooldown=SHORT, half_open_probes=2, success_threshold=3
    )
    cb.record_failure()
    time.sleep(PAST_SHORT)
    assert [cb.allow() for _ in range(3)] == [True, True, False]
    cb.record_success()
    assert cb.state == "half_open"
    assert cb.allow() is True
    cb.record_success()
    assert cb.state == "half_open"
    cb.record_success()
    assert cb.state == "closed"


def test_reset() -> None:
    cb = CircuitBreaker(failure_threshold=2, window=60, cooldown=60)
    cb.record_failure()
    cb.record_failure()
    assert cb.state == "open"
    cb.reset()
    assert cb.state == "closed"
    assert cb.allow() is True
    cb.record_failure()
    assert cb.state == "closed", "reset forgot the failures"


@pytest.mark.parametrize(("threshold", "state"), [(400, "open"), (401, "closed")])
def test_concurrent_failures_are_counted_exactly(threshold: int, state: str) -> None:
    cb = CircuitBreaker(failure_threshold=threshold, window=60, cooldown=60)
    barrier = threading.Barrier(4)

    def work(_: int) -> None:
        barrier.wait()
        for _ in range(100):
            cb.allow()
            cb.record_failure()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(work, range(4)))
    assert cb.state == state, "400 failures from 4 threads, none lost or doubled"


def test_concurrent_probes_respect_limit() -> None:
    cb = CircuitBreaker(failure_threshold=1, cooldown=SHORT, half_open_probes=3)
    cb.record_failure()
    time.sleep(PAST_SHORT)
    barrier = threading.Barrier(8)

    def work(_: int) -> int:
        barrier.wait()
        return sum(cb.allow() for _ in range(50))

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(work, range(8))) == 3


class BreakerModel(RuleBasedStateMachine):
    """Compares against a tiny model with cooldown 0 and an endless window, so
    time never matters: open turns half_open at the very next observation."""

    def __init__(self) -> None:
        super().__init__()
        self.threshold = self.probes = self.successes_needed = 1
        self.cb = CircuitBreaker()
        self.state = "closed"
        self.fails = self.in_probe = self.successes = 0

    @initialize(threshold=st.integers(1, 4), probes=st.integers(1, 3), successes=st.integers(1, 3))
    def setup(self, threshold: int, probes: int, successes: int) -> None:
        self.threshold, self.probes, self.successes_needed = threshold, probes, successes
        self.cb = CircuitBreaker(
            failure_threshold=threshold,
            window=1e6,
            cooldown=0.0,
            half_open_probes=probes,
            success_threshold=successes,
        )

    def _tick(self) -> None:
        if self.state == "open":
            self.state, self.in_probe, self.successes = "half_open", 0, 0

    @rule()
    def allow(self) -> None:
        self._tick()
        if self.state == "closed":
            expected = True
        elif self.in_probe < self.probes:
            self.in_probe += 1
            expected = True
        else:
            expected = False
        assert self.cb.allow() is expected

    @rule()
    def success(self) -> None:
        self._tick()
        self.cb.record_success()
        if self.state == "half_open":
            self.in_probe = max(0, self.in_probe - 1)
            self.successes += 1
            if self.successes >= self.successes_needed:
                self.state, self.fails = "closed", 0

    @rule()
    def failure(self) -> None:
        self._tick()
        self.cb.record_failure()
        if self.state == "closed":
            self.fails += 1
            if self.fails >= self.threshold:
                self.state = "open"
        elif self.state == "half_open":
            self.state = "open"

    @rule()
    def reset(self) -> None:
        self.cb.reset()
        self.state, self.fails = "closed", 0

    @invariant()
    def matches(self) -> None:
        self._tick()
        assert self.cb.state == self.state


BreakerModel.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
TestBreakerModel = BreakerModel.TestCase
