"""The ``metrics:`` and ``tracing:`` sections: what Only1MCP tells the people who run it."""

from __future__ import annotations

from .policies import Strict


class MetricsConfig(Strict):
    """Prometheus metrics (see docs/monitoring.md)."""

    #: Record them (off: no hook on any path, nothing to scrape).
    enabled: bool = True
    #: Also serve ``/metrics`` on the main listener (the admin listener always does).
    on_main: bool = False


class TracingConfig(Strict):
    """OpenTelemetry traces: a span per request (needs the ``otel`` extra)."""

    #: Off by default: spans go to the globally configured tracer provider when on.
    enabled: bool = False
