"""Builds the backend for a server's config: one server over its transport, or a pool of them.

The composition root of the package: every collaborator and sink is given here, at
construction, and nothing is patched in afterwards.
"""

from __future__ import annotations

from only1mcp.backends.base import Backend, Events, IdSource
from only1mcp.backends.http import HttpBackend
from only1mcp.backends.pool import ReplicaPool
from only1mcp.backends.server import ServerBackend
from only1mcp.backends.sse import SseBackend
from only1mcp.backends.stdio import StdioBackend
from only1mcp.config import HttpServerConfig, PoolServerConfig, ServerConfig, StdioServerConfig
from only1mcp.types import JsonObject


def create_backend(
    name: str,
    config: ServerConfig,
    events: Events | None = None,
    *,
    safe_tools: frozenset[str] = frozenset(),
    client_capabilities: JsonObject | None = None,
) -> Backend:
    """The backend for ``config``. ``safe_tools`` (the tools a pool may replay) seed a copy of
    a running server; ``client_capabilities`` replace what we declare at initialize."""
    if isinstance(config, PoolServerConfig):
        return ReplicaPool(name, config, _server, events, None, safe_tools, client_capabilities)
    return _server(name, config, events, None, client_capabilities)


def _server(
    name: str,
    config: StdioServerConfig | HttpServerConfig,
    events: Events | None,
    ids: IdSource | None,
    client_capabilities: JsonObject | None,
) -> ServerBackend:
    if isinstance(config, StdioServerConfig):
        return StdioBackend(name, config, events, ids, client_capabilities)
    if config.transport == "sse":
        return SseBackend(name, config, events, ids, client_capabilities)
    return HttpBackend(name, config, events, ids, client_capabilities)
