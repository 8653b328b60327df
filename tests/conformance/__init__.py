"""The official MCP conformance suite against the SDK fixture, directly and through Only1MCP."""
