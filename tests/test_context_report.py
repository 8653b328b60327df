"""docs/CONTEXT.md's numbers hold: recomputed from the checked-in snapshot, they match
docs/data/context/report.json and meet issue 15's targets."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools" / "context"))

import context_report as report  # noqa: E402


@pytest.fixture(scope="module")
def measured() -> dict[str, Any]:
    return report.measure(with_latency=False)


def test_report_is_up_to_date(measured: dict[str, Any]) -> None:
    assert report.stale(measured) == []
    kept = json.loads(report.REPORT_JSON.read_text())
    page = report.REPORT_MD.read_text()
    assert page == report.markdown(kept)  # the page says what the numbers say


def test_targets_are_met(measured: dict[str, Any]) -> None:
    assert report.misses(measured) == []
    tokens = measured["tokens"]
    assert tokens["five"]["tools"] == 42 and tokens["large"]["tools"] >= 300
    assert measured["search"]["tasks"] >= 150


def test_search_beats_plain_bm25(measured: dict[str, Any]) -> None:
    assert measured["search"]["mrr"] > measured["search_plain_bm25"]["mrr"]


def test_checked_in_latency_meets_the_target() -> None:
    latency = json.loads(report.REPORT_JSON.read_text())["latency"]
    assert latency["tools"] >= 1000
    assert latency["cpu_p99_us"] <= 1000
