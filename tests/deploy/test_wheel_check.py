"""``make wheel-check`` inside ``make test``: the wheel is built, installed in a fresh venv with
no Rust toolchain on PATH, and serves a real MCP call through a real stdio server."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import only1mcp

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "tools" / "wheel_check.py"


@pytest.mark.timeout(400)
def test_the_wheel_installs_and_serves_without_rust() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=380,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert re.search(r"wheels: only1mcp-[\d.]+-cp311-abi3-\S+\.whl", output), output
    assert f"version: only1mcp {only1mcp.__version__}" in output
    # mcp-server-time's answer to get_current_time, relayed by the installed aggregator
    assert '"timezone": "UTC"' in output, output
    assert "passed in" in output


def test_a_failed_step_fails_the_check(tmp_path: Path) -> None:
    """An empty wheel folder is a failure with a reason, not a pass."""
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--wheel-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert f"no only1mcp-*.whl in {tmp_path}" in done.stderr
