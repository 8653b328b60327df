"""Picks the transport implementation for a server's config."""

from __future__ import annotations

from only1mcp.backends.base import Backend, MessageHandler
from only1mcp.backends.http import HttpBackend
from only1mcp.backends.sse import SseBackend
from only1mcp.backends.stdio import StdioBackend
from only1mcp.config import HttpServerConfig, ServerConfig


def create_backend(name: str, config: ServerConfig, on_message: MessageHandler | None) -> Backend:
    if isinstance(config, HttpServerConfig):
        if config.transport == "sse":
            return SseBackend(name, config, on_message)
        return HttpBackend(name, config, on_message)
    return StdioBackend(name, config, on_message)
