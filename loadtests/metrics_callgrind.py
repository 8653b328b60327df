"""The metrics' cost in instructions: N handshake ``tools/call`` through the real HTTP app
(``http_app``, the stdio echo backend), in-process, metrics on or off. Run it under callgrind
for two N and take the difference (start-up cancels out):

    for state in on off; do for n in 160 1760; do PYTHONHASHSEED=0 PYTHONPATH=python \
      valgrind --tool=callgrind --callgrind-out-file=cg.$state.$n \
      .venv/bin/python loadtests/metrics_callgrind.py $state $n; done; done
    # instructions per call = (Ir(1760) - Ir(160)) / 1600, for each state

It leaves out uvicorn's HTTP parsing and the sockets (the ASGI app is called directly), so the
ratio it gives is an upper bound of the ratio on a running ``only1mcp start``.
"""

import asyncio
import sys
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h
from asgi_call import call

from only1mcp.app import http_app
from only1mcp.config import Config
from only1mcp.front.origin import OriginPolicy

BACKEND = h.backend_command("c")
ON = sys.argv[1] == "on"
N = int(sys.argv[2])


async def main() -> None:
    config = Config.model_validate(
        {
            "log_level": "warning",
            "servers": {
                "bench": {
                    "command": BACKEND[0],
                    "args": BACKEND[1:],
                    "timeout": 60,
                    "health": {"interval": 3600},
                }
            },
            "metrics": {"enabled": ON},
        }
    )
    s = http_app(config, OriginPolicy([], "127.0.0.1"))
    await s.front.gateway.start()
    base = [
        (b"host", b"127.0.0.1"),
        (b"accept", b"application/json, text/event-stream"),
        (b"content-type", b"application/json"),
    ]
    init = orjson.dumps(
        {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {}},
        }
    )
    sid = dict((await call(s.asgi, init, base))[0]["headers"])[b"mcp-session-id"]
    hdrs = [*base, (b"mcp-session-id", sid), (b"mcp-protocol-version", b"2025-11-25")]
    body = orjson.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "bench__echo", "arguments": {"text": "hello", "n": 42}},
        }
    )
    for _ in range(N // 16):
        await asyncio.gather(*(call(s.asgi, body, hdrs) for _ in range(16)))
    await s.front.gateway.stop()


asyncio.run(main())
