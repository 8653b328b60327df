"""Record the tools/list of the five servers of issue 15, as the official SDK client gets them.

Run once (``python tools/context/snapshot.py``); it writes ``docs/data/context/servers.json``
(server → its tools, in the order it listed them), the checked-in snapshot that
``make context-report`` and the tests read. The servers: the npm ``server-everything`` and
``server-filesystem`` (tools/mcp-js), and ``mcp-server-git``, ``-time`` and ``-fetch`` (PyPI).
``extra.json`` gets the npm ``server-memory``'s, which only the large catalog's generator
(``context_catalogs.py``) uses.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

ROOT = Path(__file__).resolve().parents[2]
JS = ROOT / "tools" / "mcp-js" / "node_modules" / "@modelcontextprotocol"
DATA = ROOT / "docs" / "data" / "context"


def servers(scratch: str) -> dict[str, StdioServerParameters]:
    py = sys.executable
    return {
        "everything": StdioServerParameters(
            command="node", args=[str(JS / "server-everything" / "dist" / "index.js"), "stdio"]
        ),
        "filesystem": StdioServerParameters(
            command="node", args=[str(JS / "server-filesystem" / "dist" / "index.js"), scratch]
        ),
        "git": StdioServerParameters(command=py, args=["-m", "mcp_server_git"]),
        "time": StdioServerParameters(command=py, args=["-m", "mcp_server_time"]),
        "fetch": StdioServerParameters(command=py, args=["-m", "mcp_server_fetch"]),
    }


def extra(scratch: str) -> dict[str, StdioServerParameters]:
    memory = str(JS / "server-memory" / "dist" / "index.js")
    env = {"MEMORY_FILE_PATH": str(Path(scratch) / "memory.jsonl"), "PATH": "/usr/bin:/bin"}
    return {"memory": StdioServerParameters(command="node", args=[memory], env=env)}


async def tools_of(params: StdioServerParameters) -> list[dict[str, Any]]:
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        listed = await session.list_tools()
        return [
            tool.model_dump(mode="json", by_alias=True, exclude_unset=True) for tool in listed.tools
        ]


async def main() -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    for file, which in (("servers.json", servers), ("extra.json", extra)):
        with tempfile.TemporaryDirectory() as scratch:
            snapshot = {name: await tools_of(p) for name, p in which(scratch).items()}
        (DATA / file).write_text(json.dumps(snapshot, indent=1, ensure_ascii=False) + "\n")
        print(file, {name: len(tools) for name, tools in snapshot.items()})


if __name__ == "__main__":
    asyncio.run(main())
