"""A bounded map from a token's SHA-256 to what it proved, kept until an expiry.

The key is the hash, not the token, so a memory dump holds no usable credential. Reading a live
entry is one dict lookup and one clock read; a full cache first drops expired entries, then the
oldest ones.
"""

from __future__ import annotations

import hashlib
import time

from only1mcp.auth.principal import Principal


def token_hash(token: str | bytes) -> bytes:
    """The cache key of a token: its SHA-256 (a header's bytes, or their latin-1 text)."""
    raw = token if isinstance(token, bytes) else token.encode("latin-1", "replace")
    return hashlib.sha256(raw).digest()


class TokenCache:
    """Principals by token hash, each until its own deadline (epoch seconds)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: dict[bytes, tuple[Principal, float]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes) -> Principal | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[1] <= time.time():
            del self._entries[key]
            return None
        return entry[0]

    def put(self, key: bytes, principal: Principal, until: float) -> None:
        if until <= time.time():
            return
        if len(self._entries) >= self.size and key not in self._entries:
            self._evict()
        self._entries[key] = (principal, until)

    def _evict(self) -> None:
        now = time.time()
        for key in [key for key, (_, until) in self._entries.items() if until <= now]:
            del self._entries[key]
        while len(self._entries) >= self.size:
            del self._entries[next(iter(self._entries))]  # insertion order: the oldest
