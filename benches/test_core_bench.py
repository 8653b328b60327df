"""Micro-benchmarks of only1mcp._core next to naive pure-Python equivalents.

The Python references exist only here, as the baseline the Rust core has to
beat; nothing in the package falls back to them. Each group pairs the Rust
primitive with its reference on the same workload, and every benchmark first
checks that both give the same answer, so a fast-but-wrong core cannot win.

Run with ``pytest benches --benchmark-only`` (``make bench``).
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from only1mcp._core import (
    CircuitBreaker,
    FrameReader,
    HashRing,
    LeastConnections,
    RoundRobin,
    WeightedRandom,
    frame_info,
    rewrite_id,
    split_response,
)

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a runtime dependency
    orjson = None  # type: ignore[assignment]

Id = int | str | None
BATCH = 1_000


# ------------------------------------------------------ naive Python references


class PyHashRing:
    def __init__(self, vnodes: int = 150) -> None:
        self.vnodes = vnodes
        self.weights: dict[str, int] = {}
        self.hashes: list[int] = []
        self.owners: list[str] = []

    @staticmethod
    def _hash(data: bytes) -> int:
        return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")

    def add(self, member: str, weight: int = 1) -> None:
        self.weights[member] = weight
        points = sorted(
            (self._hash(f"{m}#{v}".encode()), m)
            for m, w in self.weights.items()
            for v in range(w * self.vnodes)
        )
        self.hashes = [h for h, _ in points]
        self.owners = [m for _, m in points]

    def get(self, key: str | bytes) -> str | None:
        if not self.hashes:
            return None
        raw = key.encode() if isinstance(key, str) else key
        i = bisect.bisect_left(self.hashes, self._hash(raw))
        return self.owners[i % len(self.owners)]


class PyRoundRobin:
    def __init__(self, n: int) -> None:
        self.n = n
        self.counter = itertools.count()

    def next(self) -> int:
        return next(self.counter) % self.n


class PyWeightedRandom:
    def __init__(self, weights: list[int], seed: int | None = None) -> None:
        self.cumulative = list(itertools.accumulate(weights))
        self.rng = random.Random(seed)

    def pick(self) -> int:
        return bisect.bisect_right(self.cumulative, self.rng.randrange(self.cumulative[-1]))


class PyLeastConnections:
    def __init__(self, n: int, seed: int | None = None) -> None:
        self.loads = [0] * n
        self.rng = random.Random(seed)
        self.lock = threading.Lock()

    def acquire_among(self, allowed: list[int]) -> int:
        with self.lock:
            a, b = self.rng.sample(allowed, 2)
            chosen = b if self.loads[b] < self.loads[a] else a
            self.loads[chosen] += 1
            return chosen

    def release(self, index: int) -> None:
        with self.lock:
            self.loads[index] = max(0, self.loads[index] - 1)


class PyCircuitBreaker:
    def __init__(self, failure_threshold: int = 5, window: float = 30.0) -> None:
        self.threshold = failure_threshold
        self.window = window
        self.failures: deque[float] = deque()
        self.state = "closed"
        self.lock = threading.Lock()

    def allow(self) -> bool:
        with self.lock:
            return self.state == "closed"

    def record_success(self) -> None:
        with self.lock:
            pass

    def record_failure(self) -> None:
        with self.lock:
            now = time.monotonic()
            while self.failures and now - self.failures[0] >= self.window:
                self.failures.popleft()
            self.failures.append(now)
            if len(self.failures) >= self.threshold:
                self.state = "open"


class PyFrameReader:
    def __init__(self) -> None:
        self.buf = b""

    def feed(self, data: bytes) -> list[bytes]:
        *lines, self.buf = (self.buf + data).split(b"\n")
        return [line.removesuffix(b"\r") for line in lines if line.strip()]


def py_frame_info(frame: bytes) -> tuple[Id, str | None]:
    msg = json.loads(frame)
    if not isinstance(msg, dict):
        raise ValueError("not an object")
    return msg.get("id"), msg.get("method")


def py_split_response(frame: bytes) -> tuple[Id, str | None, bool]:
    msg = json.loads(frame)
    return msg.get("id"), msg.get("method"), "result" in msg or "error" in msg


def py_rewrite_id(frame: bytes, new_id: int | str) -> bytes:
    msg = json.loads(frame)
    msg["id"] = new_id
    return json.dumps(msg, ensure_ascii=False, separators=(",", ":")).encode()


def orjson_frame_info(frame: bytes) -> tuple[Id, str | None]:
    msg = orjson.loads(frame)
    return msg.get("id"), msg.get("method")


def orjson_rewrite_id(frame: bytes, new_id: int | str) -> bytes:
    msg = orjson.loads(frame)
    msg["id"] = new_id
    return bytes(orjson.dumps(msg))


# -------------------------------------------------------------------- payloads

REQUEST = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 4711,
        "method": "tools/call",
        "params": {
            "name": "git__log",
            "arguments": {"repo_path": "/srv/repo", "max_count": 10, "id": "nested"},
            "_meta": {"progressToken": "tok-1"},
        },
    },
    separators=(",", ":"),
).encode()

LARGE_RESPONSE = json.dumps(
    {
        "jsonrpc": "2.0",
        "result": {
            "content": [
                {"type": "text", "text": f'line {i}: "quoted" and \\ slashes é ' * 8}
                for i in range(400)
            ],
            "isError": False,
        },
        "id": "srv-123",
    },
    separators=(",", ":"),
).encode()

STREAM = b"".join(
    json.dumps(
        {"jsonrpc": "2.0", "id": i, "method": "notifications/progress", "params": {"p": i}}
    ).encode()
    + b"\n"
    for i in range(BATCH)
)
KEYS = [f"session-{i}" for i in range(BATCH)]
MEMBERS = [f"replica-{i}" for i in range(8)]


def batch(fn: Callable[[], Any]) -> Callable[[], None]:
    """Run `fn` BATCH times so per-call costs dominate the benchmark harness."""

    def run() -> None:
        for _ in range(BATCH):
            fn()

    return run


# ----------------------------------------------------------------- benchmarks

IMPLS = ["rust", "python"]


@pytest.mark.benchmark(group="HashRing.get x1000")
@pytest.mark.parametrize("impl", IMPLS)
def test_hash_ring_get(benchmark: BenchmarkFixture, impl: str) -> None:
    ring: HashRing | PyHashRing = HashRing() if impl == "rust" else PyHashRing()
    for m in MEMBERS:
        ring.add(m)
    assert all(ring.get(k) in MEMBERS for k in KEYS)
    get = ring.get
    benchmark(lambda: [get(k) for k in KEYS])


@pytest.mark.benchmark(group="HashRing.add (8 members)")
@pytest.mark.parametrize("impl", IMPLS)
def test_hash_ring_build(benchmark: BenchmarkFixture, impl: str) -> None:
    def build() -> None:
        ring: HashRing | PyHashRing = HashRing() if impl == "rust" else PyHashRing()
        for m in MEMBERS:
            ring.add(m)

    benchmark(build)


@pytest.mark.benchmark(group="RoundRobin.next x1000")
@pytest.mark.parametrize("impl", IMPLS)
def test_round_robin(benchmark: BenchmarkFixture, impl: str) -> None:
    rr: RoundRobin | PyRoundRobin = RoundRobin(7) if impl == "rust" else PyRoundRobin(7)
    assert [rr.next() for _ in range(8)] == [0, 1, 2, 3, 4, 5, 6, 0]
    benchmark(batch(rr.next))


@pytest.mark.benchmark(group="WeightedRandom.pick x1000")
@pytest.mark.parametrize("impl", IMPLS)
def test_weighted_random(benchmark: BenchmarkFixture, impl: str) -> None:
    weights = [5, 1, 0, 3, 8, 2]
    wr: WeightedRandom | PyWeightedRandom = (
        WeightedRandom(weights, seed=1) if impl == "rust" else PyWeightedRandom(weights, seed=1)
    )
    assert all(weights[wr.pick()] > 0 for _ in range(100))
    benchmark(batch(wr.pick))


@pytest.mark.benchmark(group="LeastConnections acquire_among+release x1000")
@pytest.mark.parametrize("impl", IMPLS)
def test_least_connections(benchmark: BenchmarkFixture, impl: str) -> None:
    lc: LeastConnections | PyLeastConnections = (
        LeastConnections(8, seed=1) if impl == "rust" else PyLeastConnections(8, seed=1)
    )
    acquire_among, release, healthy = lc.acquire_among, lc.release, list(range(8))
    benchmark(batch(lambda: release(acquire_among(healthy))))


@pytest.mark.benchmark(group="CircuitBreaker allow+record_success x1000")
@pytest.mark.parametrize("impl", IMPLS)
def test_circuit_breaker(benchmark: BenchmarkFixture, impl: str) -> None:
    cb: CircuitBreaker | PyCircuitBreaker = (
        CircuitBreaker() if impl == "rust" else PyCircuitBreaker()
    )

    def call() -> None:
        if cb.allow():
            cb.record_success()

    benchmark(batch(call))


@pytest.mark.benchmark(group="FrameReader.feed 1000 frames/chunk")
@pytest.mark.parametrize("impl", IMPLS)
def test_feed_one_chunk(benchmark: BenchmarkFixture, impl: str) -> None:
    reader: FrameReader | PyFrameReader = FrameReader() if impl == "rust" else PyFrameReader()
    frames = reader.feed(STREAM)
    assert frames == PyFrameReader().feed(STREAM)
    assert len(frames) == BATCH
    benchmark(reader.feed, STREAM)


@pytest.mark.benchmark(group="FrameReader.feed 4 KiB chunks")
@pytest.mark.parametrize("impl", IMPLS)
def test_feed_small_chunks(benchmark: BenchmarkFixture, impl: str) -> None:
    chunks = [STREAM[i : i + 4096] for i in range(0, len(STREAM), 4096)]
    reader: FrameReader | PyFrameReader = FrameReader() if impl == "rust" else PyFrameReader()

    def run() -> int:
        return sum(len(reader.feed(c)) for c in chunks)

    assert run() == BATCH
    benchmark(run)


FRAME_INFO_IMPLS: dict[str, Callable[[bytes], tuple[Id, str | None]]] = {
    "rust": frame_info,
    "python-json": py_frame_info,
}
REWRITE_IMPLS: dict[str, Callable[[bytes, int | str], bytes]] = {
    "rust": rewrite_id,
    "python-json": py_rewrite_id,
}
if orjson is not None:
    FRAME_INFO_IMPLS["python-orjson"] = orjson_frame_info
    REWRITE_IMPLS["python-orjson"] = orjson_rewrite_id


@pytest.mark.benchmark(group=f"frame_info request ({len(REQUEST)} B) x1000")
@pytest.mark.parametrize("impl", list(FRAME_INFO_IMPLS))
def test_frame_info_request(benchmark: BenchmarkFixture, impl: str) -> None:
    fn = FRAME_INFO_IMPLS[impl]
    assert fn(REQUEST) == py_frame_info(REQUEST) == (4711, "tools/call")
    benchmark(batch(lambda: fn(REQUEST)))


@pytest.mark.benchmark(group=f"frame_info response ({len(LARGE_RESPONSE) // 1024} KiB)")
@pytest.mark.parametrize("impl", list(FRAME_INFO_IMPLS))
def test_frame_info_large_response(benchmark: BenchmarkFixture, impl: str) -> None:
    fn = FRAME_INFO_IMPLS[impl]
    assert fn(LARGE_RESPONSE) == ("srv-123", None)
    benchmark(fn, LARGE_RESPONSE)


@pytest.mark.benchmark(group="split_response request x1000")
@pytest.mark.parametrize("impl", IMPLS)
def test_split_response(benchmark: BenchmarkFixture, impl: str) -> None:
    fn = split_response if impl == "rust" else py_split_response
    assert fn(REQUEST) == (4711, "tools/call", False)
    benchmark(batch(lambda: fn(REQUEST)))


@pytest.mark.benchmark(group="rewrite_id request x1000")
@pytest.mark.parametrize("impl", list(REWRITE_IMPLS))
def test_rewrite_id_request(benchmark: BenchmarkFixture, impl: str) -> None:
    fn = REWRITE_IMPLS[impl]
    assert json.loads(fn(REQUEST, "client-7")) == json.loads(rewrite_id(REQUEST, "client-7"))
    benchmark(batch(lambda: fn(REQUEST, "client-7")))


@pytest.mark.benchmark(group=f"rewrite_id response ({len(LARGE_RESPONSE) // 1024} KiB)")
@pytest.mark.parametrize("impl", list(REWRITE_IMPLS))
def test_rewrite_id_large_response(benchmark: BenchmarkFixture, impl: str) -> None:
    fn = REWRITE_IMPLS[impl]
    assert json.loads(fn(LARGE_RESPONSE, 9)) == {**json.loads(LARGE_RESPONSE), "id": 9}
    benchmark(fn, LARGE_RESPONSE, 9)
