"""First run, end to end with real processes: ``init`` → ``start`` → a call with the official
``mcp`` SDK client; ``import`` of a Claude Desktop file naming a real stdio server → ``start``
→ a call; ``status`` and ``tools`` against the running aggregator's admin listener; the start
progress in its log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest
import yaml
from e2e.conftest import (
    BIN_DIR,
    FIXTURE_SERVER,
    HttpAggregator,
    call_outcome,
    free_port,
    write_claude_config,
)
from mcp import Client
from typer.testing import CliRunner

from only1mcp.cli import app

#: The fixture server over stdio, as a desktop client's entry names it.
FX = {
    "command": sys.executable,
    "args": [str(FIXTURE_SERVER), "--transport", "stdio", "--name", "fx"],
    "env": {"PYTHONUNBUFFERED": "1"},
}


@dataclass
class Running:
    agg: HttpAggregator
    admin: str
    config: Path


def cli(*argv: str) -> tuple[int, str]:
    """``only1mcp ARGV`` in process; its exit code and output (stdout and stderr), unwrapped."""
    run = CliRunner().invoke(app, list(argv))
    return run.exit_code, run.output


def start(config: Path, admin_port: int) -> Iterator[Running]:
    """``only1mcp start`` on ``config`` with the venv's programs on PATH (where the demo
    servers are); stopped, and checked for a clean exit, afterwards."""
    env = {**os.environ, "PATH": f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}"}
    with HttpAggregator(config, config.with_suffix(".log"), env=env).healthy() as agg:
        yield Running(agg, f"http://127.0.0.1:{admin_port}", config)


def with_admin_port(config: Path, port: int) -> None:
    """The template's admin listener on a free port (8766 may be taken on a test machine)."""
    text = config.read_text()
    assert "  port: 8766\n" in text
    config.write_text(text.replace("  port: 8766\n", f"  port: {port}\n"))


async def call(url: str, name: str, arguments: dict[str, object]) -> tuple[bool, str]:
    async with Client(url, cache=None) as client:
        with anyio.fail_after(30):
            return await call_outcome(client, name, arguments)


@pytest.fixture(scope="module")
def solo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    work = tmp_path_factory.mktemp("solo")
    subprocess.run(["git", "init", "-q", str(work)], check=True)  # the git server's repository
    config = work / "only1mcp.yaml"
    code, output = cli("init", "--output", str(config))
    assert code == 0, output
    port = free_port()
    with_admin_port(config, port)
    yield from start(config, port)


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    work = tmp_path_factory.mktemp("imported")
    source = write_claude_config(work / "claude_desktop_config.json", {"fx": FX})
    config = work / "only1mcp.yaml"
    code, output = cli("import", "--from", "claude", str(source), "--output", str(config))
    assert code == 0, output
    port = free_port()
    with config.open("a") as out:
        out.write(f"\nadmin:\n  port: {port}\n")
    yield from start(config, port)


@pytest.mark.anyio
async def test_init_solo_starts_and_serves(solo: Running) -> None:
    ok, text = await call(solo.agg.url, "time__get_current_time", {"timezone": "UTC"})
    assert ok and "UTC" in text, text
    ok, text = await call(solo.agg.url, "git__git_status", {"repo_path": str(solo.config.parent)})
    assert ok, text


@pytest.mark.anyio
async def test_imported_claude_config_starts_and_serves(imported: Running) -> None:
    ok, text = await call(imported.agg.url, "fx__echo", {"text": "imported"})
    assert ok and text == "imported", text


def test_start_progress_in_the_log(imported: Running) -> None:
    log = imported.agg.log.read_text()
    assert "server 'fx' (stdio): starting" in log, log
    assert "server 'fx': ready in" in log, log
    assert "1 of 1 servers up" in log, log  # the summary table's title
    row = next(line for line in log.splitlines() if line.startswith("│ fx "))
    assert "stdio" in row and "ready" in row, row


def test_status_shows_servers_and_sessions(imported: Running) -> None:
    code, output = cli("status", "--admin", imported.admin)
    assert code == 0, output
    row = next(line for line in output.splitlines() if line.startswith("│ fx "))
    assert "ready" in row and "closed" in row, output  # state, breaker
    assert "servers 1/1 up" in output and "sessions:" in output, output
    assert "config generation 0" in output, output


def test_status_json(imported: Running) -> None:
    code, output = cli("status", "--admin", imported.admin, "--json")
    assert code == 0, output
    found = json.loads(output)
    assert [s["name"] for s in found["servers"]] == ["fx"]
    assert found["servers"][0]["state"] == "ready"
    assert {"overview", "sessions"} <= set(found)


def test_status_when_the_admin_listener_is_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, output = cli("status", "--admin", url)
    assert code == 1
    assert f"cannot reach the admin listener at {url}" in output, output
    assert "only1mcp start" in output and "--admin URL" in output, output


def test_status_pointed_at_the_mcp_endpoint(imported: Running) -> None:
    code, output = cli("status", "--admin", imported.agg.base)
    assert code == 1 and "404: is" in output and "not the MCP endpoint" in output, output


def test_tools_from_the_admin_api_with_search(imported: Running) -> None:
    code, output = cli("tools", "--admin", imported.admin)
    assert code == 0, output
    assert "fx__echo" in output and "fx__add" in output, output
    code, output = cli("tools", "--admin", imported.admin, "--search", "add two numbers")
    assert code == 0, output
    rows = [line for line in output.splitlines() if line.startswith("│ fx__")]
    assert rows and rows[0].startswith("│ fx__add "), output


def test_tools_from_a_config(imported: Running) -> None:
    code, output = cli("tools", "--config", str(imported.config), "-s", "echo", "--limit", "1")
    assert code == 0, output
    rows = [line for line in output.splitlines() if line.startswith("│ fx__")]
    assert len(rows) == 1 and rows[0].startswith("│ fx__echo "), output


def test_team_status_needs_a_key(tmp_path: Path) -> None:
    """``init --template team`` → ``start``: the admin listener wants one of the printed keys,
    and ``status`` says how to give it."""
    config = tmp_path / "team.yaml"
    code, output = cli("init", "-t", "team", "-o", str(config))
    assert code == 0, output
    keys = dict(line.split(": ", 1) for line in output.splitlines() if line.startswith("  "))
    port = free_port()
    with_admin_port(config, port)
    # The fixture server instead of time and git: only the admin listener's guard is tested.
    document = yaml.safe_load(config.read_text())
    document["servers"] = {"fx": FX}
    config.write_text(yaml.safe_dump(document))
    for running in start(config, port):
        code, output = cli("status", "--admin", running.admin)
        assert code == 1 and "401" in output and "--api-key KEY" in output, output
        code, output = cli("status", "--admin", running.admin, "--api-key", keys["  bob"])
        assert code == 1 and "403" in output and "admin.roles" in output, output
        code, output = cli("status", "--admin", running.admin, "--api-key", keys["  alice"])
        assert code == 0 and "│ fx " in output, output
