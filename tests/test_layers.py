"""Layers only look down: nothing below the fronts imports a front.

The client session lives in :mod:`only1mcp.session`, below everything that uses it; a backend,
the router, the relay, the gateway and the era modules know no transport a client came in on.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "python" / "only1mcp"
BELOW_THE_FRONTS = [
    *sorted((PACKAGE / "backends").glob("*.py")),
    *sorted((PACKAGE / "bridge").glob("*.py")),
    *sorted((PACKAGE / "protocol").glob("*.py")),
    *sorted((PACKAGE / "catalog").glob("*.py")),
    PACKAGE / "router.py",
    PACKAGE / "relay.py",
    PACKAGE / "gateway.py",
    PACKAGE / "stateless.py",
    PACKAGE / "listen.py",
    PACKAGE / "session.py",
]


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("path", BELOW_THE_FRONTS, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_front_imported_below_the_fronts(path: Path) -> None:
    fronts = {m for m in _imported_modules(path) if m.startswith("only1mcp.front")}
    assert not fronts, f"{path.relative_to(PACKAGE)} imports {sorted(fronts)}"
