"""What a ``server/discover`` probe's answer says about a server's era (the SDK's rule)."""

from __future__ import annotations

import pytest

from only1mcp.protocol.discover import HANDSHAKE, Era, Verdict, adopt, probe_params, verdict

V = "2026-07-28"
STATELESS = Verdict(Era.STATELESS, V)
RETRY = Verdict(Era.RETRY, V)
CAPS = {"tools": {"listChanged": True}}
INFO = {"name": "srv", "version": "1"}


def _result(**result: object) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": 1, "result": result}


def _error(code: int, data: object = None) -> dict[str, object]:
    error: dict[str, object] = {"code": code, "message": "no"}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": 1, "error": error}


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        # positive evidence: a version in common, capabilities present
        (_result(supportedVersions=[V], capabilities=CAPS), STATELESS),
        (_result(supportedVersions=["2099-01-01", V], capabilities={}), STATELESS),
        # discover answered, but only handshake versions (go-sdk's stateful default) or junk
        (_result(supportedVersions=["2025-11-25"], capabilities=CAPS), HANDSHAKE),
        (_result(supportedVersions="2026-07-28", capabilities=CAPS), HANDSHAKE),
        (_result(supportedVersions=["2026-07-28"]), HANDSHAKE),
        # -32022 naming a version we speak: probe again at it
        (_error(-32022, {"supported": [V], "requested": "x"}), RETRY),
        # -32022 naming none we speak, or without a usable list: fall back
        (_error(-32022, {"supported": ["2099-01-01"]}), HANDSHAKE),
        (_error(-32022, {"supported": ["2025-11-25"]}), HANDSHAKE),
        (_error(-32022), HANDSHAKE),
        # every other error, and no answer at all
        (_error(-32601), HANDSHAKE),  # a handshake-only stdio server
        (_error(-32600), HANDSHAKE),  # a handshake-only HTTP server (HTTP 400)
        (_error(-32602), HANDSHAKE),
        (None, HANDSHAKE),  # timed out, or not JSON
        ([1], HANDSHAKE),
    ],
)  # fmt: skip
def test_verdict(answer: object, expected: Verdict) -> None:
    assert verdict(answer) == expected


def test_a_second_32022_is_not_retried_again() -> None:
    answer = _error(-32022, {"supported": ["2026-07-28"]})
    assert verdict(answer, retried=True) == HANDSHAKE


def test_probe_params_are_the_bare_envelope() -> None:
    assert probe_params("2026-07-28", {"sampling": {}}, INFO) == {
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {"sampling": {}},
            "io.modelcontextprotocol/clientInfo": INFO,
        }
    }


def test_adopt_reads_server_info_from_meta() -> None:
    result = {
        "supportedVersions": ["2026-07-28"],
        "capabilities": CAPS,
        "instructions": "be nice",
        "_meta": {"io.modelcontextprotocol/serverInfo": INFO},
    }
    assert adopt(result, "2026-07-28") == {
        "protocolVersion": "2026-07-28",
        "capabilities": CAPS,
        "serverInfo": INFO,
        "instructions": "be nice",
    }
