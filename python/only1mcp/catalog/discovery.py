"""Lazy discovery: tools/list offers a search instead of the whole catalog.

With ``discovery: lazy`` a client lists two meta-tools — ``search_tools(query, limit)``, which
answers the best matches (BM25, :mod:`only1mcp.catalog.search`) with their full definitions,
and ``call_tool(name, arguments)``, which calls any tool of the catalog — plus the tools pinned
with ``always_visible``. Every tool stays callable by its own name too (a client that puts the
found definitions in its list calls them directly).

:meth:`LazyTools.intercept` is the one hook both eras' dispatch calls on a ``tools/call``: it
answers ``search_tools`` itself, and turns a ``call_tool`` into the plain call it wraps, which
then takes the usual path (filters, hidden arguments, the backend's answer untouched). The
index is rebuilt when the catalog's version moves; the list a client sees changes only when a
pinned tool does, and ``notifications/tools/list_changed`` is sent on every catalog change as
before (a client that re-lists gets the same meta-tools: harmless, and never stale).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fnmatch import fnmatchcase

import orjson

from only1mcp.catalog.catalog import Catalog
from only1mcp.catalog.search import ToolIndex
from only1mcp.errors import InvalidParams
from only1mcp.types import JsonObject

SEARCH_TOOLS = "search_tools"
CALL_TOOL = "call_tool"
MAX_LIMIT = 20
META_TOOLS: tuple[JsonObject, ...] = (
    {
        "name": SEARCH_TOOLS,
        "description": (
            "Find the tools for a task among all tools of this server. Describe the task in a "
            "few words; the best matches come back with their full definitions, to call with "
            "call_tool (or by name)."
        ),
        "inputSchema": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "The task, in plain words"},
                "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
            },
            "required": ["query"],
        },
        "annotations": {"readOnlyHint": True, "openWorldHint": False},
    },
    {
        "name": CALL_TOOL,
        "description": "Call a tool found with search_tools, by its name, with its arguments.",
        "inputSchema": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "arguments": {"type": "object"}},
            "required": ["name"],
        },
    },
)
META_NAMES = frozenset(tool["name"] for tool in META_TOOLS)

# Whether a principal may see an exposed tool name (None: every tool).
Visible = Callable[[str], bool] | None


class LazyTools:
    """The lazy view of a tools catalog: its list, its search, its call unwrapping."""

    def __init__(self, catalog: Catalog, always_visible: Sequence[str] = (), limit: int = 5):
        self.catalog = catalog
        self.always_visible = tuple(always_visible)
        self.limit = limit
        self._built = -1  # the catalog version the index and the list are of
        self._index = ToolIndex([])
        self._tools: list[JsonObject] = []
        self._listed: list[JsonObject] = []

    def listed(self, visible: Visible = None) -> list[JsonObject]:
        """What tools/list answers: the meta-tools, then the pinned tools (those ``visible``
        lets through) in catalog order."""
        self._fresh()
        if visible is None:
            return self._listed
        return [t for t in self._listed if t["name"] in META_NAMES or visible(t["name"])]

    def search(
        self, query: str, limit: int | None = None, visible: Visible = None
    ) -> list[JsonObject]:
        """The full definitions of the best tools for ``query`` that ``visible`` lets through."""
        self._fresh()
        wanted = min(limit or self.limit, MAX_LIMIT)
        # Ask for more when some may be filtered out: a principal's view is a subset.
        hits = self._index.search(query, wanted if visible is None else wanted * 4)
        found = [self._tools[i] for i in hits]
        if visible is not None:
            found = [tool for tool in found if visible(tool["name"])]
        return found[:wanted]

    def intercept(self, params: JsonObject, visible: Visible = None) -> JsonObject | None:
        """For a ``tools/call``'s ``params``: the result of a ``search_tools`` call; None after
        rewriting a ``call_tool`` call in place into the call it wraps (or for any other)."""
        name = params.get("name")
        if name == SEARCH_TOOLS:
            return self._search_result(params.get("arguments"), visible)
        if name == CALL_TOOL:
            _unwrap(params)
        return None

    def _search_result(self, arguments: object, visible: Visible) -> JsonObject:
        args = arguments if isinstance(arguments, dict) else {}
        query, limit = args.get("query"), args.get("limit")
        if not isinstance(query, str) or not query.strip():
            return _tool_error("search_tools needs `query`: the task, in a few plain words")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)):
            return _tool_error(f"search_tools: `limit` is a whole number from 1 to {MAX_LIMIT}")
        tools = self.search(query, max(1, limit) if limit else None, visible)
        text = orjson.dumps(tools).decode() if tools else "No tool matches; try other words."
        return {"content": [{"type": "text", "text": text}], "structuredContent": {"tools": tools}}

    def _fresh(self) -> None:
        if self._built == self.catalog.version:
            return
        self._tools = self.catalog.merged()
        self._built = self.catalog.version
        self._index = ToolIndex(self._tools)
        pinned = [t for t in self._tools if self._pinned(t["name"])]
        self._listed = [*META_TOOLS, *pinned]

    def _pinned(self, name: str) -> bool:
        return name not in META_NAMES and any(fnmatchcase(name, p) for p in self.always_visible)


def called(params: object) -> str | None:
    """The tool a lazy-mode ``tools/call`` really calls, for authorization: the one a
    ``call_tool`` wraps, the named one otherwise; None for ``search_tools`` (it answers only
    what the caller may see) or a ``call_tool`` without a name (refused with -32602 later)."""
    if not isinstance(params, dict):
        return None
    name = params.get("name")
    if name == SEARCH_TOOLS:
        return None
    if name == CALL_TOOL:
        args = params.get("arguments")
        inner = args.get("name") if isinstance(args, dict) else None
        return inner if isinstance(inner, str) and inner not in META_NAMES else None
    return name if isinstance(name, str) else None


def _unwrap(params: JsonObject) -> None:
    args = params.get("arguments")
    args = args if isinstance(args, dict) else {}
    inner = args.get("name")
    if not isinstance(inner, str):
        raise InvalidParams("call_tool: arguments.name must be the name of a tool")
    if inner in META_NAMES:
        raise InvalidParams(f"call_tool: {inner} is called directly, not through call_tool")
    arguments = args.get("arguments", {})
    if not isinstance(arguments, dict):
        raise InvalidParams("call_tool: arguments.arguments must be an object")
    params["name"] = inner
    params["arguments"] = arguments


def _tool_error(message: str) -> JsonObject:
    return {"content": [{"type": "text", "text": message}], "isError": True}
