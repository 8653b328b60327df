"""``deploy/systemd/only1mcp.service``: read as an INI file for the keys that matter, checked
by systemd's own ``systemd-analyze verify``, and scored by ``systemd-analyze security``."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

import pytest

from .deployfiles import DEPLOY

UNIT = DEPLOY / "systemd" / "only1mcp.service"
INSTALLED = "/opt/only1mcp/bin/only1mcp"
#: `systemd-analyze security`'s exposure times 10 (0: locked down, 100: fully exposed).
EXPOSURE_LIMIT = 20


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(UNIT.read_text())
    return parser


def runnable_copy(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this venv's only1mcp: verify checks it exists."""
    only1mcp = Path(sys.executable).parent / "only1mcp"
    copy = tmp_path / UNIT.name
    copy.write_text(UNIT.read_text().replace(INSTALLED, str(only1mcp)))
    return copy


def test_the_service_starts_reloads_and_stops_only1mcp() -> None:
    service = unit()["Service"]
    assert service["ExecStart"].startswith(f"{INSTALLED} start --config /etc/only1mcp/")
    # `systemctl reload`: the SIGHUP that re-reads the config (docs/deployment.md)
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["KillSignal"] == "SIGTERM"
    assert int(service["TimeoutStopSec"]) >= 20
    assert service["Restart"] == "on-failure"
    assert unit()["Install"]["WantedBy"] == "multi-user.target"


def test_the_service_is_sandboxed() -> None:
    service = unit()["Service"]
    assert service.get("DynamicUser") == "yes" or service.get("User") not in {None, "root"}
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["ProtectHome"] == "yes"
    assert service["PrivateTmp"] == "yes"
    assert service["CapabilityBoundingSet"] == ""
    assert service["StateDirectory"] == "only1mcp"


def _analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", *args], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture(scope="module")
def analyzer() -> None:
    if _analyze("--version").returncode != 0:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")


def test_systemd_verifies_the_unit(analyzer: None, tmp_path: Path) -> None:
    done = _analyze("verify", str(runnable_copy(tmp_path)))
    # verify exits 0 on an unknown key but says so: any word from it is a finding
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def test_verify_would_see_a_mistake(analyzer: None, tmp_path: Path) -> None:
    copy = runnable_copy(tmp_path)
    copy.write_text(copy.read_text().replace("NoNewPrivileges=", "NoNewPrivilege="))
    assert "Unknown key 'NoNewPrivilege'" in _analyze("verify", str(copy)).stderr


def test_the_exposure_score_stays_low(analyzer: None, tmp_path: Path) -> None:
    copy = runnable_copy(tmp_path)
    done = _analyze("security", "--offline=true", f"--threshold={EXPOSURE_LIMIT}", str(copy))
    assert done.returncode == 0, done.stdout[-3000:]
