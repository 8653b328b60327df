from only1mcp.cli import app

app(prog_name="only1mcp")
