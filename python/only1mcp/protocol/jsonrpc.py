"""Building and classifying JSON-RPC 2.0 messages as bytes (orjson where Python must touch JSON)."""

from __future__ import annotations

import json
from typing import Any

import orjson

from only1mcp.errors import InvalidRequest, ParseError, RpcError
from only1mcp.types import JsonObject, RequestId


def parse(body: bytes) -> Any:
    """Decode one JSON-RPC payload; a non-JSON body is a -32700."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"Parse error: {exc}") from exc


def parse_or_none(frame: bytes) -> Any:
    """Decode a frame a peer sent us; None when it is not JSON."""
    try:
        return orjson.loads(frame)
    except orjson.JSONDecodeError:
        return None


def check_message(msg: Any) -> JsonObject:
    """Validate the envelope of a single incoming message and return it."""
    if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0":
        raise InvalidRequest("Invalid Request: expected a JSON-RPC 2.0 object")
    if "method" in msg:
        if not isinstance(msg["method"], str):
            raise InvalidRequest("Invalid Request: method must be a string")
        params = msg.get("params")
        if params is not None and not isinstance(params, dict):
            raise InvalidRequest("Invalid Request: params must be an object")
    elif "result" not in msg and "error" not in msg:
        raise InvalidRequest("Invalid Request: neither a request, a notification nor a response")
    if "id" in msg and not is_valid_id(msg["id"]):
        raise InvalidRequest("Invalid Request: id must be a string or an integer")
    return msg


def is_valid_id(value: object) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, str)


def result(req_id: RequestId | None, value: Any) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": req_id, "result": value})


def result_raw(req_id: RequestId | None, encoded: bytes) -> bytes:
    """A response around a result that is already JSON (a cached list page)."""
    return b'{"jsonrpc":"2.0","id":' + orjson.dumps(req_id) + b',"result":' + encoded + b"}"


def error(req_id: RequestId | None, err: RpcError) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": req_id, "error": err.to_error()})


def request(req_id: RequestId, method: str, params: JsonObject | None = None) -> bytes:
    msg: JsonObject = {"jsonrpc": "2.0", "id": req_id, "method": method}
    if params is not None:
        msg["params"] = params
    return orjson.dumps(msg)


def notification(method: str, params: JsonObject | None = None) -> bytes:
    msg: JsonObject = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        msg["params"] = params
    return orjson.dumps(msg)


def decode_response(frame: bytes) -> Any:
    """The ``result`` of a response frame, or raise the RpcError it carries."""
    msg = orjson.loads(frame)
    if "error" in msg:
        err = msg["error"] if isinstance(msg["error"], dict) else {}
        raise RpcError(
            str(err.get("message", "error")),
            data=err.get("data"),
            code=int(err.get("code", -32603)),
        )
    return msg.get("result")


def json_values(body: bytes) -> list[bytes]:
    """The JSON values written back to back in ``body`` (whitespace between them allowed),
    each re-encoded compactly; those before the first undecodable byte when there is one."""
    text = body.decode("utf-8", "replace")
    decoder = json.JSONDecoder()
    values: list[bytes] = []
    at = 0
    while True:
        while at < len(text) and text[at] in " \t\r\n":
            at += 1
        if at == len(text):
            return values
        try:
            value, at = decoder.raw_decode(text, at)
        except ValueError:
            return values
        values.append(orjson.dumps(value))
