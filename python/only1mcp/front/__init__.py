"""Fronts: how clients reach Only1MCP (Streamable HTTP, legacy HTTP+SSE, stdio)."""
