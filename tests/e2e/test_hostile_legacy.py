"""Hostile input on the legacy HTTP+SSE front (``GET /sse`` + ``POST /messages``).

A POST is answered 202 or 400 with a JSON-RPC error at once, never a 500; every request with a
usable id gets exactly one answer on the stream; the session survives whatever it was sent;
the aggregator logs no traceback (checked on teardown) and leaves no process behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import HttpAggregator, fx_stdio_server, running_aggregator, write_config
from .rawwire import encode, frame_ok, no_traceback_in
from .test_legacy_sse import Events, call, initialize, next_message, raw_session

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def aggregator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpAggregator]:
    workdir = tmp_path_factory.mktemp("hostile-legacy")
    config = write_config(workdir / "only1mcp.yaml", {"fx": fx_stdio_server()})
    with running_aggregator(config, workdir / "only1mcp.log") as agg:
        yield agg
    no_traceback_in(agg.log)


async def post(http: httpx.AsyncClient, endpoint: str, body: object) -> httpx.Response:
    """POST one body; it is taken (202, empty) or refused (400, a JSON-RPC error)."""
    resp = await http.post(endpoint, content=body if isinstance(body, bytes) else encode(body))
    assert resp.status_code in (202, 400), (resp.status_code, resp.text)
    if resp.status_code == 400:
        assert frame_ok(resp.content)["error"]["code"] in (-32700, -32600), resp.text
    else:
        assert resp.content == b""
    return resp


async def answer_to(events: Events, req_id: object) -> dict[str, Any]:
    """The answer to ``req_id`` on the stream (other messages are skipped)."""
    while True:
        msg = await next_message(events)
        if msg.get("id") == req_id and "method" not in msg:
            return frame_ok(orjson.dumps(msg))


async def ready_session(http: httpx.AsyncClient, endpoint: str, events: Events) -> None:
    await post(http, endpoint, initialize())
    assert (await answer_to(events, 1))["result"]["protocolVersion"] == "2024-11-05"
    await post(http, endpoint, {"jsonrpc": "2.0", "method": "notifications/initialized"})


@pytest.mark.parametrize("request_id", [{}, [1], None, 1.5, True, {"id": 7}])
async def test_a_cancel_naming_no_usable_id_is_taken_and_cancels_nothing(
    aggregator: HttpAggregator, request_id: object
) -> None:
    async with raw_session(aggregator) as (http, endpoint, events):
        await ready_session(http, endpoint, events)
        await post(http, endpoint, call(7, "fx__sleep", seconds=0.3))
        cancel = {"method": "notifications/cancelled", "params": {"requestId": request_id}}
        assert (await post(http, endpoint, {"jsonrpc": "2.0", **cancel})).status_code == 202
        answer = await answer_to(events, 7)
        assert answer["result"]["content"][0]["text"] == "slept 0.3", answer


async def test_params_nested_deeper_than_we_can_forward_are_invalid_params(
    aggregator: HttpAggregator,
) -> None:
    deep: dict[str, Any] = {}
    for _ in range(400):
        deep = {"x": deep}
    async with raw_session(aggregator) as (http, endpoint, events):
        await ready_session(http, endpoint, events)
        await post(http, endpoint, call(2, "fx__echo", text="deep", deep=deep))
        answer = await answer_to(events, 2)
        assert answer["error"]["code"] == -32602, answer
        await post(http, endpoint, call(3, "fx__echo", text="after"))
        assert (await answer_to(events, 3))["result"]["content"][0]["text"] == "after"


async def test_two_requests_with_one_id_in_flight_are_both_answered(
    aggregator: HttpAggregator,
) -> None:
    async with raw_session(aggregator) as (http, endpoint, events):
        await ready_session(http, endpoint, events)
        await post(http, endpoint, call(5, "fx__sleep", seconds=0.2))
        await post(http, endpoint, call(5, "fx__echo", text="same id"))
        with anyio.fail_after(10):
            answers = [await answer_to(events, 5), await answer_to(events, 5)]
        texts = sorted(a["result"]["content"][0]["text"] for a in answers)
        assert texts == ["same id", "slept 0.2"], answers


async def test_session_ids_that_are_no_session(aggregator: HttpAggregator) -> None:
    ping = encode({"jsonrpc": "2.0", "id": 1, "method": "ping"})
    async with httpx.AsyncClient(base_url=aggregator.base, timeout=10) as http:
        for query in ("session_id=%FF%FE", "session_id=", "sessionId=x&session_id=y", "a=b"):
            resp = await http.post(f"/messages?{query}", content=ping)
            assert resp.status_code in (400, 404), (query, resp.status_code)
            assert frame_ok(resp.content)["error"]["code"] == -32600


# ------------------------------------------------------------------------------ fuzzing

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
MESSAGES = st.fixed_dictionaries(
    {"jsonrpc": st.sampled_from(["2.0", "2.0", "1.0"])},
    optional={
        "method": st.sampled_from(
            [
                "tools/call",
                "tools/list",
                "ping",
                "prompts/get",
                "resources/read",
                "completion/complete",
                "notifications/cancelled",
                "notifications/progress",
                "logging/setLevel",
                "nope",
            ]
        )
        | JSON,
        "params": st.fixed_dictionaries(
            {},
            optional={
                "name": st.sampled_from(["fx__echo", "fx__add", "fx__fail", "nope"]) | JSON,
                "arguments": JSON,
                "uri": JSON,
                "requestId": JSON,
                "_meta": JSON,
            },
        )
        | JSON,
        "result": JSON,
        "error": JSON,
    },
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(messages=st.lists(MESSAGES, min_size=1, max_size=4))
async def test_fuzzed_messages_are_taken_or_refused_and_requests_answered(
    aggregator: HttpAggregator, messages: list[dict[str, Any]]
) -> None:
    async with raw_session(aggregator) as (http, endpoint, events):
        await ready_session(http, endpoint, events)
        waiting: list[str] = []
        for n, msg in enumerate(messages):
            is_request = isinstance(msg.get("method"), str) and n % 2 == 0
            if is_request:
                msg = {**msg, "id": f"fuzz-{n}"}  # a usable id, so an answer is owed
            taken = (await post(http, endpoint, msg)).status_code == 202
            if is_request and taken:
                waiting.append(msg["id"])
        with anyio.fail_after(15):
            for req_id in waiting:
                await answer_to(events, req_id)
        await post(http, endpoint, {"jsonrpc": "2.0", "id": "last", "method": "ping"})
        assert (await answer_to(events, "last"))["result"] == {}
