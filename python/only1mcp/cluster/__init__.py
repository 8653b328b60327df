"""State shared by several Only1MCP processes through Redis (issue 16; docs/scaling.md)."""
