"""Known differences: cells whose answer through Only1MCP differs from the direct one.

Each is an ``xfail(strict=True, raises=KnownDifference)`` whose reason is the exact difference.
A cell matching an entry is checked precisely, not skipped:

* no difference at all → the strict xfail XPASSes, i.e. fails: the entry must go;
* a difference that the entries' ``patch`` removes entirely (applied to both answers, it
  makes them equal) → ``KnownDifference``: the expected failure;
* any other difference → ``AssertionError`` with the diff: a real failure (``raises`` does not
  match it), so a known difference never hides a new one.

An entry without a patch (the answers differ in shape) xfails on any difference of its cell.
Keys: ``(client, server, transport, mode, scenario)``; ``"*"`` matches any value, and a tuple
any of its values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest


class KnownDifference(AssertionError):
    """The cell differs exactly as a known-difference entry says."""


Patch = Callable[[Any], Any]
Key = tuple[str | tuple[str, ...], ...]


@dataclass(frozen=True)
class Known:
    reason: str
    patch: Patch | None = None


def drop_meta_key(name: str) -> Patch:
    """A patch removing ``_meta[name]`` everywhere (and a ``_meta`` left empty by that)."""

    def patch(value: Any) -> Any:
        if isinstance(value, list):
            return [patch(item) for item in value]
        if not isinstance(value, dict):
            return value
        out = {key: patch(item) for key, item in value.items()}
        meta = out.get("_meta")
        if isinstance(meta, dict) and name in meta:
            meta = {key: item for key, item in meta.items() if key != name}
            if meta:
                out["_meta"] = meta
            else:
                del out["_meta"]
        return out

    return patch


LIST_SERVER_INFO = Known(
    "2026-07-28 list results (tools, resources, templates, prompts) through Only1MCP lack the "
    "_meta['io.modelcontextprotocol/serverInfo'] the server puts on them",
    drop_meta_key("io.modelcontextprotocol/serverInfo"),
)
DELIBERATE = (
    " (deliberate: a name in no catalog has no server to forward it to, and the spec makes an "
    "unknown tool a protocol error)"
)
UNKNOWN_NAMES_LEGACY = Known(
    "unknown tool: the server answers a result {isError: true, text 'Unknown tool: "
    "no_such_tool'}, Only1MCP a JSON-RPC error -32602 'Unknown tool: no_such_tool'"
    + DELIBERATE
    + "; unknown prompt: the server answers error code 0, Only1MCP -32602"
)
UNKNOWN_NAMES_MODERN = Known(
    "unknown tool: the server answers a result {isError: true, text 'Unknown tool: "
    "no_such_tool'}, Only1MCP a JSON-RPC error -32602 'Unknown tool: no_such_tool'"
    + DELIBERATE
    + "; unknown prompt: the server answers -32603 'Internal server error', Only1MCP -32602 "
    "'Unknown prompt: no_such_prompt'"
)
UNKNOWN_NAMES_TS = Known(
    "unknown tool: the server answers a result {isError: true, text 'MCP error -32602: Tool "
    "no_such_tool not found'}, Only1MCP a JSON-RPC error -32602 'Unknown tool: no_such_tool'"
    + DELIBERATE
    + "; unknown prompt: both -32602, the server's message 'MCP error -32602: Prompt "
    "no_such_prompt not found', Only1MCP's 'Unknown prompt: no_such_prompt'"
)
ERA_UPGRADE = Known(
    "the era differs: directly the auto client falls back to the handshake (the server speaks "
    "only up to 2025-11-25), through Only1MCP it gets 2026-07-28, so logging goes by the _meta "
    "logLevel instead of logging/setLevel, and resources/subscribe and list_changed by "
    "subscriptions/listen (events stamped with a subscriptionId) instead of notifications"
)
LISTEN_BY_ONLY1MCP = Known(
    "the server has no subscriptions/listen (directly: -32601 Method not found); through "
    "Only1MCP the listen is served by Only1MCP and the tool's notifications/tools/list_changed "
    "reaches it as a ToolsListChanged event"
)
CAPABILITY_TOOLS = Known(
    "the tool list differs: server-everything registers tools by the capabilities of the "
    "client that initialized it (get-roots-list for roots, trigger-sampling-request, "
    "trigger-elicitation-request, trigger-url-elicitation for sampling/elicitation); through "
    "Only1MCP the list reflects the capabilities Only1MCP initialized the shared backend with "
    "(sampling and elicitation, no roots), not the client's"
)
STARTUP_EVERYTHING = Known(
    "right after initialize the server sends a direct client five notifications/tools/"
    "list_changed (and, to a handshake client, roots/list then an info log 'Roots updated: 1 "
    "root(s) received from client'); through Only1MCP the client gets none of them"
)
ROOTS_ON_GET_STREAM = Known(
    "the FastMCP server asks roots/list outside any request (ctx.session.list_roots() names no "
    "related request, so over HTTP it goes on the standalone GET stream): directly the client "
    "answers it on its GET stream; through Only1MCP the handshake face's HTTP backend opens no "
    "GET stream, the request is lost and the call times out (Only1MCP's to fix: "
    "backends/http.py keeps no standalone stream)"
)
ROOTS_NOT_ASKED = Known(
    "directly the server asks the client roots/list after initialize (to serve the client's "
    "roots); through Only1MCP the client is never asked"
)
DUAL_ERA_SERVERS = ("sdk", "fastmcp", "time", "git", "fetch")
"""Servers on the Python SDK 2.3: they speak both eras, so Only1MCP reaches them at 2026 for a
2026 client (a handshake-era client through their handshake face)."""
HANDSHAKE_ONLY = ("ts", "everything", "filesystem", "memory")
"""Servers on the TypeScript SDK 1.32 (up to 2025-11-25)."""
LISTS = ("list", "resources", "templates", "prompts", "fetch")
"""The scenarios that list."""

KNOWN: dict[Key, list[Known]] = {
    ("sdk", DUAL_ERA_SERVERS, "*", "auto", LISTS): [LIST_SERVER_INFO],
    ("sdk", DUAL_ERA_SERVERS, "*", "legacy", "protocol_error"): [UNKNOWN_NAMES_LEGACY],
    ("sdk", DUAL_ERA_SERVERS, "*", "auto", "protocol_error"): [UNKNOWN_NAMES_MODERN],
    ("sdk", ("ts", "tsdual"), "*", "*", "protocol_error"): [UNKNOWN_NAMES_TS],
    ("sdk", HANDSHAKE_ONLY, "*", "auto", ("logging", "subscribe", "list_changed")): [ERA_UPGRADE],
    ("sdk", "fastmcp", "*", "auto", "list_changed"): [LISTEN_BY_ONLY1MCP],
    ("sdk", "tsdual", "*", "auto", ("subscribe", "list_changed")): [LISTEN_BY_ONLY1MCP],
    ("sdk", "fastmcp", ("http", "http-json"), "legacy", "roots"): [ROOTS_ON_GET_STREAM],
    ("sdk", "everything", "*", "*", "list"): [CAPABILITY_TOOLS],
    ("*", "everything", "*", "*", "smoke"): [CAPABILITY_TOOLS],
    ("sdk", "everything", "*", "*", "startup"): [STARTUP_EVERYTHING],
    ("sdk", "filesystem", "*", "*", "startup"): [ROOTS_NOT_ASKED],
}


def _matches(key: Key, cell: tuple[str, ...]) -> bool:
    return all(
        k == "*" or (c in k if isinstance(k, tuple) else c == k)
        for k, c in zip(key, cell, strict=True)
    )


def known_for(*cell: str) -> list[Known]:
    """The known differences of a cell ``(client, server, transport, mode, scenario)``."""
    return [known for key, entries in KNOWN.items() if _matches(key, cell) for known in entries]


def known_difference(*cell: str) -> list[pytest.MarkDecorator]:
    """The xfail mark of a cell with known differences (empty list otherwise)."""
    entries = known_for(*cell)
    if not entries:
        return []
    raises: tuple[type[BaseException], ...] = (KnownDifference,)
    if any(known.patch is None for known in entries):
        raises = (KnownDifference, AssertionError)
    reason = " AND ".join(known.reason for known in entries)
    return [pytest.mark.xfail(strict=True, raises=raises, reason=reason)]


def compare(
    cell: tuple[str, ...], direct: Any, through: Any, diff: Callable[[Any, Any], str]
) -> None:
    """Assert ``through == direct``, or raise :class:`KnownDifference` when the cell's known
    differences account for every difference (see the module docstring)."""
    if through == direct:
        return
    entries = known_for(*cell)
    for known in entries:
        if known.patch is not None:
            direct, through = known.patch(direct), known.patch(through)
    if entries and through == direct:
        raise KnownDifference(" AND ".join(k.reason for k in entries))
    raise AssertionError(diff(direct, through))
