"""What Only1MCP tells the people who run it: Prometheus metrics, OpenTelemetry traces, JSON logs.

Every hook is built by the composition root (:mod:`only1mcp.app`) and handed to the parts that
record through it; with metrics and tracing off there is no hook object at all, and the hot
path pays one ``is None`` test per request.

* :mod:`.context` — the request id of the request being served (JSON logs, audit lines);
* :mod:`.metrics` — the registry, cheap per-process aggregates, the families at scrape time;
* :mod:`.observer` — what the fronts call around each request (metrics and spans);
* :mod:`.tracing` — optional OpenTelemetry spans and ``traceparent`` propagation;
* :mod:`.exposition` — the ASGI app that serves ``/metrics``;
* :mod:`.logs` — ``--log-format json``.
"""
