"""The MCP protocol revisions Only1MCP speaks, and how a version is negotiated."""

from __future__ import annotations

# Handshake-era revisions, oldest first. The last one is what we offer backends.
HANDSHAKE_REVISIONS: tuple[str, ...] = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
LATEST_HANDSHAKE = HANDSHAKE_REVISIONS[-1]
# The same as MCP-Protocol-Version header values: compared raw on every request, no decoding.
HANDSHAKE_HEADER_VALUES = frozenset(v.encode() for v in HANDSHAKE_REVISIONS)
# JSON-RPC batches were allowed in this revision only.
BATCH_REVISIONS = frozenset({"2025-03-26"})
# A request without the MCP-Protocol-Version header is assumed to speak this one (spec).
DEFAULT_HEADERLESS = "2025-03-26"


def negotiate(requested: object) -> str:
    """The revision to answer ``initialize`` with: the client's if we speak it, else our latest."""
    if isinstance(requested, str) and requested in HANDSHAKE_REVISIONS:
        return requested
    return LATEST_HANDSHAKE
