"""Backends: one MCP server (a process or a URL) behind the :class:`~.base.Backend` contract."""

from only1mcp.backends.base import Backend, BackendState, MessageHandler, Wiring
from only1mcp.backends.factory import create_backend

__all__ = ["Backend", "BackendState", "MessageHandler", "Wiring", "create_backend"]
