"""Arrows inside ``only1mcp.backends`` point down: no import cycle, and the contract (``base``)
and the collaborators know nothing of the servers, pools and transports that use them."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "python" / "only1mcp" / "backends"
PREFIX = "only1mcp.backends."
# What each of these may import from the package: the contract, nothing above it.
BELOW_THE_SERVER = {
    "replay": set(),
    "base": set(),
    "supervisor": set(),
    "breaker": set(),
    "guard": {"base", "breaker"},
    "eras": {"base"},
    "health": {"base", "breaker"},
    "listen": {"base"},
}


def _graph() -> dict[str, set[str]]:
    """Module → the package modules it imports (TYPE_CHECKING imports too)."""
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.glob("*.py")):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and node.module is not None:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            found.update(
                n.removeprefix(PREFIX).split(".")[0] for n in names if n.startswith(PREFIX)
            )
        graph[path.stem] = found - {path.stem}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle, as a path that ends where it starts ([] when there is none)."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str]:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return []
        for imported in sorted(graph.get(module, ())):
            found = visit(imported, [*path, module])
            if found:
                return found
        done.add(module)
        return []

    for module in sorted(graph):
        found = visit(module, [])
        if found:
            return found
    return []


def test_the_backends_package_has_no_import_cycle() -> None:
    graph = _graph()
    assert graph["factory"] >= {"base", "pool", "server", "stdio", "http", "sse"}
    assert _cycle(graph) == [], " → ".join(_cycle(graph))


def test_the_contract_and_its_collaborators_import_nothing_above_them() -> None:
    graph = _graph()
    for module, allowed in BELOW_THE_SERVER.items():
        assert graph[module] <= allowed, f"{module} imports {sorted(graph[module] - allowed)}"


def test_the_cycle_finder_finds_one() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
