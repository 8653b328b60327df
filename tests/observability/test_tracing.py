"""Traces: a SERVER span per request named ``{method} {target}``, its parent from the W3C
``traceparent`` in ``params._meta`` or the HTTP header, and the span's own context in the
``_meta`` of the request the backend receives (the SDK's in-memory exporter holds the spans)."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from only1mcp.app import assemble
from only1mcp.config import Config
from only1mcp.front.http import HttpApp
from only1mcp.front.origin import OriginPolicy

pytestmark = pytest.mark.anyio
META_SERVER = Path(__file__).resolve().parent / "meta_server.py"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE}-{PARENT}-01"
VERSION = "2025-11-25"


@pytest.fixture
async def traced() -> AsyncIterator[tuple[httpx.AsyncClient, InMemorySpanExporter, str]]:
    """(a client of the HTTP front, the spans, a session id), tracing on, metrics off."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    server = {"command": sys.executable, "args": [str(META_SERVER)]}
    config = Config.model_validate(
        {"servers": {"m": server}, "tracing": {"enabled": True}, "metrics": {"enabled": False}}
    )
    core = assemble(config, tracer_provider=provider)
    assert core.metrics is None and core.observer is not None
    front = HttpApp(
        core.gateway,
        core.router,
        core.stateless,
        OriginPolicy([], "127.0.0.1"),
        None,
        core.gate,
        core.observer,
    )
    await core.gateway.start()
    transport = httpx.ASGITransport(app=front)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            init = _msg("initialize", {"protocolVersion": VERSION, "capabilities": {}})
            answer = await http.post("/mcp", json=init, headers=_headers())
            yield http, exporter, answer.headers["mcp-session-id"]
    finally:
        await core.gateway.stop()


def _msg(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 7, "method": method, "params": params}


def _headers(session: str | None = None, **extra: str) -> dict[str, str]:
    headers = {"accept": "application/json, text/event-stream", **extra}
    if session is not None:
        headers |= {"mcp-session-id": session, "mcp-protocol-version": VERSION}
    return headers


async def _call_meta(
    http: httpx.AsyncClient, session: str, meta: dict[str, str], **headers: str
) -> dict[str, str]:
    """Call the ``meta`` tool; the ``_meta`` the backend received."""
    params: dict[str, Any] = {"name": "m__meta", "arguments": {}}
    if meta:
        params["_meta"] = meta
    answer = await http.post(
        "/mcp", json=_msg("tools/call", params), headers=_headers(session, **headers)
    )
    received: dict[str, str] = json.loads(answer.json()["result"]["content"][0]["text"])
    return received


def _the_call_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    spans = [s for s in exporter.get_finished_spans() if s.name == "tools/call m__meta"]
    assert len(spans) == 1, [s.name for s in exporter.get_finished_spans()]
    return spans[0]


def _ours(span: ReadableSpan) -> str:
    """``span``'s traceparent, up to its flags."""
    context = span.get_span_context()
    assert context is not None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}"


async def test_the_parent_comes_from_meta_and_the_backend_gets_our_span(
    traced: tuple[httpx.AsyncClient, InMemorySpanExporter, str],
) -> None:
    http, exporter, session = traced
    received = await _call_meta(http, session, {"traceparent": TRACEPARENT, "progressToken": "p"})
    span = _the_call_span(exporter)
    assert span.kind is SpanKind.SERVER
    assert span.parent is not None and f"{span.parent.span_id:016x}" == PARENT
    assert f"{span.context.trace_id:032x}" == TRACE
    assert span.attributes is not None and span.attributes["gen_ai.tool.name"] == "m__meta"
    assert received["traceparent"].rpartition("-")[0] == _ours(
        span
    )  # replaced: the backend's parent is our span
    assert "progressToken" in received  # the rest of _meta is still there


async def test_the_parent_comes_from_the_header(
    traced: tuple[httpx.AsyncClient, InMemorySpanExporter, str],
) -> None:
    http, exporter, session = traced
    received = await _call_meta(http, session, {}, traceparent=TRACEPARENT)
    span = _the_call_span(exporter)
    assert span.parent is not None and f"{span.parent.span_id:016x}" == PARENT
    assert received["traceparent"].rpartition("-")[0] == _ours(span)


async def test_without_a_parent_a_trace_starts_here(
    traced: tuple[httpx.AsyncClient, InMemorySpanExporter, str],
) -> None:
    http, exporter, session = traced
    received = await _call_meta(http, session, {})
    span = _the_call_span(exporter)
    assert span.parent is None
    assert received["traceparent"].rpartition("-")[0] == _ours(span)


async def test_an_error_answer_marks_its_span(
    traced: tuple[httpx.AsyncClient, InMemorySpanExporter, str],
) -> None:
    http, exporter, session = traced
    await http.post("/mcp", json=_msg("tools/call", {"name": "nope"}), headers=_headers(session))
    (span,) = [s for s in exporter.get_finished_spans() if s.name == "tools/call nope"]
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None and span.attributes["error.type"] == "-32602"
