"""A Claude-Desktop ``{"mcpServers": {...}}`` JSON file works unchanged, on both fronts."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from .conftest import (
    FIXTURE_SERVER,
    Front,
    call_outcome,
    list_all_tools,
    run_cli,
    venv_bin,
    write_claude_config,
)

pytestmark = pytest.mark.anyio


def claude_config(path: Path, git_repo: Path) -> Path:
    """Entries exactly as Claude Desktop's ``claude_desktop_config.json`` spells them."""
    return write_claude_config(
        path,
        {
            "time": {"command": venv_bin("mcp-server-time"), "args": ["--local-timezone", "UTC"]},
            "git": {
                "command": venv_bin("mcp-server-git"),
                "args": ["--repository", str(git_repo)],
            },
            "fx": {
                "command": sys.executable,
                "args": [str(FIXTURE_SERVER), "--transport", "stdio", "--name", "fx"],
                "env": {"PYTHONUNBUFFERED": "1"},
            },
        },
    )


async def test_claude_desktop_config_serves_every_server(
    launch: Callable[[Path], Front], tmp_path: Path, git_repo: Path
) -> None:
    front = launch(claude_config(tmp_path / "claude_desktop_config.json", git_repo))
    async with front.client() as client:
        with anyio.fail_after(30):
            tools, metas = await list_all_tools(client)
            names = {tool.name for tool in tools}
            assert {"time__get_current_time", "git__git_status", "fx__echo"} <= names, names
            assert not any(m.get("only1mcp/errors") for m in metas), metas
            ok, text = await call_outcome(client, "fx__echo", {"text": "claude"})
            assert ok and text == "claude", text
            ok, text = await call_outcome(client, "time__get_current_time", {"timezone": "UTC"})
            assert ok and "UTC" in text, text
            ok, text = await call_outcome(client, "git__git_status", {"repo_path": str(git_repo)})
            assert ok and "nothing to commit" in text, text


def test_claude_desktop_config_validates(tmp_path: Path, git_repo: Path) -> None:
    config = claude_config(tmp_path / "claude_desktop_config.json", git_repo)
    run = run_cli(["validate", str(config)], cwd=tmp_path)
    assert run.returncode == 0, run.describe()
    for server in ("time", "git", "fx"):
        assert server in run.stdout, run.describe()
