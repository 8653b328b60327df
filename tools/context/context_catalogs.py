"""The catalogs the context report measures: the five servers' snapshot, and a large one.

The large catalog is what a team's aggregator looks like: the five servers as they are, plus
one git server per repository, one filesystem server per shared root, one memory server per
team and a few fetch servers — each a real server's tool list (from the snapshots in
docs/data/context), its descriptions scoped to its project as an operator's overrides would
say. Deterministic: the same catalog for the same size, every run.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "docs" / "data" / "context"
SEPARATOR = "__"

Tool = dict[str, Any]
Servers = dict[str, list[Tool]]

TEAMS = ["payments", "web", "infra", "mobile", "data", "auth", "docs", "ml", "billing", "search"]
PARTS = ["api", "frontend", "worker", "pipeline", "service", "tools", "sdk", "config"]
# (kind of server, where its tools come from, what one instance serves)
KINDS = [
    ("git", "servers", "git", "repository"),
    ("fs", "servers", "filesystem", "shared folder"),
    ("memory", "extra", "memory", "knowledge graph"),
    ("git", "servers", "git", "repository"),
    ("fetch", "servers", "fetch", "documentation site"),
]


def load(name: str) -> Servers:
    data: Servers = json.loads((DATA / name).read_text())
    return data


def five() -> Servers:
    """The snapshot of the five servers of issue 15, server → tools in its order."""
    return load("servers.json")


def large(size: int = 320) -> Servers:
    """The five servers, then per-project instances of real servers until ``size`` tools."""
    sources = {"servers": five(), "extra": load("extra.json")}
    catalog: Servers = dict(sources["servers"])
    projects = (
        f"{team}-{part}{round_ or ''}"
        for round_ in itertools.count()
        for part, team in itertools.product(PARTS, TEAMS)
    )
    for project, (kind, source, server, serves) in zip(
        projects, itertools.cycle(KINDS), strict=False
    ):
        if sum(len(tools) for tools in catalog.values()) >= size:
            break
        catalog[f"{kind}-{project}"] = [
            _scoped(tool, f"{project} {serves}") for tool in sources[source][server]
        ]
    return catalog


def _scoped(tool: Tool, scope: str) -> Tool:
    return {**tool, "description": f"{tool.get('description', '')} (For the {scope}.)"}


def merged(servers: Servers) -> list[Tool]:
    """The tools as Only1MCP lists them: each server's prefix, config order."""
    from only1mcp.catalog import Catalog

    catalog = Catalog(list(servers), {s: s for s in servers}, SEPARATOR)
    for server, tools in servers.items():
        catalog.set_items(server, tools)
    return catalog.merged()
