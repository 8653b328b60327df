"""Layers only look down, and the package has no import cycle.

Every module of ``python/only1mcp`` sits in one layer of :data:`LAYERS` (drawn in
docs/design/architecture.md); a module may import its own layer and those below, never one
above. What must travel up travels as a constructor argument (a sink or a collaborator, wired
by the composition root :mod:`only1mcp.app`) or as a return value.

Imports under ``if TYPE_CHECKING:`` count for the layers (a type named from above is a
dependency too) but not for cycles: with ``from __future__ import annotations`` they are never
executed, so they cannot make one module's import wait for another's, and they are how two
modules of one layer name each other's types (the bridge's call and its bridge).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "python" / "only1mcp"

# Lowest first: a module prefix → its layer. The longest matching prefix decides.
LAYERS: list[tuple[str, ...]] = [
    ("only1mcp", "only1mcp._core", "only1mcp.types", "only1mcp.errors"),
    # messages, names, who is calling: pure data
    ("only1mcp.protocol", "only1mcp.catalog", "only1mcp.auth.principal"),
    ("only1mcp.config",),  # names its servers as the catalog does
    ("only1mcp.auth",),  # credentials → principal (the fronts' middleware)
    ("only1mcp.cluster",),  # the Redis connection several processes share state through
    # what a principal may do; the record of it; what the operators are told
    ("only1mcp.access", "only1mcp.audit", "only1mcp.telemetry"),
    ("only1mcp.session",),  # what a backend may read of its caller
    ("only1mcp.backends",),
    ("only1mcp.relay", "only1mcp.leases"),  # traffic backends start; backends held per call
    # backends + catalogs + sessions; between eras; the gateway's state for the gauges
    ("only1mcp.gateway", "only1mcp.bridge", "only1mcp.gauges"),
    ("only1mcp.reload",),  # a new config file applied to the running gateway
    ("only1mcp.router",),  # handshake-era dispatch
    ("only1mcp.stateless", "only1mcp.listen"),  # the 2026 era
    # transports clients come in on; the operators' listener; what triggers a reload
    ("only1mcp.front", "only1mcp.admin", "only1mcp.watcher"),
    # what the command line writes (init, import) and shows (start progress, status, tools)
    ("only1mcp.setup", "only1mcp.terminal"),
    ("only1mcp.app", "only1mcp.cli", "only1mcp.__main__"),  # the composition root and its users
]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> int:
    best = (-1, -1)  # (prefix length, layer)
    for number, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best[0]:
                best = (len(prefix), number)
    assert best[1] >= 0, f"{module} is in no layer: add it to LAYERS"
    return best[1]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _written_imports(module: str) -> list[tuple[str, bool]]:
    """(imported module or package, whether only for type checking), as the source says."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, typing_only: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, typing_only)
            return
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, up level - 1
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.append((submodule if submodule in MODULES else base, typing_only))
        elif isinstance(node, ast.Import):
            found.extend((alias.name, typing_only) for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child, typing_only)

    visit(ast.parse(path.read_text(), filename=str(path)), False)
    return found


def _imports(module: str) -> list[tuple[str, bool]]:
    """(imported package module, whether only for type checking) for each import of ours,
    with the packages whose ``__init__`` such an import runs."""
    ours: list[tuple[str, bool]] = []
    for target, typing_only in _written_imports(module):
        if target not in MODULES or target == module:
            continue
        ours.append((target, typing_only))
        # Importing a.b.c runs a.b's __init__ first, unless we are inside a.b ourselves.
        parent = target.rpartition(".")[0]
        while parent not in ("", "only1mcp", module) and not module.startswith(parent + "."):
            ours.append((parent, typing_only))
            parent = parent.rpartition(".")[0]
    return ours


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_a_higher_layer(module: str) -> None:
    mine = layer(module)
    above = sorted({target for target, _ in _imports(module) if layer(target) > mine})
    assert not above, f"{module} (layer {mine}) imports from above: {above}"


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of ``graph`` (its modules in order, the first repeated), or []."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_no_import_cycle() -> None:
    graph = {
        module: {target for target, typing_only in _imports(module) if not typing_only}
        for module in MODULES
    }
    assert _cycle(graph) == []


def test_the_cycle_finder_finds_one() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycle(graph) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []


def test_every_module_is_placed_and_the_map_sees_imports() -> None:
    """The map is not vacuous: known downward imports are found, in the right layers."""
    assert ("only1mcp.gateway", False) in _imports("only1mcp.router")
    assert ("only1mcp.catalog", False) in _imports("only1mcp.relay")  # via catalog.naming
    assert ("only1mcp.config.schema", False) in _imports("only1mcp.config")  # relative import
    assert ("only1mcp.session", True) in _imports("only1mcp.backends.base")
    assert layer("only1mcp.front.http") > layer("only1mcp.stateless") > layer("only1mcp.router")
    for module in MODULES:
        layer(module)
