"""End-to-end tests: real ``only1mcp`` processes in front of real MCP servers, no mocks."""
