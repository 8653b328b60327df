"""The ceiling: a raw ASGI app that answers the MCP POST protocol itself, with no backend hop.

It does what the aggregator's front must do for each request — read the body, parse it with
orjson, check the session header, build and encode the answer — but answers ``tools/call``
itself (the echo result the echo backend would give). Served by uvicorn with uvloop and
httptools, access log off: the fastest a Python ASGI front can be on this machine, and the
yardstick the aggregator's throughput is divided by.

    python loadtests/ceiling_app.py --port 8001     # POST http://127.0.0.1:8001/mcp
"""

from __future__ import annotations

import secrets

import orjson
from raw_asgi import JSON, arguments, respond, rpc_error, run

SESSIONS: set[bytes] = set()
TOOLS = {
    "tools": [
        {
            "name": "bench__echo",
            "description": "Return the call's arguments as text.",
            "inputSchema": {"type": "object", "additionalProperties": True},
        }
    ]
}


async def app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]  # noqa: C901
    if scope["type"] != "http":
        return
    if scope["path"] == "/healthz":
        await respond(send, 200, b'{"status":"ok"}')
        return
    if scope["path"] not in ("/mcp", "/mcp/") or scope["method"] not in ("POST", "DELETE"):
        await respond(send, 405, b"", [])
        return
    if scope["method"] == "DELETE":
        SESSIONS.discard(dict(scope["headers"]).get(b"mcp-session-id", b""))
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
    method = msg.get("method")
    req_id = msg.get("id")
    if method == "initialize":
        sid = secrets.token_urlsafe(32).encode()
        SESSIONS.add(sid)
        params = msg.get("params") or {}
        result = {
            "protocolVersion": params.get("protocolVersion") or "2025-11-25",
            "capabilities": {"tools": {"listChanged": True}},
            "serverInfo": {"name": "ceiling", "version": "1.0"},
        }
        body = orjson.dumps({"jsonrpc": "2.0", "id": req_id, "result": result})
        await respond(send, 200, body, [*JSON, (b"mcp-session-id", sid)])
        return
    sid = None
    for key, value in scope["headers"]:
        if key == b"mcp-session-id":
            sid = value
    if sid is None:
        await respond(send, 400, rpc_error(None, -32600, "Mcp-Session-Id header is required"))
        return
    if sid not in SESSIONS:
        await respond(send, 404, rpc_error(None, -32600, "Session not found"))
        return
    if method is None or req_id is None:
        await respond(send, 202, b"", [])
        return
    if method == "tools/call":
        args = (msg.get("params") or {}).get("arguments") or {}
        content = [{"type": "text", "text": orjson.dumps(args).decode()}]
        result: object = {"content": content, "isError": False}
    elif method == "tools/list":
        result = TOOLS
    elif method == "ping":
        result = {}
    else:
        await respond(send, 200, rpc_error(req_id, -32601, f"Method not found: {method}"))
        return
    await respond(send, 200, orjson.dumps({"jsonrpc": "2.0", "id": req_id, "result": result}))


def main() -> None:
    parser = arguments(__doc__)
    opts = parser.parse_args()
    run(app, opts.host, opts.port)


if __name__ == "__main__":
    main()
