"""Roots through a shared server: the published ``mcp-server-filesystem`` (npm, a real process
behind ``only1mcp start``) asks ``roots/list`` outside any request, right after ``initialize``
and on every ``notifications/roots/list_changed``, and replaces the directories it allows with
the roots it gets. Shared by every client of Only1MCP, it must get the union of the roots of the
connected clients that declare roots, asked again as clients come and go; what it allows shows
what it got."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from differential.servers import JS_BIN, node
from mcp import Client

from .conftest import open_front, text_of, write_config

pytestmark = pytest.mark.anyio
SETTLE = 15.0  # seconds a change of roots may take to reach the server


def answering(directory: Path) -> Callable[..., Any]:
    async def list_roots(_context: Any) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[types.Root(uri=f"file://{directory}")])

    return list_roots


async def allowed(client: Client) -> set[str]:
    text = text_of(await client.call_tool("fs__list_allowed_directories", {}))
    return {line for line in text.splitlines()[1:] if line}


async def until_allowed(client: Client, expected: set[Path]) -> None:
    want = {str(path) for path in expected}
    seen: set[str] = set()
    with anyio.move_on_after(SETTLE):
        while (seen := await allowed(client)) != want:
            await anyio.sleep(0.1)
    assert seen == want


async def test_a_shared_server_gets_the_roots_of_every_client(tmp_path: Path) -> None:
    root = Path(os.path.realpath(tmp_path))
    start, one_dir, two_dir = root / "start", root / "one", root / "two"
    for directory in (start, one_dir, two_dir):
        directory.mkdir()
    server = {"command": node(), "args": [str(JS_BIN / "mcp-server-filesystem"), str(start)]}
    config = write_config(root / "only1mcp.yaml", {"fs": {**server, "timeout": 30}})
    with open_front("http", config, root / "run") as front:
        async with front.client(mode="legacy") as plain:  # declares no roots: nothing changes
            await until_allowed(plain, {start})
        async with front.client(mode="legacy", list_roots_callback=answering(one_dir)) as one:
            await until_allowed(one, {one_dir})
            async with front.client(mode="legacy", list_roots_callback=answering(two_dir)) as two:
                await until_allowed(two, {one_dir, two_dir})
            await until_allowed(one, {one_dir})  # the second client went away


async def test_a_session_instance_gets_the_roots_of_its_own_client(tmp_path: Path) -> None:
    """With ``isolation: session`` each client's instance asks that client alone."""
    root = Path(os.path.realpath(tmp_path))
    start, one_dir, two_dir = root / "start", root / "one", root / "two"
    for directory in (start, one_dir, two_dir):
        directory.mkdir()
    server = {"command": node(), "args": [str(JS_BIN / "mcp-server-filesystem"), str(start)]}
    config = write_config(
        root / "only1mcp.yaml", {"fs": {**server, "timeout": 30, "isolation": "session"}}
    )
    with open_front("http", config, root / "run") as front:
        async with (
            front.client(mode="legacy", list_roots_callback=answering(one_dir)) as one,
            front.client(mode="legacy", list_roots_callback=answering(two_dir)) as two,
        ):
            await until_allowed(one, {one_dir})
            await until_allowed(two, {two_dir})
