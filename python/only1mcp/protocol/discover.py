"""Finding a server's protocol era: the ``server/discover`` probe and what its answer means.

A server is asked ``server/discover`` at our newest stateless revision first. Only positive
evidence makes it a 2026 server: a result whose ``supportedVersions`` shares a revision with
ours. An error -32022 whose ``supported`` list names a revision we speak is a request to probe
again at that revision. Everything else — any other error, an unusable result, no answer at all
— means "speak the handshake": fall back to ``initialize`` (the SDK's ``negotiate_auto`` rule).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from only1mcp.errors import UNSUPPORTED_VERSION
from only1mcp.protocol.stateless import META_SERVER_INFO, STATELESS_REVISIONS, with_envelope
from only1mcp.types import JsonObject

DISCOVER = "server/discover"


class Era(enum.Enum):
    STATELESS = "stateless"  # speak ``Verdict.version`` statelessly
    RETRY = "retry"  # probe once more, at ``Verdict.version``
    HANDSHAKE = "handshake"  # fall back to initialize


@dataclass(frozen=True, slots=True)
class Verdict:
    era: Era
    version: str = ""


HANDSHAKE = Verdict(Era.HANDSHAKE)


def probe_params(version: str, capabilities: JsonObject, client_info: JsonObject) -> JsonObject:
    """The params of a ``server/discover`` probe at ``version``: the bare envelope."""
    return with_envelope(None, version, capabilities, client_info)


def verdict(answer: object, retried: bool = False) -> Verdict:
    """What a probe's answer (a decoded response message, or None when none came) says."""
    if not isinstance(answer, dict):
        return HANDSHAKE
    result = answer.get("result")
    if isinstance(result, dict):
        versions = result.get("supportedVersions")
        mutual = _mutual(versions)
        if mutual and isinstance(result.get("capabilities"), dict):
            return Verdict(Era.STATELESS, mutual)
        return HANDSHAKE
    error = answer.get("error")
    if isinstance(error, dict) and error.get("code") == UNSUPPORTED_VERSION and not retried:
        data = error.get("data")
        mutual = _mutual(data.get("supported") if isinstance(data, dict) else None)
        if mutual:
            return Verdict(Era.RETRY, mutual)
    return HANDSHAKE


def _mutual(versions: object) -> str:
    """Our newest stateless revision in ``versions`` ("" when none)."""
    if not isinstance(versions, list):
        return ""
    return next((v for v in reversed(STATELESS_REVISIONS) if v in versions), "")


def adopt(result: JsonObject, version: str) -> JsonObject:
    """A discover result in the shape of an initialize result (what the rest of Only1MCP reads
    a server's capabilities and identity from)."""
    meta = result.get("_meta")
    info = meta.get(META_SERVER_INFO) if isinstance(meta, dict) else None
    adopted: JsonObject = {
        "protocolVersion": version,
        "capabilities": result["capabilities"],
        "serverInfo": info if isinstance(info, dict) else result.get("serverInfo", {}),
    }
    if isinstance(result.get("instructions"), str):
        adopted["instructions"] = result["instructions"]
    return adopted
