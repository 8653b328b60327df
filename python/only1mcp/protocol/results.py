"""MCP 2026-07-28 results: their ``resultType`` (stamped on a backend's bytes where it can be,
so an answer need not be decoded) and caching hints, and the client capabilities a bridged
call's backend session mirrors or a refusal names (-32021)."""

from __future__ import annotations

from only1mcp import __version__
from only1mcp.protocol.lists import LIST_METHODS
from only1mcp.protocol.stateless import META_SERVER_INFO
from only1mcp.types import JsonObject

# Results that describe something a client may cache, and so must say for how long and for whom.
CACHEABLE = LIST_METHODS | {"server/discover", "resources/read"}
CACHE_HINTS: JsonObject = {"ttlMs": 0, "cacheScope": "private"}
# The results Only1MCP makes itself (merged from its servers' lists): their _meta names Only1MCP
# as the software that produced them, as the 2026 schema says a server SHOULD on every result
# (the servers' own serverInfo would misname items of the others; their call results keep it).
OWN_RESULTS = LIST_METHODS
SERVER_INFO: JsonObject = {"name": "only1mcp", "version": __version__}


def stamp(method: str, result: JsonObject, result_type: str = "complete") -> JsonObject:
    """A result as 2026 wants it: its ``resultType``, and caching hints where it is cacheable.

    Merged lists are ``private`` with a TTL of 0: a handshake-era backend gives no TTL, and
    what a list holds changes with every backend restart.
    """
    result["resultType"] = result_type
    if method in OWN_RESULTS:
        meta = result.setdefault("_meta", {})
        if isinstance(meta, dict):
            meta.setdefault(META_SERVER_INFO, SERVER_INFO)
    if method in CACHEABLE:
        for key, value in CACHE_HINTS.items():
            result.setdefault(key, value)
    return result


# How a success frame's top-level result begins in the plain form every serializer writes,
# and the member a 2026 result carries (stateless.py's answers test for them before decoding).
RESULT_OBJECT = b',"result":{'
STAMPED = b'"resultType"'


# What each relayable capability may say that a backend can act on (2025-11-25
# ClientCapabilities).
_SUB_CAPABILITIES = {
    "sampling": ("context", "tools"),
    "elicitation": ("form", "url"),
    "roots": ("listChanged",),
}
_FLAG = {"listChanged": True}  # the one sub-capability that is a boolean, not an object


def mirrored(capabilities: JsonObject) -> JsonObject:
    """The client's relayable capabilities as a backend session is initialized with them: only
    the sub-capabilities a backend can act on, so junk values can neither break the backend's
    initialize nor start one more backend session per distinct value."""
    mirror: JsonObject = {}
    for name, known in _SUB_CAPABILITIES.items():
        if name not in capabilities:
            continue
        given = capabilities[name] if isinstance(capabilities[name], dict) else {}
        mirror[name] = {k: _FLAG.get(k, {}) for k in known if _declares(given.get(k), k)}
    return mirror


def _declares(value: object, key: str) -> bool:
    return value is True if key in _FLAG else isinstance(value, dict)


def required_capabilities(capability: str) -> JsonObject:
    """The ``data`` of a -32021 error: a ClientCapabilities object naming what was missing."""
    return {"requiredCapabilities": {capability: {}}}
