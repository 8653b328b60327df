"""Optional OpenTelemetry traces: one SERVER span per request, named ``{method} {target}``.

The parent comes from the W3C ``traceparent`` (and ``tracestate``) in the request's
``params._meta``, else from the HTTP header; the request to the backend carries the span's own
context in its ``_meta`` (:meth:`Tracing.inject`), so the backend's spans hang below it. Spans
go to the tracer provider configured for the process (the OpenTelemetry SDK, e.g. by
``opentelemetry-instrument`` or the ``OTEL_*`` variables); without the ``otel`` extra,
``tracing.enabled`` is a config error
(:func:`only1mcp.app.assemble`).
"""

from __future__ import annotations

from typing import Any

from only1mcp import __version__
from only1mcp.types import JsonObject

TRACE_KEYS = ("traceparent", "tracestate")


class Tracing:
    def __init__(self, provider: Any = None) -> None:
        """``provider``: a tracer provider (a test's); None: the global one. Raises
        ImportError without OpenTelemetry."""
        from opentelemetry import context, trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self._context = context
        self._trace = trace
        self._server = trace.SpanKind.SERVER
        self._error = trace.Status(trace.StatusCode.ERROR)
        self._propagator = TraceContextTextMapPropagator()
        self._tracer = trace.get_tracer("only1mcp", __version__, tracer_provider=provider)

    def start(self, msg: JsonObject, target: str | None, header: str | None) -> tuple[Any, Any]:
        """Open the request's span and make it current; hand the result to :meth:`finish`."""
        method = str(msg.get("method"))
        carrier = _carrier(msg)
        if not carrier and header:
            carrier = {"traceparent": header}
        parent = self._propagator.extract(carrier) if carrier else None
        attributes: dict[str, str] = {"mcp.method.name": method}
        if target is not None:
            key = "gen_ai.tool.name" if method == "tools/call" else "mcp.target"
            attributes[key] = target
        span = self._tracer.start_span(
            f"{method} {target}" if target else method,
            context=parent,
            kind=self._server,
            attributes=attributes,
        )
        token = self._context.attach(self._trace.set_span_in_context(span))
        return span, token

    def finish(self, started: tuple[Any, Any], error: str) -> None:
        span, token = started
        if error:
            span.set_attribute("error.type", error)
            span.set_status(self._error)
        span.end()
        self._context.detach(token)

    def inject(self, params: JsonObject) -> JsonObject:
        """``params`` with the current span's context in its ``_meta`` (replacing the
        client's: the backend's parent is our span)."""
        carrier: dict[str, str] = {}
        self._propagator.inject(carrier)
        if not carrier:
            return params
        meta = params.get("_meta")
        return {**params, "_meta": {**meta, **carrier} if isinstance(meta, dict) else carrier}


def _carrier(msg: JsonObject) -> dict[str, str]:
    params = msg.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    if not isinstance(meta, dict):
        return {}
    return {key: meta[key] for key in TRACE_KEYS if isinstance(meta.get(key), str)}
