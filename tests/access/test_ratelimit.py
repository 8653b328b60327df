"""Token buckets: burst, refill, the wait a refusal names, a bounded number of buckets."""

from __future__ import annotations

import pytest

from only1mcp.access.ratelimit import LocalBuckets
from only1mcp.config.access import RateConfig


def test_a_burst_then_one_token_per_interval() -> None:
    buckets = LocalBuckets()
    rate = RateConfig(per_second=2, burst=3)
    assert [buckets.take("k", rate, 100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("k", rate, 100.0) == pytest.approx(0.5)
    assert buckets.take("k", rate, 100.25) == pytest.approx(0.25)  # half a token came
    assert buckets.take("k", rate, 100.5) == 0.0
    assert buckets.take("k", rate, 100.5) == pytest.approx(0.5)
    assert [buckets.take("k", rate, 200.0) for _ in range(4)][-1] > 0  # refills up to burst


def test_buckets_are_per_key_and_burst_defaults_to_a_second() -> None:
    buckets = LocalBuckets()
    slow = RateConfig(per_second=0.1)
    assert slow.capacity == 1
    assert buckets.take("a", slow, 0.0) == 0.0
    assert buckets.take("a", slow, 1.0) == pytest.approx(9.0)
    assert buckets.take("b", slow, 1.0) == 0.0
    assert RateConfig(per_second=2.5).capacity == 3


def test_the_number_of_buckets_is_bounded_full_ones_go_first() -> None:
    buckets = LocalBuckets(limit=3)
    rate = RateConfig(per_second=1, burst=1)
    buckets.take("old", rate, 0.0)
    buckets.take("busy", rate, 9.5)
    buckets.take("busy2", rate, 9.5)
    buckets.take("new", rate, 10.0)  # "old" has refilled: it goes, the busy ones stay
    assert len(buckets) == 3
    assert buckets.take("busy", rate, 10.0) > 0
