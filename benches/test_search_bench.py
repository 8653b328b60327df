"""The cost of one ``search_tools`` query over a 1,000-tool catalog (issue 15: p99 ≤ 1 ms).

The catalog is the large one of tools/context/context_catalogs.py at 1,000 tools (real
servers' definitions, per-project instances); the queries are the 168 labelled tasks of
docs/data/context/tasks.json, one round searching them all, so the reported time / 168 is the
mean cost of one query.
``make context-report`` measures the p50/p99 per query (docs/CONTEXT.md).

Run with ``pytest benches/test_search_bench.py --benchmark-only`` (part of ``make bench``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pytest_benchmark.fixture import BenchmarkFixture

from only1mcp.catalog.search import ToolIndex

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools" / "context"))

import context_catalogs as catalog  # noqa: E402

TOOLS = catalog.merged(catalog.large(1000))
QUERIES = [task["task"] for task in json.loads((catalog.DATA / "tasks.json").read_text())]


def test_search_1000_tools(benchmark: BenchmarkFixture) -> None:
    index = ToolIndex(TOOLS)

    def every_task() -> None:
        for query in QUERIES:
            index.search(query, 5)

    benchmark(every_task)
    assert len(TOOLS) >= 1000


def test_index_build_1000_tools(benchmark: BenchmarkFixture) -> None:
    index = benchmark(ToolIndex, TOOLS)
    assert index.size == len(TOOLS)
