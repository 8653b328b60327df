"""JSON-RPC and MCP message helpers; revision knowledge lives here and nowhere else."""
