"""Fault-injection harness: the real gateway and router in this process, real server processes.

Requests enter through :meth:`Router.handle` exactly as the fronts hand them over, and reach
real child processes: the SDK-built fixture server, or ``tiny_server.sh`` (a POSIX sh MCP server
that starts in milliseconds, for tests that start many processes). Faults are injected from
outside, as they happen in production: SIGKILL, SIGSTOP/SIGCONT, commands that crash at start.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import orjson

from only1mcp.app import assemble
from only1mcp.backends import Backend, BackendState
from only1mcp.config import Config
from only1mcp.gateway import Gateway
from only1mcp.router import Router
from only1mcp.session import Session

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FIXTURE_SERVER = str(FIXTURES / "fixture_server.py")
TINY_SERVER = str(FIXTURES / "tiny_server.sh")

# Active checks off unless a test wants them: the tiny server answers one request at a time.
QUIET: dict[str, Any] = {"health": {"interval": 0}}


def tiny(**env: str) -> dict[str, Any]:
    """A replica (or server) entry: the tiny sh server."""
    return {"command": "/bin/sh", "args": [TINY_SERVER], "env": env}


def sdk_fixture(*extra: str) -> dict[str, Any]:
    """A replica (or server) entry: the SDK fixture server over stdio."""
    return {
        "command": sys.executable,
        "args": [FIXTURE_SERVER, "--transport", "stdio", *extra],
        "env": {"PYTHONUNBUFFERED": "1"},
    }


@dataclass
class Answer:
    ok: bool
    text: str
    code: int | None = None  # the JSON-RPC error code, for errors


@dataclass
class Running:
    gateway: Gateway
    router: Router
    session: Session
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def backend(self, name: str) -> Backend:
        return self.gateway.backends[name]

    def new_session(self, session_id: str) -> Session:
        session = Session(id=session_id)
        self.gateway.sessions.add(session)
        return session

    async def request(
        self, method: str, params: dict[str, Any], session: Session | None = None
    ) -> dict[str, Any]:
        msg = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        answer = await self.router.handle(session or self.session, msg)
        assert answer is not None
        decoded: dict[str, Any] = orjson.loads(answer)
        return decoded

    async def call(
        self, tool: str, arguments: dict[str, Any] | None = None, session: Session | None = None
    ) -> Answer:
        """A tools/call; its text, or the error's message and code."""
        answer = await self.request(
            "tools/call", {"name": tool, "arguments": arguments or {}}, session
        )
        if "error" in answer:
            return Answer(False, answer["error"]["message"], answer["error"]["code"])
        result = answer["result"]
        text = "\n".join(c.get("text", "") for c in result.get("content", []))
        return Answer(not result.get("isError"), text)

    async def tool_names(self) -> tuple[set[str], dict[str, str]]:
        """Every exposed tool name, and the ``_meta`` errors of the list."""
        result = (await self.request("tools/list", {}))["result"]
        meta = result.get("_meta", {}).get("only1mcp/errors", {})
        return {tool["name"] for tool in result["tools"]}, meta


@contextlib.asynccontextmanager
async def running(servers: dict[str, dict[str, Any]]) -> AsyncIterator[Running]:
    """A started gateway over ``servers``; stopped (every process with it) on exit."""
    core = assemble(Config.model_validate({"servers": servers}))
    gateway, router = core.gateway, core.router
    session = Session(id="test-session")
    gateway.sessions.add(session)
    await gateway.start()
    # These tests time calls: from decided servers (the probes run in the background once
    # the gateway is ready, and a session of this capability set would wait for them).
    await gateway.variants.settled()
    try:
        yield Running(gateway, router, session)
    finally:
        with anyio.CancelScope(shield=True):
            await gateway.stop()


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], deadline: float, what: str, poll: float = 0.02
) -> float:
    """Poll ``check`` until it holds; return how long that took (fail after ``deadline`` s)."""
    started = time.monotonic()
    while True:
        outcome = check()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return time.monotonic() - started
        if time.monotonic() - started > deadline:
            raise AssertionError(f"not within {deadline}s: {what}")
        await anyio.sleep(poll)


def ready(backend: Backend) -> bool:
    return backend.state is BackendState.READY


def busy_pid(path: Path) -> int:
    """The pid the tiny server wrote when it began a slow call."""
    return int(path.read_text().strip())


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
