"""The fast stdio MCP backend every load test puts behind the aggregator.

Newline-delimited JSON-RPC on stdin/stdout. It answers ``initialize`` (echoing the requested
``protocolVersion``, capability ``tools``), ``tools/list`` (one tool, ``echo``), ``tools/call``
(the call's ``arguments`` back as one text content item), ``ping``; anything else with an id
gets -32601, notifications are ignored.

Built for speed, not beauty: raw ``os.read`` of up to 256 KiB, every complete line of a chunk
answered, all answers of a chunk written with one ``os.write``. A request the proxy pipelines
therefore costs one loop iteration, not one syscall pair. ``loadtests/echo_backend.c`` is the
same program in C (see ``run_load.py --backend``).

    python loadtests/echo_backend.py            # serve on stdin/stdout
    python loadtests/echo_backend.py --selftest # pipelined and ping-pong rate, standalone
"""

from __future__ import annotations

import contextlib
import os
import sys

import orjson

TOOLS_LIST = {
    "tools": [
        {
            "name": "echo",
            "description": "Return the call's arguments as text.",
            "inputSchema": {"type": "object", "additionalProperties": True},
        }
    ]
}
SERVER_INFO = {"name": "echo-backend", "version": "1.0"}


def answer(msg: dict) -> bytes | None:
    """The response line for one message (None for a notification or a response)."""
    if "id" not in msg or "method" not in msg:
        return None
    method = msg["method"]
    req_id = msg["id"]
    if method == "tools/call":
        args = (msg.get("params") or {}).get("arguments") or {}
        text = orjson.dumps(args).decode()
        result: object = {"content": [{"type": "text", "text": text}], "isError": False}
    elif method == "ping":
        result = {}
    elif method == "tools/list":
        result = TOOLS_LIST
    elif method == "initialize":
        version = (msg.get("params") or {}).get("protocolVersion") or "2025-11-25"
        result = {
            "protocolVersion": version,
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": SERVER_INFO,
        }
    else:
        err = {"code": -32601, "message": f"Method not found: {method}"}
        return orjson.dumps({"jsonrpc": "2.0", "id": req_id, "error": err})
    return orjson.dumps({"jsonrpc": "2.0", "id": req_id, "result": result})


def serve(fd_in: int = 0, fd_out: int = 1) -> None:
    read, write, loads = os.read, os.write, orjson.loads
    tail = b""
    while True:
        chunk = read(fd_in, 262144)
        if not chunk:
            return
        if tail:
            chunk = tail + chunk
        *lines, tail = chunk.split(b"\n")
        out = []
        for line in lines:
            if not line or line.isspace():
                continue
            try:
                msg = loads(line)
            except orjson.JSONDecodeError:
                err = {"code": -32700, "message": "Parse error"}
                out.append(orjson.dumps({"jsonrpc": "2.0", "id": None, "error": err}))
                continue
            if type(msg) is dict:
                reply = answer(msg)
                if reply is not None:
                    out.append(reply)
        if out:
            out.append(b"")
            data = memoryview(b"\n".join(out))
            while data:
                data = data[write(fd_out, data) :]


def selftest(cmd: list[str], seconds: float = 2.0) -> dict[str, float]:
    """Rates of a backend command run standalone: pipelined (batches of 256) and ping-pong."""
    import subprocess
    import time

    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    assert proc.stdin is not None and proc.stdout is not None
    fin, fout = proc.stdin.fileno(), proc.stdout.fileno()

    def call_lines(first: int, n: int) -> bytes:
        return b"".join(
            b'{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo",'
            b'"arguments":{"text":"hello","n":%d}}}\n' % (i, i)
            for i in range(first, first + n)
        )

    def exchange(payload: bytes, n: int) -> None:
        os.write(fin, payload)
        got = 0
        while got < n:
            got += os.read(fout, 1 << 20).count(b"\n")

    exchange(b'{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}\n', 1)
    rates = {}
    for label, batch in (("pipelined_per_s", 256), ("ping_pong_per_s", 1)):
        payload, done, start = call_lines(1, batch), 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            exchange(payload, batch)
            done += batch
        rates[label] = done / (time.perf_counter() - start)
    proc.stdin.close()
    proc.wait(5)
    return rates


if __name__ == "__main__":
    if "--selftest" in sys.argv:
        target = sys.argv[sys.argv.index("--selftest") + 1 :] or [sys.executable, __file__]
        print(orjson.dumps(selftest(target)).decode())
    else:
        with contextlib.suppress(BrokenPipeError, KeyboardInterrupt):
            serve()
