"""The HTTP-backend rows' cost in instructions (or CPU): N ``tools/call`` through the real HTTP
app (``http_app``, in-process, on uvloop as ``only1mcp start`` runs) to
``loadtests/http_echo_backend.py`` (JSON answers; a subprocess this script starts), from a
handshake client (``hs``) or a 2026-07-28 one (``2026``) to a backend spoken to in that era,
CONC calls at a time. The backend is another process, so callgrind counts Only1MCP alone: run
it for two N and take the difference (start-up cancels out). Deterministic, unlike calls/s or
CPU µs on a shared machine (the wrk rows of PERFORMANCE.md):

    for n in 384 1920; do PYTHONHASHSEED=0 PYTHONPATH=python valgrind --tool=callgrind \
      --callgrind-out-file=cg.$n .venv/bin/python loadtests/http_callgrind.py hs 16 $n; done
    # instructions per call = (Ir(1920) - Ir(384)) / 1536

``--cpu`` instead prints CPU µs per call (median of 5 blocks of N after a warm-up): a quick
A/B of two trees is this script run with each one's PYTHONPATH, alternately. Like
metrics_callgrind.py it leaves out uvicorn's parsing and the client's socket, so it measures
what a change of the app or of the backend client does, not the whole row.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h
from asgi_call import call

from only1mcp.app import http_app
from only1mcp.config import Config
from only1mcp.front.origin import OriginPolicy

ERA, CONC, N = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
CPU = "--cpu" in sys.argv
CALL = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/call",
    "params": {"name": "bench__echo", "arguments": {"text": "hello", "n": 42}},
}
BASE = [
    (b"host", b"127.0.0.1"),
    (b"accept", b"application/json, text/event-stream"),
    (b"content-type", b"application/json"),
]


async def request(app: Any) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The tools/call body and headers of this era's client (a handshake one initializes)."""
    if ERA == "2026":
        body = orjson.dumps({**CALL, "params": {**CALL["params"], "_meta": h.stateless_meta()}})
        extra = h.stateless_headers("bench__echo").items()
        return body, [*BASE, *((k.lower().encode(), v.encode()) for k, v in extra)]
    hello = {"protocolVersion": h.PROTOCOL, "capabilities": {}}
    init = orjson.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": hello})
    sid = dict((await call(app, init, BASE))[0]["headers"])[b"mcp-session-id"]
    return orjson.dumps(CALL), [
        *BASE,
        (b"mcp-session-id", sid),
        (b"mcp-protocol-version", h.PROTOCOL.encode()),
    ]


async def calls(app: Any, body: bytes, headers: list[tuple[bytes, bytes]], n: int) -> float:
    """``n`` calls, CONC at a time; CPU µs per call."""
    started = time.process_time()
    for _ in range(n // CONC):
        await asyncio.gather(*(call(app, body, headers) for _ in range(CONC)))
    return (time.process_time() - started) / n * 1e6


async def main(url: str) -> None:
    era = h.STATELESS if ERA == "2026" else "handshake"
    server = {"url": url, "protocol": era, "timeout": 60, "health": {"interval": 3600}}
    config = Config.model_validate({"log_level": "warning", "servers": {"bench": server}})
    s = http_app(config, OriginPolicy([], "127.0.0.1"), watch=False)
    await s.front.gateway.start()
    body, headers = await request(s.asgi)
    answer = await call(s.asgi, body, headers)
    assert b'"result"' in answer[-1]["body"], answer
    if CPU:
        await calls(s.asgi, body, headers, N)
        blocks = [await calls(s.asgi, body, headers, N) for _ in range(5)]
        print(f"{ERA} c={CONC}: {statistics.median(blocks):.1f} CPU µs per call")
    else:
        await calls(s.asgi, body, headers, N)
    await s.front.gateway.stop()


backend = h.http_backend_target("http_callgrind backend", sse=False)
with h.running(backend):
    uvloop.run(main(backend.url))
