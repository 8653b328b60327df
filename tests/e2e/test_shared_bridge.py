"""2026-07-28 calls to a handshake-era stdio server share its one process (docs/design/eras.md
§4.7).

The SDK fixture server over stdio, spoken to the handshake way (``protocol: handshake``), behind
the HTTP front: every 2026 call to it goes through the bridge. Under concurrent load — the
official SDK ``Client`` in its default mode and raw HTTP side by side — the backend processes
stay the very same ones (no process is started per call). A question the server asks during one
call reaches that call's client while other calls are in flight on the same process, when the
server names the call it serves; when it names none and several calls are in flight, the server
is refused with the fix in the message (which the server passes on to its caller here); alone
in flight, it is that call's.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import mcp_types as types
import psutil
import pytest

from .conftest import (
    Front,
    fx_stdio_server,
    open_front,
    prompt_of,
    run_watched,
    sampled,
    text_of,
    write_config,
)
from .stateless_wire import V, headers_for, tools_call

pytestmark = pytest.mark.anyio

SAMPLING: dict[str, Any] = {"sampling": {}}
DEADLINE = 60.0
SLEEP = 3.0  # long enough to be in flight while another call asks and is answered


@pytest.fixture(scope="module")
def shared_front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    workdir = tmp_path_factory.mktemp("shared-bridge")
    fx = {**fx_stdio_server(), "protocol": "handshake", "timeout": 20}
    config = write_config(workdir / "only1mcp.yaml", {"fx": fx})
    with open_front("http", config, workdir) as front:
        yield front


def backend_pids(front: Front) -> set[int]:
    """The only1mcp process's descendants: its backends."""
    assert front.http is not None
    children = psutil.Process(front.http.proc.pid).children(recursive=True)
    return {child.pid for child in children if child.status() != psutil.STATUS_ZOMBIE}


_ids = iter(range(1, 1_000_000))


async def post(
    http: httpx.AsyncClient,
    front: Front,
    name: str,
    arguments: dict[str, Any],
    capabilities: dict[str, Any] | None = None,
    **extra: Any,
) -> tuple[int, dict[str, Any]]:
    """One raw 2026 ``tools/call``: the headers and the ``_meta`` envelope a client sends."""
    assert front.http is not None
    meta = {
        "io.modelcontextprotocol/protocolVersion": V,
        "io.modelcontextprotocol/clientCapabilities": SAMPLING
        if capabilities is None
        else capabilities,
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
    }
    body = tools_call(name, arguments, req_id=next(_ids), meta=meta, **extra)
    resp = await http.post(front.http.url, json=body, headers=headers_for(body))
    answer: dict[str, Any] = resp.json()
    assert answer["id"] == body["id"], answer
    return resp.status_code, answer


async def _paris(context: Any, params: types.CreateMessageRequestParams) -> Any:
    return sampled("Paris")


async def test_concurrent_2026_calls_start_no_backend_process(shared_front: Front) -> None:
    before = backend_pids(shared_front)
    seen: set[int] = set()
    texts: list[str] = []

    async def raw_calls(http: httpx.AsyncClient, worker: int) -> None:
        for n in range(10):
            text = f"raw {worker}-{n}"
            status, answer = await post(http, shared_front, "fx__echo", {"text": text})
            assert status == 200, answer
            assert answer["result"]["resultType"] == "complete", answer
            texts.append(answer["result"]["content"][0]["text"])
            assert texts[-1] == text

    async def sdk_calls(client: Any, worker: int) -> None:
        for n in range(10):
            result = await client.call_tool("fx__echo", {"text": f"sdk {worker}-{n}"})
            assert text_of(result) == f"sdk {worker}-{n}"
            texts.append(text_of(result))

    async def watch() -> None:
        while True:
            seen.update(backend_pids(shared_front))
            await anyio.sleep(0.02)

    async with (
        shared_front.client(mode="auto") as client,
        httpx.AsyncClient(timeout=DEADLINE, trust_env=False) as http,
    ):
        assert client.protocol_version == V  # the SDK's default mode found the 2026 front
        workers = [functools.partial(raw_calls, http, worker) for worker in range(32)]
        workers += [functools.partial(sdk_calls, client, worker) for worker in range(4)]
        await run_watched(watch, workers, DEADLINE)
    assert len(texts) == 360
    assert backend_pids(shared_front) == before, "the backend processes changed under load"
    assert seen == before, f"processes came and went under load: {sorted(seen - before)}"


async def test_a_named_question_reaches_its_caller_among_calls_in_flight(
    shared_front: Front,
) -> None:
    """The server names the call it serves in ``_meta``: its question goes to that call's
    client, though six other calls are in flight on the same process."""
    before = backend_pids(shared_front)
    asked: list[str] = []

    async def on_sample(context: Any, params: types.CreateMessageRequestParams) -> Any:
        asked.append(prompt_of(params))
        return await _paris(context, params)

    slept: list[str] = []

    async def sleeper(http: httpx.AsyncClient) -> None:
        status, answer = await post(http, shared_front, "fx__sleep", {"seconds": SLEEP})
        assert status == 200 and "result" in answer, answer
        slept.append(answer["result"]["content"][0]["text"])

    async with (
        shared_front.client(mode="auto", sampling_callback=on_sample) as client,
        httpx.AsyncClient(timeout=DEADLINE, trust_env=False) as http,
    ):
        with anyio.fail_after(DEADLINE):
            async with anyio.create_task_group() as group:
                for _ in range(6):
                    group.start_soon(sleeper, http)
                await anyio.sleep(0.5)  # all six are in flight on the one fx process now
                result = await client.call_tool("fx__sample_named", {"prompt": "Capital?"})
                assert not slept, "the question was answered only after the others ended"
                assert text_of(result) == "Paris"
    assert asked == ["Capital?"]
    assert len(slept) == 6
    assert backend_pids(shared_front) == before


async def test_an_unnamed_question_is_its_calls_alone_and_refused_among_others(
    shared_front: Front,
) -> None:
    """A question that names no call belongs to the one call in flight; with others in
    flight it is refused, and the message names the fix."""
    async with httpx.AsyncClient(timeout=DEADLINE, trust_env=False) as http:
        with anyio.fail_after(DEADLINE):
            status, alone = await post(http, shared_front, "fx__sample", {"prompt": "Capital?"})
            assert status == 200, alone
            result = alone["result"]
            assert result["resultType"] == "input_required", result
            ((key, question),) = result["inputRequests"].items()
            assert question["method"] == "sampling/createMessage", question
            answer = await _paris(None, None)  # type: ignore[arg-type]
            responses = {key: answer.model_dump(by_alias=True, exclude_none=True)}
            status, done = await post(
                http,
                shared_front,
                "fx__sample",
                {"prompt": "Capital?"},
                inputResponses=responses,
                requestState=result["requestState"],
            )
            assert status == 200 and done["result"]["resultType"] == "complete", done
            assert done["result"]["content"][0]["text"] == "Paris"

            refused: dict[str, Any] = {}

            async def ask_among_others() -> None:
                await anyio.sleep(0.5)  # the sleepers are in flight
                _, refused["answer"] = await post(
                    http, shared_front, "fx__sample", {"prompt": "Capital?"}
                )

            async with anyio.create_task_group() as group:
                for _ in range(3):
                    group.start_soon(post, http, shared_front, "fx__sleep", {"seconds": SLEEP})
                group.start_soon(ask_among_others)
    # The server hears the refusal (the fix in its message) and fails its call with it.
    error = refused["answer"]["error"]
    assert "isolation: session" in error["message"], error


async def test_an_undeclared_capability_is_refused_on_the_shared_process(
    shared_front: Front,
) -> None:
    before = backend_pids(shared_front)
    async with httpx.AsyncClient(timeout=DEADLINE, trust_env=False) as http:
        with anyio.fail_after(DEADLINE):
            status, answer = await post(
                http, shared_front, "fx__sample_named", {"prompt": "Capital?"}, capabilities={}
            )
            assert status == 400, answer
            assert answer["error"]["code"] == -32021, answer
            assert answer["error"]["data"] == {"requiredCapabilities": {"sampling": {}}}
            status, echoed = await post(http, shared_front, "fx__echo", {"text": "still here"})
            assert echoed["result"]["content"][0]["text"] == "still here", echoed
    assert backend_pids(shared_front) == before


async def _raw(
    http: httpx.AsyncClient,
    front: Front,
    headers: list[tuple[str, str]],
    meta: dict[str, Any] | None = None,
) -> tuple[int, dict[str, Any]]:
    """A 2026 ``tools/call`` of fx__echo with exactly these routing headers and ``_meta``
    extras (the straight path takes the common form only; the rest takes the whole ladder)."""
    assert front.http is not None
    envelope = {
        "io.modelcontextprotocol/protocolVersion": V,
        "io.modelcontextprotocol/clientCapabilities": {},
        **(meta or {}),
    }
    params = {"name": "fx__echo", "arguments": {"text": "same"}, "_meta": envelope}
    body = {"jsonrpc": "2.0", "id": next(_ids), "method": "tools/call", "params": params}
    accept = ("Accept", "application/json, text/event-stream")
    resp = await http.post(front.http.url, json=body, headers=[accept, *headers])
    answer: dict[str, Any] = resp.json()
    assert answer["id"] == body["id"], answer
    return resp.status_code, answer


COMMON = [("MCP-Protocol-Version", V), ("Mcp-Method", "tools/call"), ("Mcp-Name", "fx__echo")]
SENTINEL = "=?base64?ZnhfX2VjaG8=?="  # fx__echo


@pytest.mark.parametrize(
    ("headers", "meta"),
    [
        (COMMON, None),
        ([*COMMON[:2], ("Mcp-Name", SENTINEL)], None),
        (COMMON, {"com.example/trace": "t1"}),
        (COMMON, {"io.modelcontextprotocol/logLevel": "error"}),
    ],
    ids=["common", "name-sentinel", "foreign-meta", "log-level"],
)
async def test_every_accepted_form_of_a_call_gets_the_same_answer(
    shared_front: Front, headers: list[tuple[str, str]], meta: dict[str, Any] | None
) -> None:
    async with httpx.AsyncClient(timeout=DEADLINE, trust_env=False) as http:
        status, answer = await _raw(http, shared_front, headers, meta)
    assert status == 200, answer
    assert answer["result"]["resultType"] == "complete"
    assert answer["result"]["content"][0]["text"] == "same"


@pytest.mark.parametrize(
    ("headers", "meta"),
    [
        ([*COMMON[:2], ("Mcp-Name", "fx__other")], None),
        ([*COMMON[:2], ("Mcp-Name", "=?base64?ZnhfX290aGVy?=")], None),
        ([COMMON[0], ("Mcp-Method", "tools/list"), COMMON[2]], None),
        ([*COMMON, ("Mcp-Name", "fx__echo")], None),
        (
            [*COMMON[1:], ("MCP-Protocol-Version", V)],
            {"io.modelcontextprotocol/protocolVersion": "2099-01-01"},
        ),
        (COMMON[:2], None),
    ],
    ids=["name", "name-sentinel", "method", "name-twice", "version", "name-missing"],
)
async def test_a_header_that_differs_from_the_body_is_refused(
    shared_front: Front, headers: list[tuple[str, str]], meta: dict[str, Any] | None
) -> None:
    async with httpx.AsyncClient(timeout=DEADLINE, trust_env=False) as http:
        status, answer = await _raw(http, shared_front, headers, meta)
    assert status == 400, answer
    assert answer["error"]["code"] == -32020, answer


def test_a_backend_failure_on_the_straight_path_is_the_calls_error(tmp_path: Any) -> None:
    """A plain 2026 call takes the straight path (no router dispatch, which framed errors):
    when its backend call fails — a timeout here — the client still gets a JSON-RPC error
    with its id, with the backend's code, and the shared process serves the next call."""
    config = write_config(tmp_path / "only1mcp.yaml", {"fx": fx_stdio_server(timeout=0.5)})

    async def calls() -> None:
        async with httpx.AsyncClient(timeout=DEADLINE, trust_env=False) as http:
            status, answer = await post(http, front, "fx__sleep", {"seconds": 2.0})
            assert status == 200, answer  # a server-side error: HTTP 200 at 2026
            assert answer["error"]["code"] == -32001, answer  # the backend timed out
            status, answer = await post(http, front, "fx__echo", {"text": "after"})
            assert status == 200, answer
            assert answer["result"]["content"][0]["text"] == "after", answer

    with open_front("http", config, tmp_path) as front:
        anyio.run(calls)
