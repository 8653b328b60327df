"""Builds the backend for a server's config: one server over its transport, or a pool of them.

The composition root of the package: every collaborator and sink is given here, at
construction, and nothing is patched in afterwards.
"""

from __future__ import annotations

from only1mcp.backends.base import Backend, Wiring
from only1mcp.backends.http import HttpBackend
from only1mcp.backends.pool import ReplicaPool
from only1mcp.backends.server import ServerBackend, TransportConfig
from only1mcp.backends.stdio import StdioBackend
from only1mcp.config import PoolServerConfig, ServerConfig, StdioServerConfig


def create_backend(
    name: str,
    config: ServerConfig,
    wiring: Wiring | None = None,
    *,
    safe_tools: frozenset[str] = frozenset(),
) -> Backend:
    """The backend for ``config``. ``safe_tools`` (the tools a pool may replay) seed a copy of
    a running server."""
    if isinstance(config, PoolServerConfig):
        return ReplicaPool(name, config, _server, wiring, safe_tools)
    return _server(name, config, wiring)


def _server(
    name: str,
    config: TransportConfig,
    wiring: Wiring | None,
) -> ServerBackend:
    if isinstance(config, StdioServerConfig):
        return StdioBackend(name, config, wiring)
    if config.transport == "sse":
        # Imported for a legacy SSE server only: it loads httpx and httpx-sse.
        from only1mcp.backends.sse import SseBackend

        return SseBackend(name, config, wiring)
    return HttpBackend(name, config, wiring)
