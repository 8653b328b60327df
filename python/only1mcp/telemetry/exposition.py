"""``/metrics``: the Prometheus text format of a registry, as a plain ASGI app.

The main listener serves it when ``metrics.on_main`` is set; the admin listener mounts it.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from only1mcp.types import ASGIApp, Receive, Scope, Send


class MetricsApp:
    """An ASGI app answering GET (and HEAD) with the registry's metrics, 405 otherwise (a
    class, so that a Starlette ``Route`` takes it for an ASGI app)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _respond(send, 405, b"", [(b"allow", b"GET, HEAD")])
            return
        body = generate_latest(self.registry)
        headers = [(b"content-type", CONTENT_TYPE_LATEST.encode())]
        await _respond(send, 200, b"" if scope["method"] == "HEAD" else body, headers)


def metrics_app(registry: CollectorRegistry) -> ASGIApp:
    """The ASGI app serving ``registry`` (what a listener mounts at ``/metrics``)."""
    return MetricsApp(registry)


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
