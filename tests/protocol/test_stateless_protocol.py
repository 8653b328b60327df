"""The 2026-07-28 envelope ladder and the SEP-2243 header rules, rung by rung."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from only1mcp import __version__
from only1mcp._core import stamp_complete
from only1mcp.errors import HEADER_MISMATCH, INVALID_PARAMS, UNSUPPORTED_VERSION, RpcError
from only1mcp.protocol.results import stamp
from only1mcp.protocol.stateless import (
    META_CAPABILITIES,
    META_LOG_LEVEL,
    META_SERVER_INFO,
    META_VERSION,
    Headers,
    check_param_headers,
    check_request,
    decode_header_value,
    encode_header_value,
    is_stateless,
    request_headers,
    with_envelope,
)

V = "2026-07-28"
META = {META_VERSION: V, META_CAPABILITIES: {}}


def _headers(**values: str | list[str]) -> Headers:
    raw: list[tuple[bytes, bytes]] = []
    for name, value in values.items():
        for one in value if isinstance(value, list) else [value]:
            raw.append((name.replace("_", "-").lower().encode(), one.encode()))
    return Headers(raw)


def _request(method: str = "tools/list", **params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 7, "method": method, "params": {"_meta": dict(META), **params}}


def _code(headers: Headers, msg: dict[str, Any]) -> int:
    with pytest.raises(RpcError) as caught:
        check_request(headers, msg)
    return caught.value.code


def test_routing_takes_every_non_handshake_version_to_the_2026_path() -> None:
    assert is_stateless(b"2026-07-28") and is_stateless(b"v999.0.0")
    assert not is_stateless(b"2025-11-25") and not is_stateless(b"2024-11-05")
    assert not is_stateless(None)


def test_a_complete_request_passes_and_reads_its_envelope() -> None:
    msg = _request("tools/call", name="t")
    msg["params"]["_meta"][META_LOG_LEVEL] = "warning"
    envelope = check_request(
        _headers(mcp_protocol_version=V, mcp_method="tools/call", mcp_name=" \tt  "), msg
    )
    assert envelope.version == V and envelope.log_level == "warning"


@pytest.mark.parametrize(
    ("meta", "code"),
    [
        (None, INVALID_PARAMS),
        ({META_CAPABILITIES: {}}, INVALID_PARAMS),
        ({META_VERSION: V}, INVALID_PARAMS),
        ({META_VERSION: V, META_CAPABILITIES: []}, INVALID_PARAMS),
    ],
)
def test_a_missing_envelope_is_invalid_params(meta: Any, code: int) -> None:
    msg = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    if meta is not None:
        msg["params"]["_meta"] = meta
    assert _code(_headers(mcp_protocol_version=V, mcp_method="tools/list"), msg) == code


def test_headers_are_checked_before_the_version_and_the_version_after() -> None:
    unknown = _request()
    unknown["params"]["_meta"][META_VERSION] = "v999.0.0"
    # header and _meta disagree: -32020 even though the version is unknown too
    assert _code(_headers(mcp_protocol_version=V, mcp_method="tools/list"), unknown) == (
        HEADER_MISMATCH
    )
    agreed = _headers(mcp_protocol_version="v999.0.0", mcp_method="tools/list")
    with pytest.raises(RpcError) as caught:
        check_request(agreed, unknown)
    assert caught.value.code == UNSUPPORTED_VERSION
    assert caught.value.data == {"supported": [V], "requested": "v999.0.0"}


@pytest.mark.parametrize(
    "headers",
    [
        {"mcp_protocol_version": V},  # Mcp-Method missing
        {"mcp_protocol_version": V, "mcp_method": "TOOLS/CALL"},  # values are case-sensitive
        {"mcp_protocol_version": V, "mcp_method": "tools/call"},  # Mcp-Name missing
        {"mcp_protocol_version": V, "mcp_method": "tools/call", "mcp_name": "other"},
        {"mcp_protocol_version": V, "mcp_method": ["tools/call", "tools/call"], "mcp_name": "t"},
    ],
)
def test_routing_headers_must_match_the_body(headers: dict[str, Any]) -> None:
    assert _code(_headers(**headers), _request("tools/call", name="t")) == HEADER_MISMATCH


def test_mcp_name_may_be_base64_wrapped() -> None:
    msg = _request("resources/read", uri="test://ü")
    wrapped = "=?base64?dGVzdDovL8O8?="
    check_request(
        _headers(mcp_protocol_version=V, mcp_method="resources/read", mcp_name=wrapped), msg
    )


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("plain", "plain"),
        ("=?base64?SGVsbG8=?=", "Hello"),
        ("=?base64?SGVsbG8?=", None),  # bad padding
        ("=?base64?SGVs!!!bG8=?=", None),
        ("=?base64?SGVsbG9=?=", None),  # non-canonical trailing bits
        ("=?base64?SGVsbG8=", "=?base64?SGVsbG8="),  # no suffix: literal
    ],
)
def test_header_value_decoding(raw: str, decoded: str | None) -> None:
    assert decode_header_value(raw) == decoded


SCHEMA = {
    "type": "object",
    "properties": {
        "region": {"type": "string", "x-mcp-header": "Region"},
        "count": {"type": "integer", "x-mcp-header": "Count"},
        "nested": {
            "type": "object",
            "properties": {"on": {"type": "boolean", "x-mcp-header": "On"}},
        },
    },
}


@pytest.mark.parametrize(
    ("arguments", "headers"),
    [
        ({"region": "Hello"}, {"mcp_param_region": "=?base64?SGVsbG8=?="}),
        ({"region": "SGVsbG8="}, {"mcp_param_region": "SGVsbG8="}),
        ({"count": 42}, {"mcp_param_count": "42.0"}),
        ({"nested": {"on": True}}, {"mcp_param_on": "true"}),
        ({"region": None}, {}),
        ({}, {}),
    ],
)
def test_param_headers_that_agree(arguments: dict[str, Any], headers: dict[str, str]) -> None:
    check_param_headers(SCHEMA, arguments, _headers(**headers))


@pytest.mark.parametrize(
    ("arguments", "headers"),
    [
        ({"region": "test-value"}, {}),
        ({}, {"mcp_param_region": "x"}),
        ({"region": "Hello"}, {"mcp_param_region": "=?base64?SGVsbG8?="}),
        ({"region": "a"}, {"mcp_param_region": ["a", "a"]}),
        ({"count": 42}, {"mcp_param_count": "43"}),
    ],
)
def test_param_headers_that_disagree(arguments: dict[str, Any], headers: dict[str, Any]) -> None:
    with pytest.raises(RpcError) as caught:
        check_param_headers(SCHEMA, arguments, _headers(**headers))
    assert caught.value.code == HEADER_MISMATCH


def test_a_schema_with_an_invalid_annotation_validates_nothing() -> None:
    bad = {"type": "object", "properties": {"list": {"type": "array", "x-mcp-header": "L"}}}
    check_param_headers(bad, {"list": [1]}, _headers(mcp_param_l="anything"))


@pytest.mark.parametrize(
    ("value", "sent"),
    [
        ("us-west1", "us-west1"),
        ("Hello", "Hello"),
        (" edge", "=?base64?IGVkZ2U=?="),
        ("naïve", "=?base64?bmHDr3Zl?="),
        ("=?base64?SGVsbG8=?=", "=?base64?PT9iYXNlNjQ/U0dWc2JHOD0/PQ==?="),
        ("", "=?base64??="),
    ],
)
def test_header_value_encoding_round_trips(value: str, sent: str) -> None:
    assert encode_header_value(value) == sent
    assert decode_header_value(sent) == value


def test_requests_we_send_carry_headers_our_own_check_accepts() -> None:
    """What we send a 2026 server passes the very ladder our front runs on its clients."""
    arguments = {"region": "Zürich", "count": 3, "nested": {"on": False}}
    params = with_envelope({"name": "t", "arguments": arguments}, V, {"sampling": {}}, {}, "info")
    assert params["_meta"][META_LOG_LEVEL] == "info"
    sent = request_headers(V, "tools/call", params, SCHEMA)
    assert sent["Mcp-Name"] == "t"
    assert sent["Mcp-Param-Region"].startswith("=?base64?")
    assert sent["Mcp-Param-Count"] == "3" and sent["Mcp-Param-On"] == "false"
    raw = [(k.lower().encode(), v.encode()) for k, v in sent.items()]
    msg = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
    assert check_request(Headers(raw), msg).capabilities == {"sampling": {}}
    check_param_headers(SCHEMA, arguments, Headers(raw))


def test_a_names_header_form_is_the_same_on_every_request() -> None:
    """The name's header form is kept between requests: each one still gets its own."""
    zurich = "=?base64?WsO8cmljaA==?="  # base64 of the UTF-8 of "Zürich"
    lookalike = "=?base64?YQ==?="  # a name that looks like the sentinel is wrapped in one
    for name in ["Zürich", "t", "Zürich", lookalike, lookalike]:
        sent = request_headers(V, "prompts/get", {"name": name})["Mcp-Name"]
        assert sent == {"Zürich": zurich, "t": "t"}.get(name, sent) and sent != lookalike
        assert decode_header_value(sent) == name


def test_results_get_their_type_and_cacheable_ones_their_hints() -> None:
    assert stamp("tools/call", {}) == {"resultType": "complete"}
    listed = stamp("tools/list", {"tools": []})
    assert listed["ttlMs"] == 0 and listed["cacheScope"] == "private"
    assert listed["_meta"] == {META_SERVER_INFO: {"name": "only1mcp", "version": __version__}}
    failed = {"only1mcp/errors": {"git": "down"}}
    assert stamp("prompts/list", {"prompts": [], "_meta": failed})["_meta"].keys() == {
        "only1mcp/errors",
        META_SERVER_INFO,
    }
    assert "_meta" not in stamp("resources/read", {"contents": []})  # the server's own answer


# ------------------------------------------------------------ resultType stamped as bytes

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


@given(
    result=st.dictionaries(st.text(), _JSON, max_size=4),
    req_id=st.integers(-(2**63), 2**63 - 1) | st.text(),
    first=st.booleans(),
)
def test_a_stamped_frame_is_the_decoded_stamp_or_left_to_decoding(
    result: dict[str, Any], req_id: int | str, first: bool
) -> None:
    """Whatever a backend's result holds (strings that look like keys included), the bytes
    stamp gives exactly what decoding and stamping gives, or declines (then the front decodes);
    it declines nothing in the form every serializer writes."""
    if first:
        msg: dict[str, Any] = {"result": result, "jsonrpc": "2.0", "id": req_id}
    else:
        msg = {"jsonrpc": "2.0", "id": req_id, "result": result}
    frame = orjson.dumps(msg)
    stamped = stamp_complete(frame)
    if not first and isinstance(req_id, int) and b"resultType" not in frame:
        assert stamped is not None
    if stamped is not None:
        assert orjson.loads(stamped) == {**msg, "result": {**result, "resultType": "complete"}}


def test_the_plain_form_is_stamped_and_others_decline() -> None:
    plain = b'{"jsonrpc":"2.0","id":1,"result":{"content":[],"isError":false}}'
    assert stamp_complete(plain) == (
        b'{"jsonrpc":"2.0","id":1,"result":{"resultType":"complete","content":[],"isError":false}}'
    )
    assert stamp_complete(b'{"jsonrpc":"2.0","id":1,"result":{}}') == (
        b'{"jsonrpc":"2.0","id":1,"result":{"resultType":"complete"}}'
    )
    for declined in (
        b'{"jsonrpc": "2.0", "id": 1, "result": {}}',  # spaced
        b'{"jsonrpc":"2.0","id":1,"result":{"resultType":"input_required"}}',  # stamped
        b'{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"x"}}',  # an error
        b'{"jsonrpc":"2.0","id":"a,\\"result\\":{","result":{}}',  # a key-like string first
    ):
        assert stamp_complete(declined) is None, declined
