"""CPU per call of HTTP client libraries doing what the HTTP backend does, in one process.

Against loadtests/http_echo_backend.py (a separate process, JSON or ``--sse``), each client POSTs
a tools/call frame and reads the answer (for SSE: the ``data`` of the event) ``--calls`` times
with ``--conc`` calls in flight, on uvloop. Reported: calls/s and this process's CPU time per
call (user + system, µs), the number that decides how many calls one core relays.

* ``httpx`` — AsyncClient, ``send(stream=True)`` + ``aread`` / httpx_sse (the former backend);
* ``aiohttp`` — ClientSession (if installed), SSE parsed by our EventParser;
* ``http1`` — :mod:`only1mcp.backends.http1` + :mod:`only1mcp.backends.eventstream`;
* ``backend`` — the whole ``HttpBackend.send_request`` on http1 (handshake session).

    PYTHONPATH=$PWD/python python benches/http_client_cpu.py [--calls 5000] [--conc 1,16]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvloop

from only1mcp.backends.base import Outbound
from only1mcp.backends.eventstream import EventParser
from only1mcp.backends.http import HttpBackend
from only1mcp.backends.http1 import Pool
from only1mcp.config import HttpServerConfig, Protocol

SERVER = Path(__file__).resolve().parents[1] / "loadtests" / "http_echo_backend.py"
sys.path.insert(0, str(SERVER.parent))
from harness import free_port, http_get  # noqa: E402

FRAME = b'{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello","n":42}}}'  # noqa: E501
INIT = b'{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"b","version":"1"}}}'  # noqa: E501
Call = Callable[[int], Awaitable[bytes]]


def sse_data(body: bytes) -> bytes:
    return EventParser().feed(body)[-1].data


async def session(url: str) -> dict[str, str]:
    pool = Pool(url, {"Accept": "application/json, text/event-stream"})
    response = await pool.request("POST", {"Content-Type": "application/json"}, INIT)
    await response.read()
    pool.close()
    sid = response.headers["mcp-session-id"]
    return {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "Mcp-Session-Id": sid,
        "MCP-Protocol-Version": "2025-11-25",
    }


async def httpx_client(url: str, headers: dict[str, str], sse: bool) -> tuple[Call, Any]:
    import httpx
    from httpx_sse import EventSource

    client = httpx.AsyncClient(headers=headers, limits=httpx.Limits(max_connections=64))

    async def call(i: int) -> bytes:
        request = client.build_request("POST", url, content=FRAME % i, timeout=None)
        response = await client.send(request, stream=True)
        try:
            if sse:
                async for event in EventSource(response).aiter_sse():
                    return event.data.encode()
            return await response.aread()
        finally:
            await response.aclose()
        raise AssertionError

    return call, client.aclose


async def aiohttp_client(url: str, headers: dict[str, str], sse: bool) -> tuple[Call, Any]:
    import aiohttp

    client = aiohttp.ClientSession(headers=headers, connector=aiohttp.TCPConnector(limit=64))

    async def call(i: int) -> bytes:
        async with client.post(url, data=FRAME % i) as response:
            body = await response.read()
        return sse_data(body) if sse else body

    return call, client.close


async def http1_client(url: str, headers: dict[str, str], sse: bool) -> tuple[Call, Any]:
    pool = Pool(url, {}, 64)

    async def call(i: int) -> bytes:
        response = await pool.request("POST", headers, FRAME % i)
        try:
            if sse:
                events = EventParser()
                while chunk := await response.next_chunk():
                    for event in events.feed(chunk):
                        return event.data
            return await response.read()
        finally:
            response.close()

    async def close() -> None:
        pool.close()

    return call, close


async def backend_client(url: str, headers: dict[str, str], sse: bool) -> tuple[Call, Any]:
    backend = HttpBackend("b", HttpServerConfig(url=url, protocol=Protocol.HANDSHAKE))
    await backend.start()

    async def call(i: int) -> bytes:
        req_id = backend.next_id()
        return await backend.send_request(Outbound(FRAME % req_id, req_id, "tools/call"), 10.0)

    return call, backend.close


CLIENTS = {
    "httpx": httpx_client,
    "aiohttp": aiohttp_client,
    "http1": http1_client,
    "backend": backend_client,
}


async def measure(name: str, url: str, sse: bool, calls: int, conc: int) -> str:
    headers = await session(url)
    call, close = await CLIENTS[name](url, headers, sse)
    await asyncio.gather(*(call(i) for i in range(conc)))  # warm up: open the connections
    counter = iter(range(calls))

    async def worker() -> None:
        for i in counter:
            answer = await call(i)
            assert b'"result"' in answer, answer

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conc)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await close()
    kind = "sse" if sse else "json"
    rate, cpu_us = calls / wall, cpu / calls * 1e6
    return f"{name:8} {kind:4} conc={conc:<3} {rate:8.0f} calls/s  {cpu_us:6.1f} µs CPU/call"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--conc", default="1,16")
    parser.add_argument("--clients", default="httpx,aiohttp,http1,backend")
    opts = parser.parse_args()
    for sse in (False, True):
        port = free_port()
        argv = [sys.executable, str(SERVER), "--port", str(port), *(["--sse"] if sse else [])]
        server = subprocess.Popen(argv)
        try:
            while http_get(port, "/healthz") != 200:
                time.sleep(0.05)
            url = f"http://127.0.0.1:{port}/mcp"
            for conc in [int(c) for c in opts.conc.split(",")]:
                for name in opts.clients.split(","):
                    try:
                        line = uvloop.run(measure(name, url, sse, opts.calls, conc))
                    except ImportError as exc:
                        line = f"{name:8} not installed ({exc.name})"
                    print(line, flush=True)
        finally:
            server.kill()
            server.wait()


if __name__ == "__main__":
    main()
