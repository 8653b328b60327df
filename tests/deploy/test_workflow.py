"""``.github/workflows/wheels.yml``: actionlint (with shellcheck on its scripts), the GitHub
workflow JSON schema, and the matrix: every platform the issue names gets an abi3 wheel, and
every wheel is installed and served without Rust by tools/wheel_check.py."""

from __future__ import annotations

import json
import subprocess
from importlib.resources import files
from typing import Any

import jsonschema
import pytest
import yaml

from .deployfiles import REPO_ROOT
from .tools import ACTIONLINT, go_install

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "wheels.yml"
MATURIN = "PyO3/maturin-action@v1"


def workflow() -> dict[str, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    # YAML 1.1 (PyYAML) reads the key `on` as true; GitHub reads YAML 1.2.
    loaded["on"] = loaded.pop(True)
    return loaded


def jobs() -> dict[str, Any]:
    found: dict[str, Any] = workflow()["jobs"]
    return found


def maturin_step(job: dict[str, Any]) -> dict[str, Any]:
    (step,) = [step for step in job["steps"] if step.get("uses") == MATURIN]
    found: dict[str, Any] = step.get("with", {})
    return found


def targets(job: dict[str, Any]) -> set[str]:
    matrix = job["strategy"]["matrix"]
    if "include" in matrix:
        return {entry["target"] for entry in matrix["include"]}
    return set(matrix["target"])


@pytest.fixture(scope="module")
def actionlint() -> str:
    return go_install("actionlint", ACTIONLINT)


def test_actionlint_passes(actionlint: str) -> None:
    done = subprocess.run(
        [actionlint, "-no-color", str(WORKFLOW)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_would_see_a_mistake(actionlint: str, tmp_path: Any) -> None:
    broken = WORKFLOW.read_text().replace("runs-on: windows-latest", "runs-on: windows-lastest")
    (tmp_path / "wheels.yml").write_text(broken)
    done = subprocess.run(
        [actionlint, "-no-color", str(tmp_path / "wheels.yml")], capture_output=True, text=True
    )
    assert done.returncode == 1 and "windows-lastest" in done.stdout


def test_the_workflow_follows_the_github_schema() -> None:
    vendor = files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads(vendor.joinpath("github-workflows.json").read_text())
    jsonschema.validate(workflow(), schema)


def test_every_platform_gets_a_wheel() -> None:
    all_jobs = jobs()
    linux = all_jobs["manylinux"]
    assert maturin_step(linux)["manylinux"] == "auto"
    assert targets(linux) == {"x86_64", "aarch64"}
    musl = all_jobs["musllinux"]
    assert maturin_step(musl)["manylinux"].startswith("musllinux_")
    assert targets(musl) >= {"x86_64"}
    macos = all_jobs["macos"]
    assert targets(macos) == {"x86_64", "aarch64"}
    assert all(e["runner"].startswith("macos-") for e in macos["strategy"]["matrix"]["include"])
    assert all_jobs["windows"]["runs-on"].startswith("windows-")
    assert maturin_step(all_jobs["sdist"])["command"] == "sdist"
    for name in ("manylinux", "musllinux", "macos", "windows"):
        assert "--release" in maturin_step(all_jobs[name])["args"]


def test_abi3_makes_one_wheel_per_platform() -> None:
    """No interpreter matrix: the crate's pyo3 feature builds for the stable ABI."""
    assert 'features = ["abi3-py311"]' in (REPO_ROOT / "Cargo.toml").read_text()
    for name in ("manylinux", "musllinux", "macos", "windows"):
        assert "python-version" not in jobs()[name]["strategy"]["matrix"]


def test_each_wheel_is_checked_without_rust() -> None:
    all_jobs = jobs()
    check = all_jobs["check"]
    assert set(check["needs"]) == {"manylinux", "musllinux", "macos", "windows"}
    runners = set(check["strategy"]["matrix"]["runner"])
    assert {"ubuntu-latest", "ubuntu-24.04-arm", "windows-latest"} <= runners
    assert len({r for r in runners if r.startswith("macos-")}) == 2
    uses = [step.get("uses", "") for step in check["steps"]]
    assert not any("rust" in use for use in uses), "the check job installs a Rust toolchain"
    runs = [step.get("run", "") for step in check["steps"]]
    assert any("tools/wheel_check.py --wheel-dir dist" in run for run in runs)
    musl = " ".join(step.get("run", "") for step in all_jobs["check-musllinux"]["steps"])
    assert "python:3.11-alpine" in musl and "tools/wheel_check.py --wheel-dir dist" in musl


def test_a_tag_publishes_what_was_checked() -> None:
    publish = jobs()["publish"]
    assert set(publish["needs"]) == {"check", "check-musllinux", "sdist"}
    assert publish["permissions"] == {"id-token": "write"}
    assert "refs/tags/v" in publish["if"]
