"""MCP 2026-07-28, the stateless revision: its envelope, its headers and its result stamps.

A 2026 request carries everything a handshake used to settle in ``params._meta``
(protocol version, client capabilities, client info, log level) and mirrors its routing facts in
HTTP headers (``MCP-Protocol-Version``, ``Mcp-Method``, ``Mcp-Name``, ``Mcp-Param-*``), which
an intermediary may route on and so must agree with the body. :func:`check_request` runs the
validation ladder in the spec's order; the first failure wins.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from only1mcp.errors import (
    HEADER_MISMATCH,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    MISSING_CAPABILITY,
    PARSE_ERROR,
    UNSUPPORTED_VERSION,
    HeaderMismatch,
    InvalidParams,
    UnsupportedVersion,
)
from only1mcp.protocol.revisions import HANDSHAKE_HEADER_VALUES, HANDSHAKE_REVISIONS
from only1mcp.types import JsonObject, RequestId

STATELESS_REVISIONS: tuple[str, ...] = ("2026-07-28",)
LATEST_STATELESS = STATELESS_REVISIONS[-1]

META_VERSION = "io.modelcontextprotocol/protocolVersion"
META_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
META_CLIENT_INFO = "io.modelcontextprotocol/clientInfo"
META_LOG_LEVEL = "io.modelcontextprotocol/logLevel"
META_SERVER_INFO = "io.modelcontextprotocol/serverInfo"
META_SUBSCRIPTION = "io.modelcontextprotocol/subscriptionId"

# The first frame of every subscriptions/listen stream (its filter flags: protocol.lists).
LISTEN_ACKNOWLEDGED = "notifications/subscriptions/acknowledged"

# Methods whose target the request also names in the Mcp-Name header, and where it sits.
NAMED_BY = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
# Handshake-era methods with no place in a stateless conversation.
REMOVED = frozenset(
    {
        "initialize",
        "ping",
        "logging/setLevel",
        "resources/subscribe",
        "resources/unsubscribe",
        "notifications/initialized",
    }
)
# The HTTP status a 2026 error answer goes out with; anything unlisted is a 200.
HTTP_STATUS = {
    PARSE_ERROR: 400,
    INVALID_REQUEST: 400,
    INVALID_PARAMS: 400,
    HEADER_MISMATCH: 400,
    MISSING_CAPABILITY: 400,
    UNSUPPORTED_VERSION: 400,
    METHOD_NOT_FOUND: 404,
}

LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")

_ROUTING_HEADERS = (b"mcp-protocol-version", b"mcp-method", b"mcp-name")
_LATEST_BYTES = LATEST_STATELESS.encode()
_METHOD_BYTES = {method: method.encode() for method in (*NAMED_BY, "tools/list")}
_PARAM_PREFIX = b"mcp-param-"
_SENTINEL = re.compile(r"=\?base64\?(?P<payload>.*)\?=")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_TYPES = frozenset({"string", "integer", "boolean"})
_OWS = " \t"
# What survives an HTTP field as it is: printable ASCII (edge whitespace aside).
_HEADER_SAFE = re.compile(r"[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?")


def stateless_version(msg: JsonObject) -> str | None:
    """The 2026-era version a message names in its ``_meta`` (how stdio tells the eras apart),
    or None for a handshake-era message."""
    params = msg.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    version = meta.get(META_VERSION) if isinstance(meta, dict) else None
    if isinstance(version, str) and version not in HANDSHAKE_REVISIONS:
        return version
    return None


def is_stateless(version: bytes | None) -> bool:
    """Whether a request with this MCP-Protocol-Version header takes the 2026 path: any value
    that is not a handshake revision does, so unknown versions get the 2026 answer (-32022)."""
    return version is not None and version not in HANDSHAKE_HEADER_VALUES


@dataclass(slots=True)
class Envelope:
    """What one 2026 request says about its sender, from ``params._meta``."""

    version: str
    capabilities: JsonObject
    client_info: JsonObject
    log_level: str | None


class Headers:
    """The request's header lines. A duplicated routing header is an error, which a dict of
    the lines would hide: the lines are only counted when the dict is shorter than the list
    (no header appears twice in almost every request)."""

    __slots__ = ("by_name", "raw", "repeats")

    def __init__(
        self, raw: list[tuple[bytes, bytes]], by_name: dict[bytes, bytes] | None = None
    ) -> None:
        self.raw = raw
        self.by_name = dict(raw) if by_name is None else by_name
        self.repeats = len(self.by_name) != len(raw)  # some name appears more than once

    def get(self, name: bytes) -> str | None:
        value = self.by_name.get(name)
        return None if value is None else value.decode("latin-1")

    def count(self, name: bytes) -> int:
        if not self.repeats:
            return 1 if name in self.by_name else 0
        return sum(1 for key, _ in self.raw if key == name)

    def params(self) -> dict[str, list[str]]:
        """Every ``Mcp-Param-*`` header by its lower-cased suffix."""
        found: dict[str, list[str]] = {}
        for key, value in self.raw:
            if key.startswith(_PARAM_PREFIX):
                suffix = key[len(_PARAM_PREFIX) :].decode("latin-1")
                found.setdefault(suffix, []).append(value.decode("latin-1"))
        return found


def check_request(headers: Headers | None, msg: JsonObject) -> Envelope:
    """Run the 2026 validation ladder on one request; raise the first rung's error.

    ``headers`` is None where the transport has none (stdio): the header rungs are skipped.
    One function, not one per rung: it runs on every 2026 request.
    """
    if headers is not None and headers.repeats:
        for name in _ROUTING_HEADERS:
            if headers.count(name) > 1:
                raise HeaderMismatch(f"{name.decode()} header appears more than once")
    params = msg.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    if not isinstance(meta, dict):
        raise InvalidParams("params._meta is required and must be an object")
    version = meta.get(META_VERSION)
    if not isinstance(version, str):
        raise InvalidParams(f"params._meta[{META_VERSION!r}] is required (a string)")
    caps = meta.get(META_CAPABILITIES)
    if not isinstance(caps, dict):
        raise InvalidParams(f"params._meta[{META_CAPABILITIES!r}] is required (an object)")
    if headers is not None:
        _check_routing_headers(headers.by_name, msg, version)
    if version not in STATELESS_REVISIONS:
        raise UnsupportedVersion(
            "Unsupported protocol version",
            data={"supported": list(STATELESS_REVISIONS), "requested": version},
        )
    info = meta.get(META_CLIENT_INFO)
    level = meta.get(META_LOG_LEVEL)
    return Envelope(
        version,
        caps,
        info if isinstance(info, dict) else {},
        level if level in LOG_LEVELS else None,
    )


def _check_routing_headers(lines: dict[bytes, bytes], msg: JsonObject, version: str) -> None:
    # Each header is first compared as the bytes a client sends for the value (the common
    # case, one comparison); only what differs is decoded, trimmed and unwrapped.
    sent = lines.get(b"mcp-protocol-version")
    if (sent != _LATEST_BYTES or version != LATEST_STATELESS) and (
        sent is None or sent.decode("latin-1") != version
    ):
        raise HeaderMismatch("MCP-Protocol-Version header does not match params._meta")
    method = msg["method"]
    sent = lines.get(b"mcp-method")
    if (sent is None or sent != _METHOD_BYTES.get(method)) and (
        sent is None or sent.decode("latin-1").strip(_OWS) != method
    ):
        raise HeaderMismatch(f"Mcp-Method header does not match the body's method {method!r}")
    field = NAMED_BY.get(method)
    if field is None:
        return
    target = msg["params"].get(field)
    if target is None:
        return
    sent = lines.get(b"mcp-name")
    plain = target.__class__ is str and target.isascii() and not target.startswith("=?")
    if plain and sent == target.encode():  # as sent, with no sentinel to unwrap
        return
    named = None if sent is None else decode_header_value(sent.decode("latin-1").strip(_OWS))
    if named != target:
        raise HeaderMismatch(f"Mcp-Name header does not match params.{field}")


def _trim(value: str | None) -> str | None:
    """A field value without the optional whitespace around it (RFC 9110 §5.5)."""
    return value.strip(_OWS) if value is not None else None


def decode_header_value(value: str | None) -> str | None:
    """A header value as sent: verbatim, or the UTF-8 text inside a ``=?base64?…?=`` sentinel.

    A malformed sentinel (bad or non-canonical base64, bad UTF-8) gives None, so it never
    matches a body value.
    """
    if value is None or not value.startswith("=?"):
        return value
    match = _SENTINEL.fullmatch(value)
    if match is None:
        return value
    payload = match["payload"]
    try:
        raw = base64.b64decode(payload, validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return text if base64.b64encode(raw).decode("ascii") == payload else None


def encode_header_value(value: str) -> str:
    """A value as a header carries it: verbatim when it is printable ASCII without edge
    whitespace (and does not look like the sentinel), else in a ``=?base64?…?=`` sentinel."""
    if _HEADER_SAFE.fullmatch(value) and not _SENTINEL.fullmatch(value):
        return value
    return f"=?base64?{base64.b64encode(value.encode()).decode('ascii')}?="


def request_headers(
    version: str, method: str, params: JsonObject, schema: object = None
) -> dict[str, str]:
    """The headers a 2026 request to a server mirrors its body in: version, method, the
    target (tools/call, prompts/get, resources/read) and the tool's ``Mcp-Param-*``."""
    headers = {"MCP-Protocol-Version": version, "Mcp-Method": method}
    field = NAMED_BY.get(method)
    target = params.get(field) if field else None
    if isinstance(target, str):
        headers["Mcp-Name"] = _name_form(target)
    if method == "tools/call" and schema is not None and _annotations_of(schema):
        headers.update(param_headers(schema, params.get("arguments")))
    return headers


# A name's header form: a tool's name is sent with each of its calls, and the form costs two
# regular expressions; few distinct names (tools, prompts, resources) are sent, most often.
_name_form = functools.lru_cache(maxsize=1024)(encode_header_value)


def with_envelope(
    params: JsonObject | None,
    version: str,
    capabilities: JsonObject,
    client_info: JsonObject,
    log_level: str | None = None,
) -> JsonObject:
    """A copy of ``params`` whose ``_meta`` carries the 2026 envelope of a request we send."""
    params = dict(params or {})
    meta = params.get("_meta")
    envelope: JsonObject = {
        **(meta if isinstance(meta, dict) else {}),
        META_VERSION: version,
        META_CAPABILITIES: capabilities,
        META_CLIENT_INFO: client_info,
    }
    if log_level is not None:
        envelope[META_LOG_LEVEL] = log_level
    params["_meta"] = envelope
    return params


# ------------------------------------------------------------------ Mcp-Param-* (SEP-2243)


def param_headers(schema: object, arguments: object) -> dict[str, str]:
    """The ``Mcp-Param-*`` headers a tools/call with ``arguments`` must send, as the tool's
    ``inputSchema`` declares them (none when an annotation is invalid: such a tool validates
    nothing)."""
    headers: dict[str, str] = {}
    args = arguments if isinstance(arguments, dict) else {}
    for path, token, _ in _annotations_of(schema) or ():
        rendered = _render(_at(args, path))
        if rendered is not None:
            headers[f"Mcp-Param-{token}"] = encode_header_value(rendered)
    return headers


def check_param_headers(schema: object, arguments: object, headers: Headers) -> None:
    """Compare a tools/call's ``Mcp-Param-*`` headers with its arguments, as the tool's
    ``inputSchema`` declares them (``x-mcp-header`` on a property); raise -32020 on a mismatch.

    A header and its argument are present together and equal, or absent together (``null``
    counts as absent). A schema with an invalid annotation validates nothing: a conforming
    client drops such a tool and sends no headers for it.
    """
    annotated = _annotations_of(schema)
    if not annotated:
        return
    sent = headers.params()
    args = arguments if isinstance(arguments, dict) else {}
    for path, token, kind in annotated:
        _check_one_param(f"Mcp-Param-{token}", sent.get(token.lower(), []), args, path, kind)


def _check_one_param(
    header: str, values: list[str], args: JsonObject, path: tuple[str, ...], kind: str
) -> None:
    if len(values) > 1:
        raise HeaderMismatch(f"{header} header appears more than once")
    value = _at(args, path)
    rendered = _render(value)
    raw = _trim(values[0]) if values else None
    if rendered is None:
        if raw is not None:
            raise HeaderMismatch(f"{header} header is present but the argument is absent")
        return
    if raw is None:
        raise HeaderMismatch(f"{header} header is missing but the argument is present")
    decoded = decode_header_value(raw)
    if decoded is None:
        raise HeaderMismatch(f"{header} header carries a malformed base64 value")
    if not _same(kind, value, rendered, decoded):
        raise HeaderMismatch(f"{header} header does not match the argument")


def declares_param_headers(schema: object) -> bool:
    """Whether a tool's ``inputSchema`` names ``Mcp-Param-*`` headers (validly: a schema with
    an invalid annotation names none)."""
    return bool(_annotations_of(schema))


# inputSchema object → its annotations: a schema is walked once, not on every call of its tool.
# Keyed by identity (the catalog keeps the object) and checked by identity on the way out.
_ANNOTATED: dict[int, tuple[object, list[tuple[tuple[str, ...], str, str]] | None]] = {}
_ANNOTATED_MAX = 4096


def _annotations_of(schema: object) -> list[tuple[tuple[str, ...], str, str]] | None:
    cached = _ANNOTATED.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    found = _annotations(schema)
    if len(_ANNOTATED) >= _ANNOTATED_MAX:
        _ANNOTATED.clear()  # schemas of a catalog that changed many times over
    _ANNOTATED[id(schema)] = (schema, found)
    return found


def _annotations(schema: object) -> list[tuple[tuple[str, ...], str, str]] | None:
    """(property path, header token, JSON type) of each ``x-mcp-header``; None when one is
    invalid. Only properties reached through plain ``properties`` chains count."""
    found: list[tuple[tuple[str, ...], str, str]] = []
    seen: set[str] = set()
    for path, prop in _properties(schema, ()):
        token = prop.get("x-mcp-header")
        if token is None:
            continue
        kind = prop.get("type")
        if not isinstance(token, str) or not _TOKEN.fullmatch(token) or kind not in _HEADER_TYPES:
            return None
        if token.lower() in seen:
            return None
        seen.add(token.lower())
        found.append((path, token, str(kind)))
    return found


def _properties(schema: object, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    if not isinstance(schema, dict):
        return
    props = schema.get("properties")
    if not isinstance(props, dict):
        return
    for name, prop in props.items():
        if isinstance(prop, dict):
            yield (*path, name), prop
            yield from _properties(prop, (*path, name))


def _at(args: JsonObject, path: tuple[str, ...]) -> object:
    value: object = args
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _render(value: object) -> str | None:
    """The header form of an argument value; None for absent or non-scalar values."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    return None


def _same(kind: str, value: object, rendered: str, decoded: str) -> bool:
    if kind == "integer" and isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return float(decoded) == float(value)
        except ValueError:
            return False
    return decoded == rendered


def error_frame_id(msg: object) -> RequestId | None:
    """The id an error answer should echo (None only when the body has no usable id)."""
    if isinstance(msg, dict):
        value = msg.get("id")
        if (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, str):
            return value
    return None
