"""Picks the implementation for a server's config and applies its resilience settings."""

from __future__ import annotations

from only1mcp.backends.base import Backend, MessageHandler
from only1mcp.backends.health import HealthMonitor
from only1mcp.backends.http import HttpBackend
from only1mcp.backends.pool import ReplicaPool
from only1mcp.backends.sse import SseBackend
from only1mcp.backends.stdio import StdioBackend
from only1mcp.config import HttpServerConfig, PoolServerConfig, ServerConfig


def create_backend(name: str, config: ServerConfig, on_message: MessageHandler | None) -> Backend:
    if isinstance(config, PoolServerConfig):
        replicas = [
            create_backend(f"{name}[{i}]", server, None)
            for i, server in enumerate(config.replica_servers())
        ]
        return ReplicaPool(name, config, replicas, on_message)
    backend: Backend
    if isinstance(config, HttpServerConfig):
        if config.transport == "sse":
            backend = SseBackend(name, config, on_message)
        else:
            backend = HttpBackend(name, config, on_message)
        memory_limit = None
    else:
        backend = StdioBackend(name, config, on_message)
        memory_limit = config.memory_limit_mb
    backend.configure(config)
    backend.monitor = HealthMonitor(backend, config.health, memory_limit)
    return backend
