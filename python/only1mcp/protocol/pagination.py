"""Opaque cursors for merged lists: which list, and where the next page starts.

A cursor is URL-safe base64 of a small JSON object; clients must treat it as opaque, and one
that does not decode, names another list or points past the end is a -32602.
"""

from __future__ import annotations

import base64
import binascii

import orjson

from only1mcp.errors import InvalidParams

PAGE_SIZE = 500


def encode(kind: str, offset: int) -> str:
    raw = orjson.dumps({"k": kind, "o": offset})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(kind: str, cursor: object, total: int) -> int:
    """The offset a cursor points to (0 without one)."""
    if cursor is None:
        return 0
    if isinstance(cursor, str):
        try:
            data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        except (binascii.Error, ValueError):
            data = None
        if isinstance(data, dict) and data.get("k") == kind:
            offset = data.get("o")
            if isinstance(offset, int) and 0 <= offset < max(total, 1):
                return offset
    raise InvalidParams(f"Invalid cursor: {cursor!r}")
