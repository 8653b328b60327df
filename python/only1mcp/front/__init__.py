"""Fronts: how clients reach Only1MCP (Streamable HTTP, stdio)."""
