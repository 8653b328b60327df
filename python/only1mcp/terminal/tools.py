"""Tool lists on the terminal (``only1mcp list`` and ``only1mcp tools``): one row per tool
with its server and the first line of its description; ``--search`` ranks them with the
catalog's BM25 index (:mod:`only1mcp.catalog.search`), as ``search_tools`` does."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from only1mcp.catalog.search import ToolIndex

DESCRIPTION_WIDTH = 80


def select(tools: list[dict[str, Any]], search: str | None, limit: int) -> list[dict[str, Any]]:
    """``tools`` as listed, or the ``limit`` best matches of ``search``, best first."""
    if not search:
        return tools
    return [tools[position] for position in ToolIndex(tools).search(search, limit)]


def first_line(description: str) -> str:
    return description.strip().split("\n")[0][:DESCRIPTION_WIDTH]


def tool_table(tools: list[dict[str, Any]]) -> Table:
    """``tools`` as the admin API and :func:`only1mcp.admin.views.tools` give them."""
    table = Table("tool", "server", "description")
    for tool in tools:
        table.add_row(tool["name"], tool.get("server", ""), first_line(tool["description"]))
    return table
