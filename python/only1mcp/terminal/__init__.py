"""What the ``only1mcp`` command shows on a terminal: start progress, status, tool lists."""
