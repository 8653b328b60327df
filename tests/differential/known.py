"""Known differences: cells whose answer through Only1MCP differs from the direct one.

Each is an ``xfail(strict=True, raises=KnownDifference)`` whose reason is the exact difference.
A cell matching an entry is checked precisely, not skipped:

* no difference at all → the strict xfail XPASSes, i.e. fails: the entry must go;
* a difference that the entries' ``patch`` removes entirely (applied to both answers, it
  makes them equal) → ``KnownDifference``: the expected failure;
* any other difference → ``AssertionError`` with the diff: a real failure (``raises`` does not
  match it), so a known difference never hides a new one.

An entry without a patch (the answers differ in shape) xfails on any difference of its cell.
Keys: ``(client, server, transport, mode, scenario)``; ``"*"`` matches any value, and a tuple
any of its values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest


class KnownDifference(AssertionError):
    """The cell differs exactly as a known-difference entry says."""


Patch = Callable[[Any], Any]
Key = tuple[str | tuple[str, ...], ...]


@dataclass(frozen=True)
class Known:
    reason: str
    patch: Patch | None = None


def drop_meta_key(name: str) -> Patch:
    """A patch removing ``_meta[name]`` everywhere (and a ``_meta`` left empty by that)."""

    def patch(value: Any) -> Any:
        if isinstance(value, list):
            return [patch(item) for item in value]
        if not isinstance(value, dict):
            return value
        out = {key: patch(item) for key, item in value.items()}
        meta = out.get("_meta")
        if isinstance(meta, dict) and name in meta:
            meta = {key: item for key, item in meta.items() if key != name}
            if meta:
                out["_meta"] = meta
            else:
                del out["_meta"]
        return out

    return patch


SERVER_INFO_META = Known(
    "a handshake-era client gets results with _meta['io.modelcontextprotocol/serverInfo'] "
    "(the 2026-07-28 backend's serverInfo) which the server gives a handshake client "
    "without: Only1MCP speaks 2026 to a dual-era backend and relays its results as bytes "
    "(bridge/reverse.py keeps 2026 additions)",
    drop_meta_key("io.modelcontextprotocol/serverInfo"),
)

DUAL_ERA_SERVERS = ("sdk",)

CALLS = ("content", "structured", "tool_error", "progress", "logging", "sampling", "elicitation")
CALLS += ("roots", "list_changed", "cancellation", "resources", "templates", "prompts")
CALLS += ("completion",)
"""The scenarios whose answers are results of calls (lists carry no serverInfo)."""

KNOWN: dict[Key, list[Known]] = {
    ("sdk", DUAL_ERA_SERVERS, "*", "legacy", CALLS): [SERVER_INFO_META],
}


def _matches(key: Key, cell: tuple[str, ...]) -> bool:
    return all(
        k == "*" or (c in k if isinstance(k, tuple) else c == k)
        for k, c in zip(key, cell, strict=True)
    )


def known_for(*cell: str) -> list[Known]:
    """The known differences of a cell ``(client, server, transport, mode, scenario)``."""
    return [known for key, entries in KNOWN.items() if _matches(key, cell) for known in entries]


def known_difference(*cell: str) -> list[pytest.MarkDecorator]:
    """The xfail mark of a cell with known differences (empty list otherwise)."""
    entries = known_for(*cell)
    if not entries:
        return []
    raises: tuple[type[BaseException], ...] = (KnownDifference,)
    if any(known.patch is None for known in entries):
        raises = (KnownDifference, AssertionError)
    reason = " AND ".join(known.reason for known in entries)
    return [pytest.mark.xfail(strict=True, raises=raises, reason=reason)]


def compare(cell: tuple[str, ...], direct: Any, through: Any, diff: Callable[[Any, Any], str]) -> None:
    """Assert ``through == direct``, or raise :class:`KnownDifference` when the cell's known
    differences account for every difference (see the module docstring)."""
    if through == direct:
        return
    entries = known_for(*cell)
    for known in entries:
        if known.patch is not None:
            direct, through = known.patch(direct), known.patch(through)
    if entries and through == direct:
        raise KnownDifference(" AND ".join(k.reason for k in entries))
    raise AssertionError(diff(direct, through))
