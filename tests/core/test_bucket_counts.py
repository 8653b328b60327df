"""BucketCounts: the histogram series the metrics count into (telemetry/metrics.py)."""

import threading

import pytest

from only1mcp._core import BucketCounts


def test_values_land_in_the_first_bucket_whose_bound_is_not_below_them() -> None:
    counts = BucketCounts([0.001, 0.01, 0.1])
    for value in (0.0005, 0.001, 0.002, 0.05, 0.1, 7.0, float("nan")):
        counts.observe(value)
    buckets, total = counts.snapshot()
    assert buckets == [2, 1, 2, 2]  # NaN: above every bound
    assert total != total  # a NaN poisons the sum, as it does Prometheus'


def test_the_sum_is_every_value_added() -> None:
    counts = BucketCounts([1.0])
    for value in (0.25, 0.5, 2.0):
        counts.observe(value)
    assert counts.snapshot() == ([2, 1], 2.75)


def test_threads_lose_no_observation() -> None:
    counts = BucketCounts([1.0])

    def observe() -> None:
        for _ in range(20_000):
            counts.observe(0.5)

    threads = [threading.Thread(target=observe) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counts.snapshot() == ([80_000, 0], 40_000.0)


@pytest.mark.parametrize("bounds", [[1.0, 1.0], [2.0, 1.0], [float("inf")], [float("nan")]])
def test_bounds_must_be_finite_and_increasing(bounds: list[float]) -> None:
    with pytest.raises(ValueError, match="bounds must be"):
        BucketCounts(bounds)
