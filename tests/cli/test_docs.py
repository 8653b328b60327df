"""The docs the CLI owns stay true: docs/cli.md is what the CLI renders now, and every message
docs/troubleshooting.md quotes still exists in the code."""

from __future__ import annotations

import ast
import asyncio
import importlib.util
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TROUBLESHOOTING = ROOT / "docs" / "troubleshooting.md"
#: Where the quoted messages come from: the package, and asyncio (a taken port's bind error,
#: which uvicorn logs).
SOURCES = [ROOT / "python" / "only1mcp", Path(asyncio.__file__).parent]
HOLE = "\x00"  # a formatted value inside a message
_PERCENT = re.compile(r"%[-#0 +]*\d*(?:\.\d+)?[sdrfx]")
_TEXT_BLOCK = re.compile(r"^```text\n(.*?)^```", re.MULTILINE | re.DOTALL)
SHORTEST = 6  # shorter pieces between placeholders say nothing


def test_cli_reference_is_current() -> None:
    spec = importlib.util.spec_from_file_location("cli_docs", ROOT / "tools" / "cli_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    current = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert module.render() == current, "docs/cli.md is stale: run `make cli-docs`"
    for command in ("init", "import", "status", "tools", "start", "list", "call"):
        assert f"## `only1mcp {command}`" in current


def _message(node: ast.AST) -> str | None:
    """A string literal as it reads at run time (implicit concatenation joined), with HOLE
    where an f-string or a %-format puts a value."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return _PERCENT.sub(HOLE, node.value)
    if isinstance(node, ast.JoinedStr):
        parts = [
            v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else HOLE
            for v in node.values
        ]
        return "".join(parts)
    return None


@cache
def messages() -> str:
    """Every string of the sources, one per line (a piece never spans two: none has a line
    break)."""
    found: list[str] = []
    for source in SOURCES:
        for path in source.rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            found += [m for node in ast.walk(tree) if (m := _message(node))]
    return "\n".join(found)


def quoted() -> list[str]:
    text = TROUBLESHOOTING.read_text(encoding="utf-8")
    return [line for block in _TEXT_BLOCK.findall(text) for line in block.splitlines() if line]


def test_troubleshooting_quotes_enough() -> None:
    assert len(quoted()) >= 30


@pytest.mark.parametrize("line", quoted())
def test_each_quoted_message_exists_in_the_code(line: str) -> None:
    """Each piece of the line between its `…` placeholders is in one of the code's strings."""
    pieces = [piece.strip(" :;,()") for piece in line.split("…")]
    pieces = [piece for piece in pieces if len(piece) >= SHORTEST]
    assert pieces, f"nothing to check in {line!r}"
    for piece in pieces:
        assert piece in messages(), (
            f"{piece!r} (quoted in docs/troubleshooting.md) is no longer in the code"
        )
