"""The docstrings of ``_core.pyi`` are the Rust ``///`` comments: one text, kept equal here.

pyo3 exposes each Rust doc comment as the runtime ``__doc__``; the stub repeats it for editors
and type checkers. Change both together — a failure prints the two texts. A constructor has no
docstring of its own (pyo3 has nowhere to put it), so the class docstring documents the
arguments, and dunder methods carry none.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import only1mcp
from only1mcp import _core

STUB = ast.parse(Path(only1mcp.__file__).with_name("_core.pyi").read_text())

Documented = ast.Module | ast.ClassDef | ast.FunctionDef


def public_items() -> list[tuple[str, Documented, object]]:
    """(qualified name, stub node, runtime object) of the module and every public name in it."""
    items: list[tuple[str, Documented, object]] = [("only1mcp._core", STUB, _core)]
    for node in STUB.body:
        if not isinstance(node, ast.ClassDef | ast.FunctionDef):
            continue
        runtime = getattr(_core, node.name)
        items.append((node.name, node, runtime))
        if isinstance(node, ast.ClassDef):
            items += [
                (f"{node.name}.{item.name}", item, getattr(runtime, item.name))
                for item in node.body
                if isinstance(item, ast.FunctionDef) and not item.name.startswith("_")
            ]
    return items


ITEMS = public_items()


@pytest.mark.parametrize(("node", "runtime"), [i[1:] for i in ITEMS], ids=[i[0] for i in ITEMS])
def test_stub_docstring_is_the_rust_doc_comment(node: Documented, runtime: object) -> None:
    stub_doc = ast.get_docstring(node)
    assert stub_doc, "every public name in the stub is documented"
    assert stub_doc == inspect.cleandoc(runtime.__doc__ or "")


def test_the_walk_sees_every_export() -> None:
    assert {name for name, _, _ in ITEMS} >= set(_core.__all__)
    assert "CircuitBreaker.state" in {name for name, _, _ in ITEMS}


def test_dunder_methods_carry_no_docstring() -> None:
    documented = [
        f"{cls.name}.{item.name}"
        for cls in STUB.body
        if isinstance(cls, ast.ClassDef)
        for item in cls.body
        if isinstance(item, ast.FunctionDef)
        and item.name.startswith("__")
        and ast.get_docstring(item) is not None
    ]
    assert documented == [], "pyo3 cannot expose these; document them on the class"
