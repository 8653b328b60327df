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
    "list results of a 2026-07-28 client: through Only1MCP their "
    "_meta['io.modelcontextprotocol/serverInfo'] names Only1MCP; directly it names the server "
    "(dual-era SDK servers), or there is none (the tsdual fixture omits it; a handshake-only "
    "server answers the auto client at the handshake). Deliberate: a merged list is "
    "Only1MCP's answer, holding the items of several servers, and the 2026 schema has "
    "serverInfo identify the software producing the response",
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
UNKNOWN_NAMES_STATELESS = Known(
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
STARTUP_ERA = Known(
    "the era differs: directly the auto client falls back to the handshake (the server speaks "
    "only up to 2025-11-25) and the server asks it roots/list after initialize (server-"
    "everything also logs 'Roots updated: 1 root(s) received from client', and over stdio "
    "sends five notifications/tools/list_changed first); through Only1MCP the client speaks "
    "2026-07-28, which has no server-initiated requests outside a request nor unsolicited "
    "notifications (roots come with the calls that need them), so it gets none of them"
)


def _shared_startup(value: Any) -> Any:
    """The startup events with the tools/list_changed dropped and each event kept once."""
    if not isinstance(value, dict) or not isinstance(value.get("events"), list):
        return value
    events: list[Any] = []
    for event in value["events"]:
        if event not in events and "notifications/tools/list_changed" not in event:
            events.append(event)
    return {**value, "events": events}


STARTUP_SHARED = Known(
    "inherent to one Only1MCP in front of several servers that share one backend each: "
    "server-everything sends the five notifications/tools/list_changed of its initialize "
    "(stdio) to Only1MCP when Only1MCP initializes the shared backend, long before the client "
    "connects; and the client's roots are asked by every server behind Only1MCP that wants "
    "them (here server-everything over stdio and over HTTP: roots/list and the 'Roots "
    "updated' log come twice)",
    _shared_startup,
)
DUAL_ERA_SERVERS = ("sdk", "fastmcp", "time", "git", "fetch")
"""Servers on the Python SDK 2.3: they speak both eras, so Only1MCP reaches them at 2026 for a
2026 client (a handshake-era client through their handshake face)."""
HANDSHAKE_ONLY = ("ts", "everything", "filesystem", "memory")
"""Servers on the TypeScript SDK 1.32 (up to 2025-11-25)."""
LISTS = (
    "list",
    "resources",
    "templates",
    "prompts",
    "fetch",
    "everything_resources",
    "everything_prompts",
)
"""The scenarios that list."""

KNOWN: dict[Key, list[Known]] = {
    ("sdk", "*", "*", "auto", LISTS): [LIST_SERVER_INFO],
    ("sdk", DUAL_ERA_SERVERS, "*", "legacy", "protocol_error"): [UNKNOWN_NAMES_LEGACY],
    ("sdk", DUAL_ERA_SERVERS, "*", "auto", "protocol_error"): [UNKNOWN_NAMES_STATELESS],
    ("sdk", ("ts", "tsdual"), "*", "*", "protocol_error"): [UNKNOWN_NAMES_TS],
    ("sdk", HANDSHAKE_ONLY, "*", "auto", ("logging", "subscribe", "list_changed")): [ERA_UPGRADE],
    ("sdk", "fastmcp", "*", "auto", "list_changed"): [LISTEN_BY_ONLY1MCP],
    ("sdk", "tsdual", "*", "auto", ("subscribe", "list_changed")): [LISTEN_BY_ONLY1MCP],
    ("sdk", ("everything", "filesystem"), "*", "auto", "startup"): [STARTUP_ERA],
    ("sdk", "everything", "*", "legacy", "startup"): [STARTUP_SHARED],
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
