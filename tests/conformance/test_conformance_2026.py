"""The official MCP conformance suite at revision 2026-07-28 (stateless), natively and bridged.

``@modelcontextprotocol/conformance@0.2.0-alpha.12 server --url U --spec-version 2026-07-28
--suite all``, against two targets:

* ``native``: ``tests/fixtures/conformance_server_native.py``, the conformance fixture served by
  the official SDK speaking 2026-07-28 itself (its ``input_required`` tools return
  ``InputRequiredResult``). It pins the reference: ``EXPECTED_PASSED`` checks, none failed.
* ``only1mcp``: ``only1mcp start`` (``prefix: ""``) in front of the HANDSHAKE-ERA fixture
  ``tests/fixtures/conformance_server.py``, which refuses 2026-07-28 traffic and whose
  ``input_required`` tools send server-to-client requests instead. Everything 2026 the suite sees
  is Only1MCP's front and its bridge (issue 4, ``docs/design/eras.md``). It must pass every check
  the native run passes, check by check, and fail none.
* ``only1mcp-native``: ``only1mcp start`` in front of the NATIVE fixture, which Only1MCP finds
  to be a 2026-07-28 server (``server/discover``) and forwards to as it is: the backend's own
  ``input_required`` results pass through with their ``requestState`` sealed inside Only1MCP's,
  its list changes arrive on Only1MCP's standing ``subscriptions/listen`` stream. Same verdict
  as ``only1mcp``.

The ``only1mcp`` target is the session-wide one of ``conftest.py`` (the 2025-11-25 runs of
``test_conformance.py`` share it): one endpoint, both eras.

A run passes when the suite reports ``Total: N passed, 0 failed`` and exits 0, with N the native
count plus any check the native run only reported as INFO that passes here
(``server-sse-streams-functional``: the SDK answers a quick request with JSON, an aggregator may
stream it). The assertion message lists the failing scenarios as the suite printed them, then each
failing or missing check with the suite's own error message.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import (
    SUITE_2026,
    SUITE_DEADLINE,
    SuiteRun,
    Target,
    run_suite,
)
from .test_conformance import FIXTURES, judge

EXPECTED_PASSED = SUITE_2026.expected_passed
"""Checks the native 2026-07-28 fixture passes (0 failed; one more check is INFO)."""

TARGETS = ("native", "only1mcp", "only1mcp-native")


@pytest.fixture(scope="session")
def native_run(native_target: Target, tmp_path_factory: pytest.TempPathFactory) -> SuiteRun:
    """The reference run (shared: the bridged run is compared with it check by check)."""
    results = tmp_path_factory.mktemp("results-native-2026")
    return run_suite(SUITE_2026, native_target.url, results)


def gained_info_checks(run: SuiteRun, reference: SuiteRun) -> int:
    """Checks the reference only reported as INFO that ``run`` passes (they add to the count)."""
    info = {(c.scenario, c.id) for c in reference.checks if c.status == "INFO"}
    return sum(1 for c in run.checks if c.status == "SUCCESS" and (c.scenario, c.id) in info)


@pytest.mark.timeout(2 * SUITE_DEADLINE + 120)
@pytest.mark.parametrize("target_name", TARGETS)
def test_conformance_2026(
    target_name: str,
    native_run: SuiteRun,
    native_target: Target,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    label = f"{target_name} / {SUITE_2026.id}"
    logs: list[Path]
    if target_name == "native":
        run, baseline, expected = native_run, None, EXPECTED_PASSED
        logs = native_target.logs
    else:
        target: Target = request.getfixturevalue(FIXTURES[target_name])
        results = tmp_path_factory.mktemp(f"results-{target_name}-{SUITE_2026.id}")
        run = run_suite(SUITE_2026, target.url, results)
        baseline = native_run
        expected = EXPECTED_PASSED + gained_info_checks(run, native_run)
        logs = target.logs
    judge(label, run, expected, baseline, logs=logs)
