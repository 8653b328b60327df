"""The ``only1mcp`` one-shot subcommands: validate, list, call (real backends, real processes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import run_cli, write_config


def test_validate_accepts_the_standard_config(standard_config: Path) -> None:
    run = run_cli(["validate", str(standard_config)], cwd=standard_config.parent)
    assert run.returncode == 0, run.describe()
    assert not run.leaks, run.leaks


def test_validate_rejects_a_server_without_command_or_url(tmp_path: Path) -> None:
    config = write_config(tmp_path / "bad.yaml", {"nowhere": {"args": ["x"], "timeout": 5}})
    run = run_cli(["validate", str(config)], cwd=tmp_path)
    assert run.returncode != 0, run.describe()
    assert "nowhere" in run.stdout + run.stderr, run.describe()
    assert "Traceback" not in run.stdout + run.stderr, run.describe()


def test_list_prints_servers_and_their_tools(standard_config: Path) -> None:
    run = run_cli(["list", "--config", str(standard_config)], cwd=standard_config.parent)
    assert run.returncode == 0, run.describe()
    for server in ("time", "git", "fx", "web"):
        assert server in run.stdout, f"server {server!r} not listed\n{run.describe()}"
    for tool in ("time__get_current_time", "git__git_status", "fx__echo", "web__add"):
        assert tool in run.stdout, f"tool {tool!r} not listed\n{run.describe()}"
    assert not run.leaks, run.leaks


def test_call_prints_the_tool_result_json(standard_config: Path) -> None:
    args = json.dumps({"text": "from the cli"})
    run = run_cli(
        ["call", "fx__echo", "--args", args, "--config", str(standard_config)],
        cwd=standard_config.parent,
    )
    assert run.returncode == 0, run.describe()
    result = json.loads(run.stdout)
    assert result["content"][0] == {"type": "text", "text": "from the cli"}, result
    assert not result.get("isError"), result
    assert not run.leaks, run.leaks


@pytest.mark.parametrize(
    ("name", "arguments", "structured"),
    [
        ("web__add", {"a": 20, "b": 22}, {"result": 42}),
        ("time__get_current_time", {"timezone": "UTC"}, None),
    ],
)
def test_call_structured_content(
    standard_config: Path, name: str, arguments: dict[str, object], structured: object
) -> None:
    run = run_cli(
        ["call", name, "--args", json.dumps(arguments), "--config", str(standard_config)],
        cwd=standard_config.parent,
    )
    assert run.returncode == 0, run.describe()
    result = json.loads(run.stdout)
    assert "structuredContent" in result, result
    if structured is not None:
        assert result["structuredContent"] == structured
    else:
        assert result["structuredContent"]["timezone"] == "UTC", result
    assert not run.leaks, run.leaks


def test_call_unknown_tool_fails_naming_it(standard_config: Path) -> None:
    run = run_cli(
        ["call", "fx__does_not_exist", "--config", str(standard_config)],
        cwd=standard_config.parent,
    )
    assert run.returncode != 0, run.describe()
    assert "fx__does_not_exist" in run.stdout + run.stderr, run.describe()
    assert not run.leaks, run.leaks


def test_call_rejects_args_that_are_not_json(standard_config: Path) -> None:
    run = run_cli(
        ["call", "fx__echo", "--args", "{not json", "--config", str(standard_config)],
        cwd=standard_config.parent,
    )
    assert run.returncode != 0, run.describe()
    assert "Traceback" not in run.stdout + run.stderr, run.describe()
