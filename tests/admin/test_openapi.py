"""Schemathesis fuzzes the live admin listener of a real ``only1mcp start`` from its OpenAPI
document: every answer must be documented (status, content type, schema), never a 5xx.

It finds real server names through ``GET /api/servers`` and so restarts, disables and enables
real backends too; this module has its aggregator to itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import AdminAggregator

#: Examples per operation and phase: enough to reach every documented answer, in seconds.
MAX_EXAMPLES = 5


def schemathesis_cli() -> str:
    path = Path(sys.executable).parent / "schemathesis"
    if not path.exists():
        pytest.fail("schemathesis is not installed: install the project with its [dev] extra")
    return str(path)


@pytest.mark.timeout(300)  # schemathesis restarts real servers it finds through the API
def test_the_live_admin_api_matches_its_openapi_document(
    running: AdminAggregator, tmp_path: Path
) -> None:
    argv = [
        schemathesis_cli(),
        "run",
        f"{running.admin}/openapi.json",
        "--checks",
        "all",
        "--phases",
        "coverage,fuzzing",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--workers",
        "1",
        "--request-timeout",
        "30",
        # a loaded 2-core machine can take seconds to restart a real backend; speed is the
        # load tests' business, not this conformance run's
        "--max-response-time",
        "60",
    ]
    run = subprocess.run(  # in tmp_path: it keeps a cache (.schemathesis/) where it runs
        argv, capture_output=True, text=True, timeout=240, check=False, cwd=tmp_path
    )
    report = run.stdout[-6000:] + run.stderr[-2000:]
    assert run.returncode == 0, report
    assert "13 passed" in run.stdout, report  # every operation was exercised
    with running.client() as admin:
        assert admin.get("/api/overview").status_code == 200  # and it is still serving
