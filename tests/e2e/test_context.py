"""Lazy discovery and catalog shaping end to end: the official SDK client, both eras, both
fronts, in front of the PyPI git and time servers.

The config pins the time server's current-time tool, hides the git server's ``repo_path``
behind a fixed value and renames ``git_status`` to ``status``, denies ``git_reset`` and
compacts schemas: a client lists the meta-tools and the pinned tool, finds the rest with
``search_tools`` and calls them with ``call_tool`` or by name.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from mcp.shared.exceptions import MCPError

from .conftest import FRONT_KINDS, Front, list_all_tools, open_front, text_of, venv_bin

pytestmark = pytest.mark.anyio

MODES = ["legacy", "2026-07-28"]


@pytest.fixture(scope="module")
def lazy_config(tmp_path_factory: pytest.TempPathFactory, git_repo: Path) -> Path:
    config = {
        "schemas": "compact",
        "discovery": {"mode": "lazy", "always_visible": ["time__get_current_time"]},
        "servers": {
            "time": {"command": venv_bin("mcp-server-time"), "args": ["--local-timezone", "UTC"]},
            "git": {
                "command": venv_bin("mcp-server-git"),
                "tools": {
                    "deny": ["git_reset"],
                    "overrides": {
                        "git_status": {
                            "name": "status",
                            "description": "What changed in the project repository",
                            "arguments": {"repo_path": {"value": str(git_repo)}},
                        }
                    },
                },
            },
        },
    }
    path = tmp_path_factory.mktemp("context") / "lazy.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture(scope="module", params=FRONT_KINDS)
def lazy_front(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, lazy_config: Path
) -> Iterator[Front]:
    """An aggregator over the lazy config, per front transport, shared by the module."""
    workdir = tmp_path_factory.mktemp(f"lazy-{request.param}")
    with open_front(request.param, lazy_config, workdir) as front:
        yield front


async def _search(client: Any, query: str, limit: int = 5) -> list[dict[str, Any]]:
    result = await client.call_tool("search_tools", {"query": query, "limit": limit})
    assert not result.is_error, text_of(result)
    tools: list[dict[str, Any]] = json.loads(text_of(result))
    assert result.structured_content == {"tools": tools}
    return tools


@pytest.mark.parametrize("mode", MODES)
async def test_lazy_discovery_with_shaping(lazy_front: Front, mode: str) -> None:
    async with lazy_front.client(mode=mode) as client:
        with anyio.fail_after(60):
            tools, _ = await list_all_tools(client)
            assert [t.name for t in tools] == [
                "search_tools",
                "call_tool",
                "time__get_current_time",
            ]

            found = await _search(client, "what time is it now in Tokyo", 3)
            assert found[0]["name"] == "time__get_current_time"
            assert "title" not in json.dumps(found[0]["inputSchema"])  # compact

            [status] = await _search(client, "what changed in my repository", 1)
            assert status["name"] == "git__status"
            assert status["description"] == "What changed in the project repository"
            assert "repo_path" not in status["inputSchema"].get("properties", {})
            names = {t["name"] for t in await _search(client, "reset unstage staged changes", 20)}
            assert "git__git_reset" not in names

            called = await client.call_tool("call_tool", {"name": "git__status", "arguments": {}})
            assert not called.is_error, text_of(called)
            assert "branch" in text_of(called).lower()
            direct = await client.call_tool("git__status", {})
            assert text_of(direct) == text_of(called)
            now = await client.call_tool(
                "call_tool",
                {"name": "time__get_current_time", "arguments": {"timezone": "Asia/Tokyo"}},
            )
            assert "Asia/Tokyo" in text_of(now)

            with pytest.raises(MCPError) as denied:
                await client.call_tool("git__git_reset", {"repo_path": "/"})
            assert "git__git_reset is not exposed by the configuration" in denied.value.message
            with pytest.raises(MCPError) as fixed:
                await client.call_tool("git__status", {"repo_path": "/"})
            assert "'repo_path' of tool 'git__status' is fixed" in fixed.value.message
            with pytest.raises(MCPError) as nested:
                await client.call_tool("call_tool", {"name": "search_tools"})
            assert "is called directly" in nested.value.message
