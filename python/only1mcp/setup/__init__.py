"""First-run setup: ``only1mcp init`` (config templates) and ``only1mcp import`` (from the
config files of Claude Desktop, Cursor and VS Code)."""
