"""The HTTP echo backend: a Streamable HTTP MCP server at /mcp for the load tests' HTTP rows.

Raw ASGI on uvicorn (uvloop, httptools, no access log) with orjson, as lean as
``ceiling_app.py``, so that what is measured in front of it is the proxy, not the backend.
It speaks both protocol eras, so Only1MCP may use it either way:

- handshake: ``initialize`` returns an ``Mcp-Session-Id``; later requests must carry a known
  one (400 without, 404 unknown); notifications get 202; DELETE ends the session.
- 2026-07-28 (stateless): a request whose ``MCP-Protocol-Version`` header is not a handshake
  revision needs no session; ``server/discover`` (any era) names the revision and the tools
  capability; results carry ``resultType``.

``tools/call`` echoes the call's ``arguments`` as one text content item, ``tools/list`` lists
the one tool ``echo``, ``ping`` answers ``{}``. With ``--sse`` every answer to a request is a
``text/event-stream`` carrying one ``event: message`` whose data is the response, streamed
(chunked) as SDK servers do; without it, ``application/json``. ``GET /healthz`` → 200.

    python loadtests/http_echo_backend.py --port 8003 [--sse]   # POST http://127.0.0.1:8003/mcp
"""

from __future__ import annotations

import secrets

import orjson
from raw_asgi import JSON, arguments, respond, rpc_error, run

STATELESS = "2026-07-28"
HANDSHAKE = {b"2024-11-05", b"2025-03-26", b"2025-06-18", b"2025-11-25"}
SSE = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
SERVER_INFO = {"name": "http-echo-backend", "version": "1.0"}
CAPABILITIES = {"tools": {"listChanged": False}}
TOOLS = {
    "tools": [
        {
            "name": "echo",
            "description": "Return the call's arguments as text.",
            "inputSchema": {"type": "object", "additionalProperties": True},
        }
    ]
}
SESSIONS: set[bytes] = set()
STREAM = False  # --sse


async def answer(send, frame: bytes, headers=()) -> None:  # type: ignore[no-untyped-def]
    """A request's response: a JSON body, or (--sse) one SSE message event on a stream."""
    if not STREAM:
        await respond(send, 200, frame, [*JSON, *headers])
        return
    await send({"type": "http.response.start", "status": 200, "headers": [*SSE, *headers]})
    event = b"event: message\r\ndata: " + frame + b"\r\n\r\n"
    await send({"type": "http.response.body", "body": event, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def result_of(method: object, msg: dict, stateless: bool) -> dict | None:  # type: ignore[type-arg]
    """The result of a request (None: method not found)."""
    if method == "tools/call":
        args = (msg.get("params") or {}).get("arguments") or {}
        result: dict = {"content": [{"type": "text", "text": orjson.dumps(args).decode()}]}  # type: ignore[type-arg]
        result["isError"] = False
    elif method == "tools/list":
        result = dict(TOOLS)
    elif method == "server/discover":
        result = {
            "supportedVersions": [STATELESS],
            "capabilities": CAPABILITIES,
            "_meta": {"io.modelcontextprotocol/serverInfo": SERVER_INFO},
        }
    elif method == "ping" and not stateless:
        result = {}
    else:
        return None
    if stateless:
        result["resultType"] = "complete"
    return result


async def app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]  # noqa: C901
    if scope["type"] != "http":
        return
    if scope["path"] == "/healthz":
        await respond(send, 200, b'{"status":"ok"}')
        return
    if scope["path"] not in ("/mcp", "/mcp/") or scope["method"] not in ("POST", "DELETE"):
        await respond(send, 405, b"", [])
        return
    sid = version = None
    for key, value in scope["headers"]:
        if key == b"mcp-session-id":
            sid = value
        elif key == b"mcp-protocol-version":
            version = value
    if scope["method"] == "DELETE":
        SESSIONS.discard(sid or b"")
        await respond(send, 200, b"", [])
        return
    message = await receive()
    body = message.get("body", b"")
    while message.get("more_body"):
        message = await receive()
        body += message.get("body", b"")
    try:
        msg = orjson.loads(body)
    except orjson.JSONDecodeError:
        await respond(send, 400, rpc_error(None, -32700, "Parse error"))
        return
    method, req_id = msg.get("method"), msg.get("id")
    stateless = version is not None and version not in HANDSHAKE
    if method == "initialize":
        sid = secrets.token_urlsafe(32).encode()
        SESSIONS.add(sid)
        result = {
            "protocolVersion": (msg.get("params") or {}).get("protocolVersion") or "2025-11-25",
            "capabilities": CAPABILITIES,
            "serverInfo": SERVER_INFO,
        }
        frame = orjson.dumps({"jsonrpc": "2.0", "id": req_id, "result": result})
        await answer(send, frame, [(b"mcp-session-id", sid)])
        return
    if not stateless and method != "server/discover":
        if sid is None:
            await respond(send, 400, rpc_error(None, -32600, "Mcp-Session-Id header is required"))
            return
        if sid not in SESSIONS:
            await respond(send, 404, rpc_error(None, -32600, "Session not found"))
            return
    if method is None or req_id is None:
        await respond(send, 202, b"", [])
        return
    result = result_of(method, msg, stateless or method == "server/discover")
    if result is None:
        status = 404 if stateless else 200
        await respond(send, status, rpc_error(req_id, -32601, f"Method not found: {method}"))
        return
    await answer(send, orjson.dumps({"jsonrpc": "2.0", "id": req_id, "result": result}))


def main() -> None:
    global STREAM
    parser = arguments(__doc__)
    parser.add_argument("--sse", action="store_true", help="answer requests as SSE streams")
    opts = parser.parse_args()
    STREAM = opts.sse
    run(app, opts.host, opts.port)


if __name__ == "__main__":
    main()
