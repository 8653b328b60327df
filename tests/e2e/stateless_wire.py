"""Raw MCP 2026-07-28 requests as a conforming client writes them: the ``_meta`` envelope, a
``tools/call`` body, and the HTTP headers that mirror a body (for the e2e tests that check the
wire below any SDK)."""

from __future__ import annotations

from typing import Any

V = "2026-07-28"
ACCEPT = "application/json, text/event-stream"
META = {
    "io.modelcontextprotocol/protocolVersion": V,
    "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}},
}
"""The envelope of a client that can answer elicitations (the conformance tools ask some)."""


def tools_call(
    name: str, arguments: Any = None, *, req_id: object = 1, meta: Any = None, **extra: Any
) -> dict[str, Any]:
    """A 2026 ``tools/call`` of ``name`` (``meta``: its envelope, :data:`META` unless given;
    ``extra``: more params, e.g. ``requestState``)."""
    params = {
        "name": name,
        "arguments": {} if arguments is None else arguments,
        "_meta": META if meta is None else meta,
        **extra,
    }
    return {"jsonrpc": "2.0", "id": req_id, "method": "tools/call", "params": params}


def headers_for(msg: Any) -> dict[str, str]:
    """The headers a conforming client sends with ``msg``."""
    headers = {"Accept": ACCEPT, "MCP-Protocol-Version": V}
    params = msg.get("params") if isinstance(msg, dict) else None
    if isinstance(msg, dict) and isinstance(msg.get("method"), str):
        headers["Mcp-Method"] = msg["method"]
    target = None
    if isinstance(params, dict):
        target = params.get("uri") if msg.get("method") == "resources/read" else params.get("name")
    if isinstance(target, str) and target.isascii() and target.isprintable():
        headers["Mcp-Name"] = target
    return headers
