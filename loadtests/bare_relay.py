"""The bare relay: uvicorn in front of one echo backend pipe, nothing else (a reference point).

What a minimal hand-written proxy costs: the ceiling app's front plus one stdio hop — a new
backend-local id per request, the frame written to the pipe, the response line matched to its
asyncio future by id and its id swapped back. No catalog, no router, no checks.

    python loadtests/bare_relay.py --port 8002 -- CMD [ARGS...]   # the backend command
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import secrets

import orjson
import uvicorn

JSON = [(b"content-type", b"application/json")]


class Relay(asyncio.SubprocessProtocol):
    def __init__(self) -> None:
        self.pending: dict[int, asyncio.Future[dict]] = {}
        self.ids = itertools.count(1)
        self.tail = b""
        self.stdin: asyncio.WriteTransport | None = None
        self.sessions: set[bytes] = set()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        *lines, self.tail = (self.tail + data).split(b"\n")
        for line in lines:
            msg = orjson.loads(line)
            future = self.pending.pop(msg.get("id"), None)
            if future is not None and not future.done():
                future.set_result(msg)

    async def call(self, msg: dict) -> dict:
        local = next(self.ids)
        future = asyncio.get_running_loop().create_future()
        self.pending[local] = future
        self.stdin.write(orjson.dumps({**msg, "id": local}) + b"\n")  # type: ignore[union-attr]
        return await future

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        body = (await receive()).get("body", b"")  # wrk's bodies arrive in one chunk
        if scope["path"] == "/healthz":
            status, out, headers = 200, b'{"status":"ok"}', JSON
        else:
            msg = orjson.loads(body)
            sid = dict(scope["headers"]).get(b"mcp-session-id")
            if msg.get("method") == "initialize":
                answer = await self.call(msg)
                answer["id"] = msg["id"]
                sid = secrets.token_urlsafe(32).encode()
                self.sessions.add(sid)
                status, out, headers = 200, orjson.dumps(answer), [*JSON, (b"mcp-session-id", sid)]
            elif sid not in self.sessions:
                status, out, headers = 404, b"", []
            elif "id" not in msg:
                status, out, headers = 202, b"", []
            else:
                answer = await self.call(msg)
                answer["id"] = msg["id"]
                status, out, headers = 200, orjson.dumps(answer), JSON
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": out})


async def serve(host: str, port: int, command: list[str]) -> None:
    relay = Relay()
    transport, _ = await asyncio.get_running_loop().subprocess_exec(lambda: relay, *command)
    relay.stdin = transport.get_pipe_transport(0)  # type: ignore[assignment]
    config = uvicorn.Config(
        relay,
        host=host,
        port=port,
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
    )
    await uvicorn.Server(config).serve()
    transport.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("command", nargs="+")
    opts = parser.parse_args()
    import uvloop

    uvloop.run(serve(opts.host, opts.port, opts.command))


if __name__ == "__main__":
    main()
