"""The stateless service on its own, as the composition root wires it (gateway, router, bridge,
direct path, listen): each request is validated alone and answered with its HTTP status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from only1mcp.app import Core, assemble
from only1mcp.backends import Backend
from only1mcp.config import Config
from only1mcp.errors import BACKEND_ERROR, INVALID_PARAMS, METHOD_NOT_FOUND
from only1mcp.protocol.stateless import (
    HTTP_STATUS,
    LATEST_STATELESS,
    META_CAPABILITIES,
    META_VERSION,
)
from only1mcp.stateless import _finished, _finished_call

pytestmark = pytest.mark.anyio

TINY = Path(__file__).resolve().parent / "fixtures" / "tiny_server.sh"
ENVELOPE = {META_VERSION: LATEST_STATELESS, META_CAPABILITIES: {}}


class Post:
    """A stateless POST's channel: nothing precedes these answers."""

    async def push(self, frame: bytes) -> None:
        raise AssertionError(f"nothing should precede the answer: {frame!r}")

    async def detach(self) -> None:
        raise AssertionError("nothing pauses")

    async def finish(self, status: int, frame: bytes) -> None:
        raise AssertionError("no round asks here")


def _core() -> Core:
    """Parts over a server that is never started; its tools are in the catalog."""
    config = Config.model_validate(
        {"servers": {"tiny": {"command": "/bin/sh", "args": [str(TINY)]}}}
    )
    core = assemble(config)
    core.gateway.catalogs["tools"].set_items("tiny", [{"name": "echo", "inputSchema": {}}])
    core.gateway.ready.set()
    return core


async def _answer(core: Core, method: str, params: dict[str, Any]) -> tuple[int, Any]:
    msg = {"jsonrpc": "2.0", "id": 5, "method": method, "params": params}
    answered = await core.stateless.answer(msg, None, Post())
    assert answered is not None
    status, frame = answered
    return status, orjson.loads(frame)


async def test_a_list_is_served_by_the_router_and_stamped_complete() -> None:
    status, answer = await _answer(_core(), "tools/list", {"_meta": ENVELOPE})
    assert status == 200 and answer["id"] == 5
    assert [tool["name"] for tool in answer["result"]["tools"]] == ["tiny__echo"]
    assert answer["result"]["resultType"] == "complete"


async def test_discover_names_the_stateless_revisions() -> None:
    status, answer = await _answer(_core(), "server/discover", {"_meta": ENVELOPE})
    assert status == 200 and LATEST_STATELESS in answer["result"]["supportedVersions"]
    assert "tools" in answer["result"]["capabilities"]


@pytest.mark.parametrize(
    ("method", "params", "status", "code"),
    [
        ("ping", {"_meta": ENVELOPE}, 404, METHOD_NOT_FOUND),  # no place in the stateless era
        ("tools/list", {}, 400, INVALID_PARAMS),  # no envelope
        ("tools/call", {"_meta": ENVELOPE, "name": 3}, 400, INVALID_PARAMS),
    ],
    ids=["removed-method", "no-envelope", "name-not-a-string"],
)
async def test_refusals_carry_their_code_and_status(
    method: str, params: dict[str, Any], status: int, code: int
) -> None:
    got, answer = await _answer(_core(), method, params)
    assert (got, answer["error"]["code"], answer["id"]) == (status, code, 5)


def _modern(core: Core) -> None:
    """Mark ``tiny`` as a 2026 server (it is never started: every call to it fails)."""
    backend = core.gateway.shared["tiny"]
    backend.stateless, backend.version = True, LATEST_STATELESS
    Backend.generation += 1  # what a backend's change of era does


async def test_a_fresh_call_to_a_2026_server_takes_the_straight_path_and_fails_framed() -> None:
    core = _core()
    _modern(core)
    params = {"name": "tiny__echo", "arguments": {}, "_meta": dict(ENVELOPE)}
    msg = {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": params}
    lines = {
        b"mcp-protocol-version": LATEST_STATELESS.encode(),
        b"mcp-method": b"tools/call",
        b"mcp-name": b"tiny__echo",
    }
    work = core.stateless.fresh_call(msg, lines, False, Post())
    assert work is not None  # not the whole ladder: the straight path serves it
    answered = await work
    assert answered is not None
    status, frame = answered
    answer = orjson.loads(frame)
    assert answer["id"] == 5 and answer["error"]["code"] == BACKEND_ERROR, answer
    assert status == HTTP_STATUS.get(BACKEND_ERROR, 200)


@pytest.mark.parametrize(
    "frame",
    [
        b'{"jsonrpc":"2.0","id":5,"result":{"resultType":"complete","content":[]}}',
        b'{"jsonrpc":"2.0","id":5,"result":{"content":[],"resultType":"complete"}}',
        b'{"jsonrpc": "2.0", "id": 5, "result": {"content": [], "resultType": "complete"}}',
        b'{"jsonrpc":"2.0","id":5,"result":{"content":[{"resultType":"x"}],"resultType":"y"}}',
    ],
    ids=["first", "last", "spaced", "last-after-nested"],
)
def test_a_result_a_2026_server_stamped_passes_as_it_came(frame: bytes) -> None:
    assert _finished({"method": "tools/call"}, frame) == (200, frame)


def test_a_result_type_below_the_result_is_not_its_stamp() -> None:
    frame = b'{"jsonrpc":"2.0","id":5,"result":{"content":[{"resultType":"x"}]}}'
    status, stamped = _finished({"method": "tools/call"}, frame)
    assert status == 200 and orjson.loads(stamped)["result"]["resultType"] == "complete"


@pytest.mark.parametrize(
    "frame",
    [
        b'{"jsonrpc":"2.0","id":5,"result":{"content":[{"type":"text","text":"hi"}]}}',
        b'{"jsonrpc":"2.0","id":5,"result":{}}',
        b'{"jsonrpc":"2.0","id":"resultType","result":{"content":[]}}',
        b'{"jsonrpc":"2.0","id":5,"result":{"structuredContent":{"resultType":"x"}}}',
        b'{"jsonrpc":"2.0","id":5,"result":{"a":{"b":1,"result":{"c":2}}}}',
        b'{"id":{"x":1},"jsonrpc":"2.0","result":{"content":[]}}',
        b'{"jsonrpc": "2.0", "id": 5, "result": {"content": []}}',
        b'{"jsonrpc":"2.0","id":5,"error":{"code":-32602,"message":"no"}}',
        b'{"jsonrpc":"2.0","id":5,"result":{"content":[],"resultType":"complete"}}',
    ],
    ids=["plain", "empty", "id", "nested", "nested-result", "object-id", "spaced", "error", "2026"],
)
def test_the_straight_path_stamps_a_call_as_the_ladder_does(frame: bytes) -> None:
    """_finished_call (bytes tests on every call) answers what _finished (decoding) does, and
    a plain result's stamp comes first, where 2026 clients look for it."""
    status, stamped = _finished_call(frame)
    want_status, wanted = _finished({"method": "tools/call"}, frame)
    assert status == want_status
    assert orjson.loads(stamped) == orjson.loads(wanted)
    result = orjson.loads(stamped).get("result")
    if result is not None:
        assert result["resultType"] == "complete"
        assert list(result).count("resultType") == 1
        assert stamped.count(b'"resultType"') == frame.count(b'"resultType"') + (
            b'"resultType":"complete"' not in frame
        )
