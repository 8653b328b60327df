"""What is allowed to differ between a direct answer and the answer through Only1MCP.

Exactly two things:

* **Only1MCP's naming.** Through Only1MCP a tool or prompt is ``<prefix>__<name>`` and a
  resource URI or URI template ``<prefix>+<uri>`` (``prefix: ""`` exposes them unchanged), and a
  merged list also holds the items of the other servers behind the same Only1MCP instance.
  :func:`through_view` keeps the items of the server under test and strips the prefix.
* **Genuinely volatile values**, each listed in :data:`VOLATILE` with its reason, replaced by a
  placeholder on BOTH sides (so a value that is volatile on one side only still differs).

Anything else (text, ``_meta``, ``isError``, error codes and messages, the order of items,
caching hints) must be equal.
"""

from __future__ import annotations

import base64
import contextlib
import difflib
import json
import re
from collections.abc import Iterable
from typing import Any

from only1mcp.catalog.naming import expose, expose_uri

SEPARATOR = "__"

VOLATILE: tuple[tuple[re.Pattern[str], str], ...] = (
    # Wall-clock timestamps (mcp-server-time's current time, git's commit dates, file times):
    # they change between the direct run and the run through Only1MCP.
    (
        re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?"),
        "<datetime>",
    ),
    (
        re.compile(
            r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) \w{3} +\d+ \d\d:\d\d:\d\d \d{4}(?: [+-]\d{4})?"
        ),
        "<datetime>",
    ),
    # A progress token is minted per request by whoever sends it (the client directly, Only1MCP
    # towards its backend); the conformance fixture's progress tool echoes it in its text.
    (re.compile(r"\(token: [^)]*\)"), "(token: <progress-token>)"),
    # server-everything stamps its dynamic resources with their creation time ("2:52:32 PM")
    (re.compile(r"\b\d{1,2}:\d\d:\d\d [AP]M\b"), "<time>"),
)

LIST_KEYS = {
    "tools": "name",
    "prompts": "name",
    "resources": "uri",
    "resourceTemplates": "uriTemplate",
}
"""A merged list's key in a result → the item field that carries the exposed name."""


VOLATILE_KEYS = {
    # The progress token of a request is minted by its sender (the client directly, Only1MCP
    # towards its backend, which maps it back): a request id in all but name.
    "progressToken": "<progress-token>",
}

VOLATILE_META = {
    # Minted per subscriptions/listen stream by whoever serves it (a counter of the server's,
    # or of Only1MCP's): an identifier like a session id, not content.
    "io.modelcontextprotocol/subscriptionId": "<subscription-id>",
}


def scrub(value: Any) -> Any:
    """``value`` with every volatile substring (see :data:`VOLATILE`) and ``_meta`` value (see
    :data:`VOLATILE_META`) replaced."""
    if isinstance(value, dict) and isinstance(value.get("_meta"), dict):
        meta = {k: VOLATILE_META.get(k, v) for k, v in value["_meta"].items()}
        value = {**value, "_meta": meta}
    if isinstance(value, str):
        for pattern, placeholder in VOLATILE:
            value = pattern.sub(placeholder, value)
        return value
    if isinstance(value, list):
        return [scrub(item) for item in value]
    if isinstance(value, dict):
        return {key: scrub_item(key, item) for key, item in value.items()}
    return value


def scrub_item(key: str, item: Any) -> Any:
    if key in VOLATILE_KEYS:
        return VOLATILE_KEYS[key]
    if key == "blob" and isinstance(item, str):
        # a text blob may hold a volatile value too (server-everything's creation time)
        with contextlib.suppress(ValueError):
            text = base64.b64decode(item, validate=True).decode()
            if scrub(text) != text:
                return f"<base64 of {scrub(text)!r}>"
    return scrub(item)


class Naming:
    """How the server under test's items are exposed: its ``prefix`` ("" = none), and the
    prefixes of the other servers behind the same Only1MCP (whose items are not ours)."""

    def __init__(self, prefix: str, others: Iterable[str] = ()) -> None:
        self.prefix = prefix
        self.others = tuple(p for p in others if p and p != prefix)

    def tool(self, name: str) -> str:
        """The exposed name of tool or prompt ``name``."""
        return expose(self.prefix, SEPARATOR, name)

    def uri(self, uri: str) -> str:
        """The exposed form of resource URI (or URI template) ``uri``."""
        return expose_uri(self.prefix, uri)

    def owns(self, key: str, exposed: str) -> bool:
        """Whether a merged-list item (``key`` = its name field) belongs to our server."""
        mark = SEPARATOR if key == "name" else "+"
        if self.prefix:
            return exposed.startswith(self.prefix + mark)
        return not any(exposed.startswith(other + mark) for other in self.others)

    def strip(self, value: Any) -> Any:
        """``value`` with our prefix removed from every exposed name and URI in it."""
        if not self.prefix:
            return value
        if isinstance(value, str):
            return value.replace(self.prefix + SEPARATOR, "").replace(self.prefix + "+", "")
        if isinstance(value, list):
            return [self.strip(item) for item in value]
        if isinstance(value, dict):
            return {key: self.strip(item) for key, item in value.items()}
        return value

    def keep_ours(self, value: Any) -> Any:
        """Merged lists (any depth) reduced to our server's items."""
        if isinstance(value, list):
            return [self.keep_ours(item) for item in value]
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] = {}
        for key, item in value.items():
            field = LIST_KEYS.get(key)
            if field and isinstance(item, list):
                item = [i for i in item if not isinstance(i, dict) or self.owns(field, i[field])]
            out[key] = self.keep_ours(item)
        return out


DIRECT = Naming("")
"""Direct answers carry no prefix and hold only the server's own items."""


def through_view(value: Any, naming: Naming) -> Any:
    """An answer through Only1MCP as the server itself would have given it."""
    return scrub(naming.strip(naming.keep_ours(value)))


def direct_view(value: Any) -> Any:
    """A direct answer with its volatile values replaced."""
    return scrub(value)


def difference(direct: Any, through: Any) -> str:
    """A unified diff of two observations (pretty JSON), for assertion messages."""
    lines = [json.dumps(v, indent=1, sort_keys=True).splitlines() for v in (direct, through)]
    diff = difflib.unified_diff(*lines, "direct", "through Only1MCP", lineterm="", n=2)
    return "\n".join(diff)
