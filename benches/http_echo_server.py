"""A Streamable HTTP MCP echo server (handshake era) for the HTTP backend client's load test.

Raw ASGI on uvicorn (uvloop, httptools): ``initialize`` gives a session, ``tools/call`` of
``echo`` answers the arguments as text. ``--sse`` answers every request as the official SDKs
do by default: a ``text/event-stream`` (chunked) with one ``event: message`` whose data is the
response, CRLF line ends, then the end of the stream (``initialize`` excepted: its JSON answer
is what the load harness reads the session from).

    python benches/http_echo_server.py --port 8001 [--sse]     # POST http://127.0.0.1:8001/mcp
"""

from __future__ import annotations

import argparse
import secrets
from typing import Any

import orjson
import uvicorn

JSON = [(b"content-type", b"application/json")]
SSE = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
SESSIONS: set[bytes] = set()
TOOLS = {"tools": [{"name": "echo", "inputSchema": {"type": "object"}}]}
STREAM = False


async def respond(send: Any, status: int, body: bytes = b"", headers: Any = JSON) -> None:
    if STREAM and status == 200 and headers is JSON:
        await send({"type": "http.response.start", "status": 200, "headers": SSE})
        event = b"event: message\r\ndata: " + body + b"\r\n\r\n"
        await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def answer(req_id: object, result: object) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": req_id, "result": result})


def error(req_id: object, code: int, message: str) -> bytes:
    return orjson.dumps(
        {"jsonrpc": "2.0", "id": req_id, "error": {"code": code, "message": message}}
    )


async def read_body(receive: Any) -> bytes:
    message = await receive()
    body: bytes = message.get("body", b"")
    while message.get("more_body"):
        message = await receive()
        body += message.get("body", b"")
    return body


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/healthz":
        await respond(send, 200, b'{"status":"ok"}')
        return
    sid = next((v for k, v in scope["headers"] if k == b"mcp-session-id"), None)
    if scope["method"] == "DELETE":
        SESSIONS.discard(sid or b"")
        await respond(send, 200, b"", [])
        return
    if scope["method"] != "POST":
        await respond(send, 405, b"", [])
        return
    msg = orjson.loads(await read_body(receive))
    method, req_id = msg.get("method"), msg.get("id")
    if method == "initialize":
        sid = secrets.token_urlsafe(32).encode()
        SESSIONS.add(sid)
        version = (msg.get("params") or {}).get("protocolVersion") or "2025-11-25"
        result = {
            "protocolVersion": version,
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "http-echo", "version": "1.0"},
        }
        await respond(send, 200, answer(req_id, result), [*JSON, (b"mcp-session-id", sid)])
    elif sid is None:
        await respond(send, 400, error(req_id, -32600, "Mcp-Session-Id header is required"))
    elif sid not in SESSIONS:
        await respond(send, 404, error(req_id, -32600, "Session not found"))
    elif method is None or req_id is None:
        await respond(send, 202, b"", [])
    elif method == "tools/call":
        args = (msg.get("params") or {}).get("arguments") or {}
        content = [{"type": "text", "text": orjson.dumps(args).decode()}]
        await respond(send, 200, answer(req_id, {"content": content, "isError": False}))
    elif method == "tools/list":
        await respond(send, 200, answer(req_id, TOOLS))
    elif method == "ping":
        await respond(send, 200, answer(req_id, {}))
    else:
        await respond(send, 200, error(req_id, -32601, f"Method not found: {method}"))


def main() -> None:
    global STREAM
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sse", action="store_true", help="answer requests as SSE streams")
    opts = parser.parse_args()
    STREAM = opts.sse
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=opts.port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
