"""The direct path on its own: a stateless client's call to a stateless server, its
``requestState`` sealed inside ours and bound to that server, tool and arguments.

:class:`Direct` is wired as the stateless service wires it: the router's ``owner`` (over a real
catalog) and the gateway's shared backends; its dispatch is the server's side of the exchange,
played here by a function that answers as a stateless server would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from only1mcp.app import Core, assemble
from only1mcp.bridge.direct import Direct
from only1mcp.bridge.state import Claims, StateSealer
from only1mcp.catalog import Entry
from only1mcp.config import Config
from only1mcp.errors import INVALID_PARAMS, RpcError
from only1mcp.protocol import jsonrpc
from only1mcp.protocol.stateless import LATEST_STATELESS, Envelope
from only1mcp.relay import Reply
from only1mcp.session import Session
from only1mcp.types import JsonObject

pytestmark = pytest.mark.anyio

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "tiny_server.sh"
ENVELOPE = Envelope(LATEST_STATELESS, {}, {}, None)


class Server:
    """A stateless server's answers: ``input_required`` first, then a result; it keeps what
    each round was sent."""

    def __init__(self) -> None:
        self.sent: list[JsonObject] = []

    async def handle(self, session: Session, msg: JsonObject, reply: Reply | None) -> bytes:
        params: JsonObject = msg["params"]
        self.sent.append(dict(params))
        if "inputResponses" not in params:
            asked = {
                "resultType": "input_required",
                "inputRequests": {"k": {"method": "roots/list"}},
            }
            return jsonrpc.result(msg["id"], {**asked, "requestState": "inner-1"})
        return jsonrpc.result(msg["id"], {"content": [], "resultType": "complete"})


class Quiet:
    """A POST's channel that nothing precedes the answer on, in these calls."""

    async def push(self, frame: bytes) -> None:
        raise AssertionError(f"nothing should precede the answer: {frame!r}")

    async def detach(self) -> None:
        raise AssertionError("nothing pauses")


QUIET = Quiet()


def _core() -> Core:
    config = Config.model_validate(
        {"servers": {"tiny": {"command": "/bin/sh", "args": [str(TINY)]}}}
    )
    core = assemble(config)
    core.gateway.catalogs["tools"].set_items("tiny", [{"name": "ask", "inputSchema": {}}])
    return core


def _call(arguments: object, **extra: Any) -> JsonObject:
    params = {"name": "tiny__ask", "arguments": arguments, **extra}
    return {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}


def _direct(core: Core, server: Server) -> Direct:
    async def call(session: Session, msg: JsonObject, reply: Reply | None, entry: Entry) -> bytes:
        assert entry == Entry("tiny", "ask")  # the straight path hands the entry on
        return await server.handle(session, msg, reply)

    shared = core.gateway.shared
    return Direct(core.router.owner, server.handle, shared, StateSealer(["k"]), call)


async def test_a_fresh_call_to_a_handshake_era_server_is_not_this_paths() -> None:
    core = _core()
    direct = _direct(core, Server())
    assert not direct.serves_any()  # tiny was never found to speak the stateless era
    assert direct.route(_call({})) is None


async def test_the_servers_state_is_sealed_and_handed_back_on_the_retry() -> None:
    core = _core()
    server = Server()
    direct = _direct(core, server)
    first = orjson.loads(
        await direct.serve(_call({"x": 1}), ENVELOPE, "tiny__ask", QUIET, Claims(server="tiny"))
    )
    state = first["result"]["requestState"]
    assert state != "inner-1" and "inner-1" not in state  # the client cannot read it
    retry = _call({"x": 1}, requestState=state, inputResponses={"k": {"roots": []}})
    claims = direct.route(retry)
    assert claims is not None and claims.server == "tiny"
    answer = orjson.loads(await direct.serve(retry, ENVELOPE, "tiny__ask", QUIET, claims))
    assert answer["result"]["resultType"] == "complete"
    assert server.sent[-1]["requestState"] == "inner-1"  # the server's own, unsealed


@pytest.mark.parametrize("changed", [{"x": 2}, None], ids=["other-arguments", "no-arguments"])
async def test_a_state_replayed_with_other_arguments_is_refused(changed: object) -> None:
    core = _core()
    direct = _direct(core, Server())
    first = orjson.loads(
        await direct.serve(_call({"x": 1}), ENVELOPE, "tiny__ask", QUIET, Claims(server="tiny"))
    )
    replay = _call(changed, requestState=first["result"]["requestState"])
    claims = direct.route(replay)
    assert claims is not None
    with pytest.raises(RpcError) as refused:
        await direct.serve(replay, ENVELOPE, "tiny__ask", QUIET, claims)
    assert refused.value.code == INVALID_PARAMS
    assert refused.value.data == {"reason": "invalid_request_state"}


async def test_a_fresh_call_on_the_straight_path_is_sealed_and_retried_like_any() -> None:
    core = _core()
    server = Server()
    direct = _direct(core, server)
    entry = Entry("tiny", "ask")
    first = orjson.loads(await direct.fresh(_call({"x": 1}), ENVELOPE, entry, QUIET))
    state = first["result"]["requestState"]
    assert state != "inner-1" and "inner-1" not in state
    retry = _call({"x": 1}, requestState=state, inputResponses={"k": {"roots": []}})
    claims = direct.route(retry)
    assert claims is not None and claims.server == "tiny"  # bound to the server that asked
    answer = orjson.loads(await direct.serve(retry, ENVELOPE, "tiny__ask", QUIET, claims))
    assert answer["result"]["resultType"] == "complete"
    assert server.sent[-1]["requestState"] == "inner-1"
    replay = _call({"x": 2}, requestState=state)  # bound to the arguments, too
    with pytest.raises(RpcError) as refused:
        await direct.serve(replay, ENVELOPE, "tiny__ask", QUIET, direct.route(replay) or Claims())
    assert refused.value.code == INVALID_PARAMS
