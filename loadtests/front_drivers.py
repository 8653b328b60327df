"""Load drivers for the two fronts wrk cannot drive: legacy HTTP+SSE and stdio.

- :func:`legacy_sse` — MCP 2024-11-05's transport: ``GET /sse`` opens the session's stream
  (its first event names the ``/messages?session_id=…`` URL), every request is a POST answered
  202, and the response arrives later as a ``message`` event on the stream. ``conns`` workers,
  each with its own keep-alive connection, POST one ``tools/call`` at a time; a call's latency
  runs from the POST's write to its response event.
- :func:`stdio_front` — ``only1mcp stdio``: one pipe, ``conns`` calls kept in flight
  (pipelined), a new one written as each answer arrives; latency from write to answer line.

Both are asyncio on uvloop with raw sockets/pipes and orjson, bounded by ``duration`` (plus a
few seconds to drain), and report their own CPU use: at high rates the Python client, not the
server, can be the limit, and ``client_cpu_pct`` near 100 says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from typing import Any

import orjson
import uvloop

HOST = "127.0.0.1"
ARGS = {"text": "hello", "n": 42}
PROTOCOL = "2025-11-25"
INIT = {
    "protocolVersion": PROTOCOL,
    "capabilities": {},
    "clientInfo": {"name": "only1mcp-loadtest", "version": "1.0"},
}


class Stats:
    """Latencies and errors of one run (seconds in, milliseconds out)."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors = 0
        self.first_error = ""
        self.started = self.stopped = 0.0
        self.cpu = 0.0

    def check(self, msg: dict[str, Any], latency: float) -> None:
        self.latencies.append(latency)
        result = msg.get("result")
        if not isinstance(result, dict) or result.get("isError"):
            self.errors += 1
            self.first_error = self.first_error or orjson.dumps(msg).decode()[:300]

    def summary(self, conns: int) -> dict[str, Any]:
        lat = sorted(self.latencies)
        wall = max(1e-9, self.stopped - self.started)

        def pct(q: float) -> float:
            return lat[min(len(lat) - 1, int(q * len(lat)))] * 1e3 if lat else 0.0

        return {
            "conns": conns,
            "duration_s": wall,
            "requests": len(lat),
            "rps": len(lat) / wall,
            "p50_ms": pct(0.50),
            "p90_ms": pct(0.90),
            "p99_ms": pct(0.99),
            "max_ms": lat[-1] * 1e3 if lat else 0.0,
            "errors": self.errors,
            "first_error": self.first_error,
            "client_cpu_pct": 100.0 * self.cpu / wall,
        }


def call(req_id: int, tool: str, arguments: dict[str, Any] = ARGS) -> bytes:
    params = {"name": tool, "arguments": arguments}
    return orjson.dumps({"jsonrpc": "2.0", "id": req_id, "method": "tools/call", "params": params})


def run(coro: Any) -> dict[str, Any]:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        result: dict[str, Any] = runner.run(coro)
        return result


# ------------------------------------------------------------------------ legacy SSE


class Dechunker:
    """Incremental HTTP/1.1 chunked transfer decoding (the SSE stream is chunked)."""

    def __init__(self) -> None:
        self.buf = b""
        self.need: int | None = None

    def feed(self, data: bytes) -> bytes:
        self.buf += data
        out = []
        while True:
            if self.need is None:
                end = self.buf.find(b"\r\n")
                if end < 0:
                    break
                self.need = int(self.buf[:end].split(b";")[0], 16)
                self.buf = self.buf[end + 2 :]
            if len(self.buf) < self.need + 2:
                break
            out.append(self.buf[: self.need])
            self.buf, self.need = self.buf[self.need + 2 :], None
        return b"".join(out)


class SseStream:
    """The session's stream: events parsed as they come, responses handed to their futures."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader
        self.waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.endpoint: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def pump(self) -> None:
        head = await self.reader.readuntil(b"\r\n\r\n")
        chunked = b"chunked" in head.lower()
        dechunk, text = Dechunker(), b""
        while data := await self.reader.read(262144):
            text += dechunk.feed(data) if chunked else data
            *events, text = text.replace(b"\r\n", b"\n").split(b"\n\n")
            for event in events:
                self.on_event(event)

    def on_event(self, event: bytes) -> None:
        kind, data = b"message", []
        for line in event.split(b"\n"):
            if line.startswith(b"event:"):
                kind = line[6:].strip()
            elif line.startswith(b"data:"):
                data.append(line[5:].strip())
        if kind == b"endpoint" and not self.endpoint.done():
            self.endpoint.set_result(b"".join(data).decode())
        elif kind == b"message" and data:
            msg = orjson.loads(b"\n".join(data))
            req_id = msg.get("id") if isinstance(msg, dict) else None
            waiter = self.waiting.pop(req_id, None) if isinstance(req_id, int) else None
            if waiter is not None and not waiter.done():
                waiter.set_result(msg)


class Poster:
    """One keep-alive connection POSTing messages to the session's URL."""

    def __init__(self, port: int, path: str) -> None:
        self.port, self.path = port, path.encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes) -> None:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        assert self.reader is not None
        self.writer.write(
            b"POST " + self.path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.lower().split(b"\r\n"):
            if line.startswith(b"content-length:"):
                length = int(line[15:])
        if length:
            await self.reader.readexactly(length)
        if status >= 300:
            raise RuntimeError(f"POST {self.path.decode()} answered {status}")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def _legacy(port: int, tool: str, conns: int, duration: float) -> dict[str, Any]:
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(b"GET /sse HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
    stream = SseStream(reader)
    pump = asyncio.create_task(stream.pump())
    posters: list[Poster] = []
    try:
        path = await asyncio.wait_for(stream.endpoint, 10)
        posters = [Poster(port, path) for _ in range(conns)]

        async def request(poster: Poster, req_id: int, body: bytes) -> dict[str, Any]:
            stream.waiting[req_id] = asyncio.get_running_loop().create_future()
            waiter = stream.waiting[req_id]
            await poster.post(body)
            return await asyncio.wait_for(waiter, 10)

        init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": INIT}
        await request(posters[0], 0, orjson.dumps(init))
        await posters[0].post(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
        stats = Stats()

        async def worker(n: int, poster: Poster, until: float) -> None:
            req_id = n * 1_000_000_000
            while time.perf_counter() < until:
                req_id += 1
                start = time.perf_counter()
                msg = await request(poster, req_id, call(req_id, tool))
                stats.check(msg, time.perf_counter() - start)

        return await _timed(
            stats,
            conns,
            duration,
            lambda until: [worker(n, poster, until) for n, poster in enumerate(posters)],
        )
    finally:
        pump.cancel()
        with contextlib.suppress(BaseException):
            await pump
        for poster in posters:
            poster.close()
        writer.close()


async def _timed(stats: Stats, conns: int, duration: float, workers: Any) -> dict[str, Any]:
    """Run the workers until ``duration`` has passed (plus 10 s to finish the last calls)."""
    cpu = time.process_time()
    stats.started = time.perf_counter()
    until = stats.started + duration
    await asyncio.wait_for(asyncio.gather(*workers(until)), duration + 10)
    stats.stopped = time.perf_counter()
    stats.cpu = time.process_time() - cpu
    return stats.summary(conns)


def legacy_sse(port: int, tool: str, conns: int, duration: float) -> dict[str, Any]:
    """tools/call through Only1MCP's legacy HTTP+SSE front at ``port`` (see module doc)."""
    return run(_legacy(port, tool, conns, duration))


# ----------------------------------------------------------------------------- stdio


async def _stdio(
    cmd: list[str],
    env: dict[str, str],
    tool: str,
    conns: int,
    duration: float,
    arguments: dict[str, Any],
) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env=env,
        limit=2**24,
        start_new_session=True,  # its own process group: the backends go with it
    )
    assert proc.stdin is not None and proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout
    try:
        init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": INIT}
        stdin.write(orjson.dumps(init) + b"\n")
        await asyncio.wait_for(stdout.readline(), 30)
        stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        stats = Stats()
        sent: dict[int, float] = {}
        ids = iter(range(1, 1 << 62))

        async def pipeline(until: float) -> None:
            for _ in range(conns):
                req_id = next(ids)
                sent[req_id] = time.perf_counter()
                stdin.write(call(req_id, tool, arguments) + b"\n")
            while sent:
                line = await stdout.readline()
                if not line:
                    raise RuntimeError(f"{cmd[0]} closed its stdout")
                msg = orjson.loads(line)
                start = sent.pop(msg.get("id"), None)
                if start is None:
                    continue  # a notification
                now = time.perf_counter()
                stats.check(msg, now - start)
                if now < until:
                    req_id = next(ids)
                    sent[req_id] = now
                    stdin.write(call(req_id, tool, arguments) + b"\n")

        return await _timed(stats, conns, duration, lambda until: [pipeline(until)])
    finally:
        stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()


def stdio_front(
    cmd: list[str],
    env: dict[str, str],
    tool: str,
    conns: int,
    duration: float,
    arguments: dict[str, Any] = ARGS,
) -> dict[str, Any]:
    """tools/call through ``only1mcp stdio`` (``cmd``), ``conns`` calls in flight; as well
    any stdio MCP server's ``tool`` (called with ``arguments``), spoken to directly."""
    return run(_stdio(cmd, env, tool, conns, duration, arguments))
