"""RoundRobin, WeightedRandom and LeastConnections."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from only1mcp._core import LeastConnections, RoundRobin, WeightedRandom

# ---------------------------------------------------------------- RoundRobin


@given(st.integers(1, 50), st.integers(0, 200))
def test_round_robin_cycles(n: int, calls: int) -> None:
    rr = RoundRobin(n)
    assert [rr.next() for _ in range(calls)] == [i % n for i in range(calls)]


@pytest.mark.parametrize("n", [0, -1])
def test_round_robin_rejects_bad_n(n: int) -> None:
    with pytest.raises(ValueError):
        RoundRobin(n)


def test_round_robin_is_exact_across_threads() -> None:
    rr = RoundRobin(4)
    per_thread = 5_000

    def work(_: int) -> Counter[int]:
        return Counter(rr.next() for _ in range(per_thread))

    with ThreadPoolExecutor(4) as pool:
        total = sum(pool.map(work, range(4)), Counter[int]())
    assert total == dict.fromkeys(range(4), per_thread)


# ------------------------------------------------------------ WeightedRandom


@pytest.mark.parametrize("weights", [[], [0], [0, 0, 0], [1, -1], [-5]])
def test_weighted_rejects_bad_weights(weights: list[int]) -> None:
    with pytest.raises(ValueError):
        WeightedRandom(weights)


@settings(deadline=None)
@given(
    st.lists(st.integers(0, 1000), min_size=1, max_size=20).filter(lambda w: sum(w) > 0),
    st.integers(-(2**70), 2**70) | st.none(),
)
def test_weighted_picks_only_positive_weights(weights: list[int], seed: int | None) -> None:
    wr = WeightedRandom(weights, seed=seed)
    for _ in range(200):
        i = wr.pick()
        assert 0 <= i < len(weights)
        assert weights[i] > 0


@given(st.integers(0, 2**64 - 1))
def test_weighted_seed_is_reproducible(seed: int) -> None:
    a = WeightedRandom([1, 2, 3, 4], seed=seed)
    b = WeightedRandom([1, 2, 3, 4], seed=seed)
    assert [a.pick() for _ in range(50)] == [b.pick() for _ in range(50)]


def test_weighted_is_proportional() -> None:
    weights = [1, 0, 2, 5]
    wr = WeightedRandom(weights, seed=12345)
    draws = 80_000
    counts = Counter(wr.pick() for _ in range(draws))
    assert counts[1] == 0
    for i, w in enumerate(weights):
        assert abs(counts[i] / draws - w / sum(weights)) < 0.015, counts


def test_weighted_unseeded_instances_differ() -> None:
    a = WeightedRandom([1] * 100)
    b = WeightedRandom([1] * 100)
    assert [a.pick() for _ in range(20)] != [b.pick() for _ in range(20)]


def test_weighted_huge_weights() -> None:
    wr = WeightedRandom([2**62, 2**62, 0], seed=1)
    assert {wr.pick() for _ in range(100)} == {0, 1}
    with pytest.raises(ValueError):
        WeightedRandom([2**63 - 1, 2**63 - 1, 2**63 - 1])


# ---------------------------------------------------------- LeastConnections
# The loads are not readable from Python (the product never reads them); the tests infer them
# from the picks: with no release in between, a slot's load is how often it was picked.


@pytest.mark.parametrize("n", [0, -3, 2**21])
def test_least_connections_rejects_bad_n(n: int) -> None:
    with pytest.raises(ValueError):
        LeastConnections(n)


def test_least_connections_single_slot() -> None:
    lc = LeastConnections(1)
    assert [lc.acquire_among([0]) for _ in range(3)] == [0, 0, 0]


def test_two_slots_always_alternate() -> None:
    # With two slots both are always compared, so load never diverges.
    lc = LeastConnections(2, seed=7)
    loads = Counter[int]()
    for _ in range(100):
        loads[lc.acquire_among([0, 1])] += 1
        assert abs(loads[0] - loads[1]) <= 1


def test_release_saturates_and_indexes_are_checked() -> None:
    lc = LeastConnections(3, seed=1)
    lc.acquire_among([0])
    lc.release(0)
    lc.release(0)  # a double release must not wrap slot 0's load to 2**64 - 1
    lc.acquire_among([1])
    assert lc.acquire_among([0, 1]) == 0, "slot 0 is idle again, slot 1 is not"
    for bad in [-1, 3, 2**70]:
        with pytest.raises((IndexError, OverflowError)):
            lc.release(bad)


def test_acquire_among_validates() -> None:
    lc = LeastConnections(3)
    with pytest.raises(ValueError):
        lc.acquire_among([])
    with pytest.raises(IndexError):
        lc.acquire_among([0, 3])
    with pytest.raises(IndexError):
        lc.acquire_among([-1])


@settings(deadline=None)
@given(st.integers(1, 16), st.data())
def test_acquire_among_stays_in_allowed(n: int, data: st.DataObject) -> None:
    allowed = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))
    lc = LeastConnections(n, seed=data.draw(st.integers(0, 2**32)))
    picks = [lc.acquire_among(allowed) for _ in range(10 * len(allowed))]
    assert set(picks) <= set(allowed)
    if len(allowed) == 2:
        loads = Counter(picks)
        assert abs(loads[allowed[0]] - loads[allowed[1]]) <= 1


def test_acquire_skips_loaded_slot() -> None:
    lc = LeastConnections(3, seed=3)
    for _ in range(50):
        lc.acquire_among([0])
    picks = Counter(lc.acquire_among([0, 1, 2]) for _ in range(40))
    # Slot 0 always loses the comparison while it is far ahead.
    assert picks[0] == 0


def test_power_of_two_keeps_loads_tight() -> None:
    lc = LeastConnections(10, seed=99)
    loads = Counter(lc.acquire_among(list(range(10))) for _ in range(10_000))
    assert max(loads.values()) - min(loads.values()) <= 5, loads


def test_least_connections_threads_balance_to_zero() -> None:
    lc = LeastConnections(5)
    barrier = threading.Barrier(4)

    def work(_: int) -> None:
        barrier.wait()
        for _ in range(2_000):
            lc.release(lc.acquire_among([0, 2, 4]))
            lc.release(lc.acquire_among([0, 1, 2, 3, 4]))

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(work, range(4)))
    # No count leaked under contention: one request on any slot loses against slot 1.
    for other in [0, 2, 3, 4]:
        lc.acquire_among([other])
        assert lc.acquire_among([other, 1]) == 1
        lc.release(other)
        lc.release(1)
