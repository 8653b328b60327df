"""Driving the HTTP front's ASGI app in-process, with a principal in the scope as the
authentication middleware would put it (the middleware itself is tested on its own)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from only1mcp.app import http_app
from only1mcp.auth.principal import ANONYMOUS, SCOPE_KEY, Principal
from only1mcp.config import Config
from only1mcp.front.http import HttpApp
from only1mcp.front.origin import OriginPolicy, served_origins

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "tiny_server.sh"
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t"}},
}


@dataclass
class Answer:
    status: int
    headers: dict[bytes, bytes]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Stream:
    """An open streaming response (GET /sse, GET /mcp): what it sent so far."""

    task: asyncio.Task[None]
    gone: asyncio.Event
    chunks: list[bytes] = field(default_factory=list)
    status: int = 0

    async def first(self) -> bytes:
        while not self.chunks:
            await asyncio.sleep(0.005)
        return self.chunks[0]


def scope(
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    principal: Principal = ANONYMOUS,
    query: bytes = b"",
) -> dict[str, Any]:
    raw = [(b"host", b"127.0.0.1:8765"), (b"content-type", b"application/json")]
    raw.append((b"accept", b"application/json, text/event-stream"))
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query,
        "headers": raw,
        SCOPE_KEY: principal,
    }


async def request(
    app: HttpApp,
    method: str,
    path: str,
    body: object = None,
    headers: dict[str, str] | None = None,
    principal: Principal = ANONYMOUS,
    query: bytes = b"",
) -> Answer:
    payload = b"" if body is None else orjson.dumps(body)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": payload, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope(method, path, headers, principal, query), receive, send)
    start = sent[0]
    body_bytes = b"".join(m.get("body", b"") for m in sent[1:])
    return Answer(start["status"], dict(start["headers"]), body_bytes)


def open_stream(
    app: HttpApp,
    path: str,
    headers: dict[str, str] | None = None,
    principal: Principal = ANONYMOUS,
) -> Stream:
    gone = asyncio.Event()
    stream: Stream

    async def receive() -> dict[str, Any]:
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            stream.status = message["status"]
        elif message.get("body"):
            stream.chunks.append(message["body"])

    task = asyncio.ensure_future(app(scope("GET", path, headers, principal), receive, send))
    stream = Stream(task, gone)
    return stream


@contextlib.asynccontextmanager
async def running_app(
    front: dict[str, Any], audit_path: Path | None = None
) -> AsyncIterator[HttpApp]:
    """The HTTP front over a started gateway (one tiny stdio server), stopped afterwards."""
    config = Config.model_validate(
        {
            "servers": {"tiny": {"command": "/bin/sh", "args": [str(TINY)]}},
            "front": front,
            "audit": {"path": str(audit_path)} if audit_path else {},
        }
    )
    app = http_app(config, OriginPolicy(served_origins(config.front), config.front.host)).front
    await app.gateway.start()
    try:
        yield app
    finally:
        app.gateway.sessions.close_all()
        await app.gateway.stop()
        app.audit.close()
