"""One POST through an ASGI app called in-process (no uvicorn, no client socket): what the
in-process cost measurements (metrics_callgrind.py, http_callgrind.py) drive the app with."""

from __future__ import annotations

import asyncio
from typing import Any


async def call(app: Any, body: bytes, headers: list[tuple[bytes, bytes]]) -> list[Any]:
    """POST ``body`` to ``/mcp``; the ASGI messages the app sent."""
    done = False

    async def receive() -> dict[str, Any]:
        nonlocal done
        if done:
            await asyncio.sleep(3600)
        done = True
        return {"type": "http.request", "body": body, "more_body": False}

    sent: list[Any] = []

    async def send(m: Any) -> None:
        sent.append(m)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/mcp",
        "headers": headers,
        "query_string": b"",
        "client": ("127.0.0.1", 1),
    }
    await app(scope, receive, send)
    return sent
