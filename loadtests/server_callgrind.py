"""The handshake/stdio row's cost in instructions, for the whole server: ``only1mcp start``
(uvicorn, its protocol and the app; the C echo backend is another process, not counted) runs
under callgrind with collection off; N ``tools/call`` from CONC keep-alive connections (one
request in flight on each, as wrk sends them) are counted between ``callgrind_control -i on``
and ``-i off``. Deterministic, unlike calls/s or CPU µs on a shared machine, and unlike
metrics_callgrind.py and http_callgrind.py it includes uvicorn's parsing, the request task
and the sockets' user-space side:

    PYTHONHASHSEED=0 .venv/bin/python loadtests/server_callgrind.py 16 1600 [on|off] [ROW]
    # prints instructions per call (metrics on, as the default config, unless "off");
    # ROW "http": the handshake/http-json row instead (http_echo_backend.py, not counted);
    # "2026": the 2026/stdio row; "auth": the handshake/stdio+auth row (a JWT per request)

A/B of two trees: the same command with PYTHONPATH set to the other tree's ``python``.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h

CONC, N = int(sys.argv[1]), int(sys.argv[2])
METRICS = sys.argv[3] != "off" if len(sys.argv) > 3 else True
ROW = sys.argv[4] if len(sys.argv) > 4 else "stdio"
HTTP, STATELESS, AUTH = ROW == "http", ROW == "2026", ROW == "auth"
WARM_UP = 64
NAME = {"http": "handshake/http-json", "2026": "2026/stdio", "auth": "handshake/stdio+auth"}


def config(path: Path, url: str | None) -> Path:
    if url is None:
        h.write_config(path, h.backend_command("c"), auth=AUTH)
    else:
        h.write_http_config(path, url, "handshake")
    lines = path.read_text().splitlines()
    lines.insert(lines.index("    timeout: 10") + 1, "    health: {interval: 3600}")
    if not METRICS:
        lines.append("metrics: {enabled: false}")
    path.write_text("\n".join(lines) + "\n")
    return path


async def client(port: int, session: str | None, count: int, base: int) -> None:
    """``count`` calls on one connection, each answered before the next is sent."""
    reader, writer = await asyncio.open_connection(h.HOST, port)
    lines = {"Mcp-Session-Id": session, "MCP-Protocol-Version": h.PROTOCOL}
    meta = b""
    if STATELESS:
        lines = h.stateless_headers("bench__echo")
        meta = b',"_meta":' + orjson.dumps(h.stateless_meta())
    if AUTH:
        lines |= h.auth_headers()
    head = (
        f"POST /mcp HTTP/1.1\r\nHost: {h.HOST}:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: application/json, text/event-stream\r\n"
        + "".join(f"{name}: {value}\r\n" for name, value in lines.items())
    ).encode()
    for i in range(count):
        body = (
            b'{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"bench__echo",'
            b'"arguments":{"text":"hello","n":42}%s}}' % (base + i, meta)
        )
        writer.write(head + b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        answer = await reader.readuntil(b"\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 200 "), answer
        length = int(answer.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        data = await reader.readexactly(length)
        assert b'"result"' in data and b'"isError":true' not in data, data
    writer.close()


async def calls(port: int, session: str | None, n: int) -> None:
    await asyncio.gather(*(client(port, session, n // CONC, k * 10**7) for k in range(CONC)))


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="server-callgrind-"))
    out = work / "callgrind.out"
    backend = h.http_backend_target("backend", sse=False) if HTTP else None
    if backend is not None:
        backend.start()
    target = h.only1mcp_target("only1mcp", config(work / "config.yaml", backend and backend.url))
    if STATELESS:
        target.era = h.STATELESS
    if AUTH:
        target.headers = h.auth_headers()
    target.cmd = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}",
        *target.cmd,
    ]
    target.start(timeout=300)
    try:
        session = target.open_session()
        assert session is not None or STATELESS
        asyncio.run(calls(target.port, session, WARM_UP))
        control = ["callgrind_control", "-i"]
        subprocess.run([*control, "on", str(target.pid)], check=True, capture_output=True)
        started = time.monotonic()
        asyncio.run(calls(target.port, session, N))
        subprocess.run([*control, "off", str(target.pid)], check=True, capture_output=True)
        seconds = time.monotonic() - started
    finally:
        target.stop()  # callgrind writes its counts as the server exits
        if backend is not None:
            backend.stop()
    totals = [line for line in out.read_text().splitlines() if line.startswith("totals:")]
    per_call = int(totals[0].split()[1]) / N
    print(
        f"{NAME.get(ROW, 'handshake/stdio')} c={CONC} "
        f"metrics {'on' if METRICS else 'off'}: {per_call:,.0f} "
        f"instructions per call ({N} calls, {seconds:.1f} s under callgrind; {out})"
    )


main()
