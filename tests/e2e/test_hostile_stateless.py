"""Hostile input on the MCP 2026-07-28 (stateless) path, over HTTP and over stdio.

One aggregator per front, in front of the handshake-era conformance fixture (``c``, whose tools
ask the client things mid-call, so calls are parked by the bridge) and the SDK fixture server
(``fx``, timeout 5 s). Every answer must be one well-formed JSON-RPC response with the code
the 2026 validation ladder gives and the HTTP status ``HTTP_STATUS`` maps it to — never a 500,
a traceback, a silent success or a hang — and the aggregator must keep serving afterwards
and leave no process behind (the fixtures check on teardown).
"""

from __future__ import annotations

import concurrent.futures
import itertools
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from only1mcp.protocol.stateless import HTTP_STATUS

from .conftest import FX_TIMEOUT, Front, open_front
from .rawwire import ANSWER_DEADLINE, RawStdio, encode, frame_ok, no_traceback_in, raw_http
from .stateless_wire import META, V, headers_for, tools_call
from .test_stateless import _config

CONFIRM = "c__test_input_required_result_request_state"
MULTI = "c__test_input_required_result_multi_round"
YES = {"confirm": {"action": "accept", "content": {"ok": True}}}


@pytest.fixture(scope="module")
def http_front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    workdir = tmp_path_factory.mktemp("hostile-http")
    with open_front("http", _config(workdir), workdir) as front:
        yield front
    assert front.http is not None
    no_traceback_in(front.http.log)


@pytest.fixture(scope="module")
def stdio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RawStdio]:
    """``only1mcp stdio`` fed raw lines. It is closed with a call parked and one in flight: the
    end of stdin must still end it at once, cleanly, leaving no process behind."""
    workdir = tmp_path_factory.mktemp("hostile-stdio")
    proc = RawStdio(_config(workdir), workdir / "only1mcp-stdio.log")
    try:
        yield proc
        parked = proc.request(call(CONFIRM))
        assert parked["result"]["resultType"] == "input_required", parked
        proc.send(encode(call("fx__sleep", {"seconds": 0.5})))
    finally:
        problems = proc.close()
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------------------ helpers

_ids = itertools.count(1000)


def request(method: object, params: Any = None, req_id: object = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"jsonrpc": "2.0", "id": next(_ids) if req_id is None else req_id}
    msg["method"] = method
    msg["params"] = {"_meta": META} if params is None else params
    return msg


def call(name: str, arguments: Any = None, **extra: Any) -> dict[str, Any]:
    return tools_call(name, arguments, req_id=next(_ids), **extra)


def post(
    front: Front, msg: Any = None, *, raw: bytes | None = None, extra: dict[str, str] | None = None
) -> dict[str, Any]:
    """POST one body; its answer, checked to be well-formed and to come with the HTTP status
    its error code maps to."""
    assert front.http is not None
    body = encode(msg) if raw is None else raw
    headers = {**headers_for(msg), **(extra or {})}
    resp = httpx.post(front.http.url, content=body, headers=headers, timeout=ANSWER_DEADLINE)
    assert resp.headers["content-type"] == "application/json", (resp.status_code, resp.text)
    answer = frame_ok(resp.content)
    expected = HTTP_STATUS.get(answer["error"]["code"], 200) if "error" in answer else 200
    assert resp.status_code == expected, (resp.status_code, answer)
    return answer


def code_of(answer: dict[str, Any]) -> int | None:
    return answer["error"]["code"] if "error" in answer else None


def assert_serving(front: Front) -> None:
    answer = post(front, call("fx__echo", {"text": "still here"}))
    assert answer["result"]["content"][0]["text"] == "still here", answer


def first_round(front: Front, name: str = CONFIRM, arguments: Any = None) -> dict[str, Any]:
    answer = post(front, call(name, arguments))
    result: dict[str, Any] = answer["result"]
    assert result["resultType"] == "input_required", answer
    return result


def retry(
    front: Front, state: object, answers: object = YES, name: str = CONFIRM, arguments: Any = None
) -> dict[str, Any]:
    return post(front, call(name, arguments, inputResponses=answers, requestState=state))


def descendants(front: Front) -> list[str]:
    assert front.http is not None
    children = psutil.Process(front.http.proc.pid).children(recursive=True)
    return [" ".join(p.cmdline()) for p in children if p.status() != psutil.STATUS_ZOMBIE]


# --------------------------------------------------------------------- the envelope ladder

DEEP = b"[" * 2000 + b"]" * 2000
BAD_BODIES: list[tuple[str, bytes, int]] = [
    ("not UTF-8", b'\xff\xfe{"jsonrpc":"2.0"}', -32700),
    ("empty", b"", -32700),
    ("truncated", b'{"jsonrpc":"2.0","id":1,', -32700),
    ("nested past the parser's limit", DEEP, -32700),
    ("null", b"null", -32600),
    ("a string", b'"tools/list"', -32600),
    ("an empty batch", b"[]", -32600),
    ("a batch", b'[{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}]', -32600),
]


@pytest.mark.parametrize(("what", "body", "code"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bodies_that_are_no_request_get_400_with_null_id(
    http_front: Front, what: str, body: bytes, code: int
) -> None:
    answer = post(http_front, raw=body, extra={"Mcp-Method": "tools/list"})
    assert code_of(answer) == code and answer["id"] is None, answer


BAD_REQUESTS: list[tuple[str, dict[str, Any], int]] = [
    ("params a list", {**request("tools/list"), "params": []}, -32600),
    ("params a string", {**request("tools/list"), "params": "x"}, -32600),
    ("method a number", {**request(5), "method": 5}, -32600),
    ("a response", {"jsonrpc": "2.0", "id": 3, "result": {}}, -32600),
    ("jsonrpc 1.0", {**request("tools/list"), "jsonrpc": "1.0"}, -32600),
    ("no params", {"jsonrpc": "2.0", "id": 4, "method": "tools/list"}, -32602),
    ("_meta a list", request("tools/list", {"_meta": []}), -32602),
    ("_meta null", request("tools/list", {"_meta": None}), -32602),
    (
        "version a number",
        request("tools/list", {"_meta": {**META, "io.modelcontextprotocol/protocolVersion": 7}}),
        -32602,
    ),
    (
        "capabilities a list",
        request(
            "tools/list",
            {"_meta": {**META, "io.modelcontextprotocol/clientCapabilities": ["elicitation"]}},
        ),
        -32602,
    ),
    ("unknown method", request("nope/nothing"), -32601),
    ("initialize", request("initialize"), -32601),
    ("ping", request("ping"), -32601),
    ("a notification's method with an id", request("notifications/cancelled"), -32601),
    ("tools/call without a name", request("tools/call", {"_meta": META}), -32602),
    ("an unknown tool", call("nope__nothing"), -32602),
    ("prompts/get of nothing", request("prompts/get", {"name": "nope", "_meta": META}), -32602),
    (
        "resources/read of nothing",
        request("resources/read", {"uri": "no://x", "_meta": META}),
        -32602,
    ),
    ("a cursor of the wrong type", request("tools/list", {"cursor": [1], "_meta": META}), -32602),
    ("a forged cursor", request("tools/list", {"cursor": "AAAA", "_meta": META}), -32602),
    ("completion without ref", request("completion/complete", {"_meta": META}), -32602),
]


@pytest.mark.parametrize(("what", "msg", "code"), BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_malformed_requests_get_the_ladder_code_and_their_id(
    http_front: Front, what: str, msg: dict[str, Any], code: int
) -> None:
    answer = post(http_front, msg)
    assert code_of(answer) == code, answer
    assert answer["id"] == msg.get("id"), answer


@pytest.mark.parametrize("bad_id", [None, True, False, 1.5, {}, [], {"id": 1}, 1e300])
def test_ids_of_the_wrong_type_are_invalid_requests(http_front: Front, bad_id: object) -> None:
    answer = post(http_front, {**request("tools/list"), "id": bad_id})
    assert code_of(answer) == -32600 and answer["id"] is None, answer


def test_an_unsupported_version_names_what_is_supported(http_front: Front) -> None:
    meta = {**META, "io.modelcontextprotocol/protocolVersion": "2099-01-01"}
    msg = request("tools/list", {"_meta": meta})
    answer = post(http_front, msg, extra={"MCP-Protocol-Version": "2099-01-01"})
    assert code_of(answer) == -32022, answer
    assert answer["error"]["data"] == {"supported": [V], "requested": "2099-01-01"}


def test_a_notification_is_202_with_no_body_and_a_huge_body_is_413(http_front: Front) -> None:
    assert http_front.http is not None
    note = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": {}}}
    resp = httpx.post(http_front.http.url, json=note, headers=headers_for(note))
    assert resp.status_code == 202 and resp.content == b""
    huge = call("fx__echo", {"text": "a" * (17 * 1024 * 1024)})
    resp = httpx.post(
        http_front.http.url, content=encode(huge), headers=headers_for(huge), timeout=30
    )
    assert resp.status_code == 413 and code_of(frame_ok(resp.content)) == -32600
    assert_serving(http_front)


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"x": value}
    return value


@pytest.mark.parametrize(
    "msg",
    [
        call("fx__echo", {"text": "deep", "deep": _nested(400)}),
        call("c__test_simple_text", {"deep": _nested(400)}),
        request(
            "completion/complete",
            {
                "ref": {"type": "ref/prompt", "name": "c__test_prompt_with_arguments"},
                "argument": {"name": "arg1", "value": "x"},
                "deep": _nested(400),
                "_meta": META,
            },
        ),
    ],
    ids=["tools/call", "bridged tools/call", "completion/complete"],
)
def test_params_nested_deeper_than_we_can_forward_are_invalid_params(
    http_front: Front, msg: dict[str, Any]
) -> None:
    """orjson parses 1024 levels but encodes only 254: such params must be refused, not 500."""
    answer = post(http_front, msg)
    assert code_of(answer) == -32602 and answer["id"] == msg["id"], answer
    assert_serving(http_front)


# ------------------------------------------------------------------------- fuzzed requests

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
# Methods a 2026 client may send, and others; tools that answer at once (none that parks).
METHODS = st.sampled_from(
    [
        "tools/list",
        "tools/call",
        "prompts/list",
        "prompts/get",
        "resources/list",
        "resources/read",
        "resources/templates/list",
        "completion/complete",
        "server/discover",
        "resources/subscribe",
        "logging/setLevel",
        "sampling/createMessage",
        "",
        "tools/call/",
    ]
)
TARGETS = st.sampled_from(
    ["fx__echo", "fx__add", "c__test_simple_text", "c__test_error_handling", "c+test://static-text"]
)
METAS = st.one_of(
    st.just(META),
    st.just({**META, "io.modelcontextprotocol/logLevel": "debug", "progressToken": 5}),
    st.dictionaries(st.sampled_from([*META, "x"]), JSON, max_size=3),
    JSON,
)


@st.composite
def fuzzed_requests(draw: st.DrawFn) -> dict[str, Any]:
    method = draw(METHODS)
    params: dict[str, Any] = {"_meta": draw(METAS)}
    if draw(st.booleans()):
        params["name" if method != "resources/read" else "uri"] = draw(TARGETS | JSON)
    if draw(st.booleans()):
        params["arguments"] = draw(JSON)
    params.update(
        draw(st.dictionaries(st.sampled_from(["cursor", "ref", "argument", "uri"]), JSON))
    )
    return request(method, params)


FUZZ = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@FUZZ
@given(msg=fuzzed_requests())
def test_fuzzed_requests_get_a_well_formed_answer_over_http(
    http_front: Front, msg: dict[str, Any]
) -> None:
    answer = post(http_front, msg)
    assert answer["id"] == msg["id"], answer
    assert code_of(answer) != -32603, answer  # no internal error for anything a client sends


@FUZZ
@given(msg=fuzzed_requests())
def test_fuzzed_requests_get_a_well_formed_answer_over_stdio(
    stdio: RawStdio, msg: dict[str, Any]
) -> None:
    answer = stdio.request(msg)
    assert code_of(answer) != -32603, answer


# --------------------------------------------------------------------------------- headers


def _head(name: str, extra: bytes = b"") -> bytes:
    return (
        b"Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2026-07-28\r\n"
        b"Mcp-Method: tools/call\r\nContent-Type: application/json\r\n"
        + extra
        + (b"Mcp-Name: " + name.encode("latin-1") + b"\r\n" if name else b"")
    )


@pytest.mark.parametrize(
    ("what", "head"),
    [
        ("Mcp-Name twice", _head("fx__echo", b"Mcp-Name: fx__echo\r\n")),
        ("Mcp-Method twice", _head("fx__echo", b"Mcp-Method: tools/call\r\n")),
        ("version twice", _head("fx__echo", b"MCP-Protocol-Version: 2026-07-28\r\n")),
        ("Mcp-Name missing", _head("")),
        ("Mcp-Name of another tool", _head("fx__add")),
        ("a tab inside Mcp-Name", _head("fx__\techo")),
        ("a latin-1 byte in Mcp-Name", _head("fx__\xe9cho")),
        ("bad base64", _head("=?base64?!!!!?=")),
        ("non-canonical base64", _head("=?base64?ZnhfX2VjaG8?=")),
        ("base64 of bad UTF-8", _head("=?base64?/w==?=")),
        ("an empty sentinel", _head("=?base64??=")),
    ],
)
def test_routing_headers_that_disagree_are_32020(http_front: Front, what: str, head: bytes) -> None:
    assert http_front.http is not None
    msg = call("fx__echo", {"text": "h"})
    resp = raw_http(http_front.http.port, head, encode(msg))
    answer = frame_ok(resp.body)
    assert resp.status == 400 and code_of(answer) == -32020 and answer["id"] == msg["id"], answer


def test_canonical_base64_and_padding_whitespace_match(http_front: Front) -> None:
    assert http_front.http is not None
    msg = call("fx__echo", {"text": "h"})
    for name in ("=?base64?ZnhfX2VjaG8=?=", "  fx__echo\t"):
        resp = raw_http(http_front.http.port, _head(name), encode(msg))
        assert resp.status == 200, resp.body
        assert frame_ok(resp.body)["result"]["content"][0]["text"] == "h"


def test_control_characters_in_a_header_are_refused_before_the_app(http_front: Front) -> None:
    """The HTTP parser refuses the request (400); the aggregator keeps serving."""
    assert http_front.http is not None
    for bad in ("fx__\x01echo", "fx__\x00echo", "fx__\x7fecho"):
        resp = raw_http(http_front.http.port, _head(bad), encode(call("fx__echo")))
        assert resp.status == 400, resp
    assert_serving(http_front)


def test_wrong_http_methods_and_accept_headers(http_front: Front) -> None:
    assert http_front.http is not None
    url = http_front.http.url
    for method in ("PUT", "PATCH", "GET", "DELETE"):
        resp = httpx.request(method, url, headers={"MCP-Protocol-Version": V})
        assert resp.status_code == 405 and resp.headers["allow"] == "POST", method
    msg = request("server/discover")
    for accept in ("", "application/json", "text/event-stream", "*/*"):
        headers = {**headers_for(msg), "Accept": accept}
        resp = httpx.post(url, json=msg, headers=headers)
        assert resp.status_code == 406, accept
        assert code_of(frame_ok(resp.content)) == -32600


# ------------------------------------------------------------------ parked calls and states


@pytest.mark.parametrize("answers", [[], "confirm", 7, None, True], ids=repr)
def test_input_responses_that_are_no_object_are_refused_and_keep_the_call(
    http_front: Front, answers: object
) -> None:
    state = first_round(http_front)["requestState"]
    if answers is not None:
        refused = retry(http_front, state, answers)
        assert code_of(refused) == -32602, refused
    # The refusal consumed nothing: the same state still answers the call.
    done = retry(http_front, state)
    assert done["result"]["content"][0]["text"] == "state-ok: confirmed=True", done


@pytest.mark.parametrize(
    "answer",
    [
        "yes",
        [],
        {},
        {"action": "bogus"},
        {"action": "accept", "content": 5},
        {"action": "accept", "content": []},
    ],
    ids=repr,
)
def test_a_wrong_answer_fails_the_call_clearly(http_front: Front, answer: object) -> None:
    state = first_round(http_front)["requestState"]
    failed = retry(http_front, state, {"confirm": answer})
    assert code_of(failed) == -32602 and "inputResponses" in failed["error"]["message"], failed
    again = retry(http_front, state)
    assert code_of(again) == -32602, again
    assert_serving(http_front)


def test_answers_under_other_keys_are_kept_for_later_and_the_question_asked_again(
    http_front: Front,
) -> None:
    state = first_round(http_front)["requestState"]
    answer = retry(http_front, state, {"unrelated": {"x": 1}, "confirm ": YES["confirm"]})
    result = answer["result"]
    assert result["resultType"] == "input_required" and set(result["inputRequests"]) == {
        "confirm"
    }, answer
    done = retry(http_front, result["requestState"])
    assert done["result"]["resultType"] == "complete", done


def _mangled_states(token: str) -> list[object]:
    body = token[3:]
    return [
        5,
        [],
        {},
        True,
        "",
        "v1.",
        "v1." + "A" * 200_000,
        "v2." + body,
        token[:-1],
        token + "A",
        token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"),
        token[:20],  # the key id and part of a nonce
        token[:9],  # the key id only
        "v1.!!!!",
        "v1." + body.upper(),
    ]


def test_request_states_of_every_wrong_shape_are_refused_and_consume_nothing(
    http_front: Front,
) -> None:
    state = first_round(http_front)["requestState"]
    for bad in _mangled_states(state):
        refused = retry(http_front, bad)
        assert code_of(refused) == -32602, (bad if len(str(bad)) < 100 else "long", refused)
        assert refused["error"]["data"] == {"reason": "invalid_request_state"}, refused
    done = retry(http_front, state)
    assert done["result"]["resultType"] == "complete", done
    assert code_of(retry(http_front, state)) == -32602  # and used, it is spent


def test_a_state_is_bound_to_its_arguments_and_method(http_front: Front) -> None:
    state = first_round(http_front, CONFIRM, {})["requestState"]
    moved = retry(http_front, state, arguments={"extra": 1})
    assert code_of(moved) == -32602, moved
    as_prompt = request(
        "prompts/get",
        {"name": CONFIRM, "_meta": META, "inputResponses": YES, "requestState": state},
    )
    assert code_of(post(http_front, as_prompt)) == -32602
    done = retry(http_front, state)
    assert done["result"]["resultType"] == "complete", done


def test_two_concurrent_retries_with_one_state_serve_one(http_front: Front) -> None:
    """A state answers one round once: of two retries racing with it, one wins the next round,
    the other is refused — and the winner's state is the one that goes on."""
    state = first_round(http_front, MULTI)["requestState"]
    step1 = {"step1": {"action": "accept", "content": {"name": "Ann"}}}
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: retry(http_front, state, step1, MULTI), range(2)))
    winners = [a["result"] for a in answers if "result" in a]
    losers = [a for a in answers if "error" in a]
    assert len(winners) == 1 and len(losers) == 1, answers
    assert code_of(losers[0]) == -32602
    assert set(winners[0]["inputRequests"]) == {"step2"}
    step2 = {"step2": {"action": "accept", "content": {"color": "teal"}}}
    done = retry(http_front, winners[0]["requestState"], step2, MULTI)
    assert done["result"]["content"][0]["text"] == "Ann likes teal", done


def test_concurrent_parked_calls_are_all_parked_and_complete(http_front: Front) -> None:
    """Several first rounds at once on a stdio server: a pipe cannot say which call a question
    belongs to, so each bridged call leases an instance of its own; every one is parked, and
    every one completes."""
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: post(http_front, call(CONFIRM)), range(4)))
    parked = [a["result"] for a in answers if "result" in a]
    assert len(parked) == 4, answers
    for result in parked:
        assert result["resultType"] == "input_required"
        done = retry(http_front, result["requestState"])
        assert done["result"]["resultType"] == "complete", done


def test_junk_capability_values_start_no_extra_backend_sessions(http_front: Front) -> None:
    """Capabilities name what a backend may ask; their values must not start a new backend
    session each (a process per distinct value) nor break its initialize."""
    post(http_front, call("c__test_simple_text"))  # the mirror for META's set exists now
    before = len(descendants(http_front))
    junk: list[object] = [{"junk": 1}, {"junk": 2}, {"y": []}, 5, "x", [1], None]
    for value in junk:
        meta = {**META, "io.modelcontextprotocol/clientCapabilities": {"elicitation": value}}
        msg = call("c__test_simple_text", _meta=meta)
        answer = post(http_front, msg)
        assert answer["result"]["content"][0]["text"].startswith("This is a simple"), answer
    # Idle leased instances beyond the kept few may still be closing: never more, maybe fewer.
    assert len(descendants(http_front)) <= before


def test_a_hung_backend_answers_within_its_timeout(http_front: Front) -> None:
    started = time.monotonic()
    answer = post(http_front, call("fx__sleep", {"seconds": 30}))
    took = time.monotonic() - started
    assert code_of(answer) == -32001 and answer["id"] is not None, answer
    assert FX_TIMEOUT - 0.5 < took < FX_TIMEOUT + 3, took
    assert_serving(http_front)


def test_a_client_leaving_mid_call_costs_nothing(http_front: Front) -> None:
    assert http_front.http is not None
    msg = call("fx__sleep", {"seconds": 1})
    body = encode(msg)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers_for(msg).items()).encode()
    with socket.create_connection(("127.0.0.1", http_front.http.port)) as sock:
        sock.sendall(
            b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n" % len(body)
            + head
            + b"\r\n"
            + body
        )
        time.sleep(0.1)
    assert_serving(http_front)
    time.sleep(1.2)  # the sleep ends with nobody to answer
    assert_serving(http_front)


def _kill_conformance(front: Front) -> int:
    assert front.http is not None
    killed = 0
    for proc in psutil.Process(front.http.proc.pid).children(recursive=True):
        if "conformance_server" in " ".join(proc.cmdline()):
            proc.kill()
            killed += 1
    return killed


def _wait_recovered(front: Front, deadline: float = 30.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        answer = post(front, call("c__test_simple_text"))
        if "result" in answer:
            return
        time.sleep(0.2)
    raise AssertionError("the conformance backend did not come back")


def test_a_retry_after_the_backend_died_gets_a_backend_error(http_front: Front) -> None:
    state = first_round(http_front)["requestState"]
    assert _kill_conformance(http_front) >= 1
    time.sleep(0.3)
    started = time.monotonic()
    answer = retry(http_front, state)
    assert code_of(answer) == -32000 and "down" in answer["error"]["message"], answer
    assert time.monotonic() - started < 5
    assert code_of(retry(http_front, state)) == -32602  # the failed call is gone
    _wait_recovered(http_front)
    state = first_round(http_front)["requestState"]
    assert retry(http_front, state)["result"]["resultType"] == "complete"


# ------------------------------------------------------------------ subscriptions/listen


def _listen(front: Front, params: Any, frames: int = 1) -> tuple[int, list[dict[str, Any]]]:
    assert front.http is not None
    msg = request("subscriptions/listen", params)
    got: list[dict[str, Any]] = []
    with httpx.stream(
        "POST", front.http.url, content=encode(msg), headers=headers_for(msg), timeout=10
    ) as resp:
        if resp.status_code != 200:
            return resp.status_code, [frame_ok(resp.read())]
        for line in resp.iter_lines():
            if line.startswith("data: "):
                got.append(orjson.loads(line[6:]))
            if len(got) == frames:
                break
    return 200, got


@pytest.mark.parametrize(
    ("notifications", "honoured"),
    [
        ("everything", {}),
        ([], {}),
        (None, {}),
        ({"toolsListChanged": "yes", "promptsListChanged": 1, "bogus": True}, {}),
        (
            {"toolsListChanged": True, "resourceSubscriptions": "c+test://watched-resource"},
            {"toolsListChanged": True},
        ),
        (
            {
                "resourceSubscriptions": [
                    None,
                    5,
                    {"uri": "x"},
                    "nope://x",
                    "",
                    "c+test://watched-resource",
                ]
                + ["c+test://watched-resource"] * 300
            },
            {"resourceSubscriptions": ["c+test://watched-resource"]},
        ),
    ],
    ids=["a string", "a list", "null", "non-boolean flags", "uris not a list", "junk uris"],
)
def test_listen_acknowledges_exactly_what_it_honours(
    http_front: Front, notifications: object, honoured: dict[str, Any]
) -> None:
    started = time.monotonic()
    status, frames = _listen(http_front, {"_meta": META, "notifications": notifications})
    assert status == 200 and frames[0]["method"] == "notifications/subscriptions/acknowledged"
    assert frames[0]["params"]["notifications"] == honoured, frames
    assert time.monotonic() - started < 3


def test_listen_with_a_bad_envelope_is_refused_not_streamed(http_front: Front) -> None:
    for params in (
        {},
        {"_meta": 5},
        {"_meta": {**META, "io.modelcontextprotocol/protocolVersion": "1"}},
    ):
        status, (answer,) = _listen(http_front, params)
        assert status == 400 and code_of(answer) in (-32602, -32022, -32020), answer
    assert_serving(http_front)


# --------------------------------------------------------------------------------- stdio


def _line(msg: dict[str, Any]) -> bytes:
    return encode(msg)


def test_stdio_errors_echo_the_request_id_when_there_is_one(stdio: RawStdio) -> None:
    """Over a pipe the id is the only way to match an answer: a request with a usable id but a
    bad envelope must be answered with that id, or its client waits forever."""
    for msg in (
        {**request("tools/list"), "params": [], "id": 70},
        {**request("tools/list"), "params": "x", "id": "seventy-one"},
        {**request(5), "method": 5, "id": 72},
        {**request("tools/list"), "jsonrpc": "1.0", "id": 73},
    ):
        answer = stdio.request(msg)
        assert code_of(answer) == -32600, answer
    for raw in (
        b"\xff\xfe",
        b"[" * 3000,
        b"[]",
        b"null",
        b'{"jsonrpc":"2.0","id":true,"method":"x"}',
    ):
        stdio.send(raw)
        answer = stdio.answer(None)
        assert code_of(answer) in (-32700, -32600), answer


def test_stdio_2026_ladder_and_deep_params(stdio: RawStdio) -> None:
    cases: list[tuple[dict[str, Any], int]] = [
        (
            request(
                "tools/list", {"_meta": {**META, "io.modelcontextprotocol/clientCapabilities": 5}}
            ),
            -32602,
        ),
        (
            request(
                "tools/list",
                {"_meta": {**META, "io.modelcontextprotocol/protocolVersion": "2099-01-01"}},
            ),
            -32022,
        ),
        (request("ping"), -32601),
        (request("nope"), -32601),
        (call("fx__echo", {"text": "deep", "deep": _nested(400)}), -32602),
        (call("c__test_simple_text", {"deep": _nested(400)}), -32602),
    ]
    for msg, code in cases:
        answer = stdio.request(msg)
        assert code_of(answer) == code and answer["id"] == msg["id"], answer
    echoed = stdio.request(call("fx__echo", {"text": "pipe"}))
    assert echoed["result"]["content"][0]["text"] == "pipe", echoed


def test_stdio_parked_call_bad_answers_and_concurrent_retries(stdio: RawStdio) -> None:
    parked = stdio.request(call(CONFIRM))["result"]
    state = parked["requestState"]
    refused = stdio.request(call(CONFIRM, inputResponses=["x"], requestState=state))
    assert code_of(refused) == -32602, refused
    first, second = (
        call(CONFIRM, inputResponses=YES, requestState=state),
        call(CONFIRM, inputResponses=YES, requestState=state),
    )
    stdio.send(_line(first) + b"\n" + _line(second))
    answers = [stdio.answer(first["id"]), stdio.answer(second["id"])]
    assert sorted(code_of(a) or 0 for a in answers) == [-32602, 0], answers


def _listen_line(sub_id: str) -> bytes:
    notifications = {"toolsListChanged": True}
    return encode(
        request("subscriptions/listen", {"_meta": META, "notifications": notifications}, sub_id)
    )


def test_stdio_a_cancelled_listen_ends_and_others_go_on(stdio: RawStdio) -> None:
    """On a pipe a 2026 client ends a listen with notifications/cancelled naming it: nothing
    more may arrive for it (and its hidden session must go), while other listens go on."""
    for sub_id in ("gone-1", "kept-1"):
        stdio.send(_listen_line(sub_id))
        ack = stdio.next()
        assert ack["method"] == "notifications/subscriptions/acknowledged", ack
        assert ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == sub_id
    for request_id in ({}, [1], None, "gone-1"):
        cancel = {"method": "notifications/cancelled", "params": {"requestId": request_id}}
        stdio.send(encode({"jsonrpc": "2.0", **cancel}))
    changed = stdio.request(call("c__test_trigger_tool_change"))
    assert changed["result"]["resultType"] == "complete", changed
    tagged = [
        m["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"]
        for m in stdio.quiet(1.0)
        if m.get("method") == "notifications/tools/list_changed" and "params" in m
    ]
    assert tagged == ["kept-1"], tagged
    stdio.send(
        encode(
            {
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": {"requestId": "kept-1"},
            }
        )
    )
