"""What of one server's list a client sees: filters, per-tool overrides, compaction.

A :class:`Shape` is built from a server's configuration (``config/shaping.py``) and applied by
the :class:`~only1mcp.catalog.Catalog` whenever that server's list changes. It keeps the
items its globs allow (over the server's own names, or URIs for resources), rewrites the
tools its overrides name (exposed name, description, argument descriptions, hidden arguments
with fixed values) and compacts schemas. An item it refuses is remembered with the reason, so
that a call of it is told why rather than "unknown".

A hidden argument's fixed value is checked against the tool's own schema when the server lists
the tool: a value that does not fit refuses the tool (fail closed, logged), since calling it
with an arguments object the server rejects — or one that silently means something else — is
worse than not offering it.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from only1mcp.catalog.compaction import compact, compact_text
from only1mcp.types import JsonObject

log = logging.getLogger("only1mcp.catalog")


@dataclass(frozen=True, slots=True)
class Override:
    """How one tool is shown: every field None/empty leaves the server's own."""

    name: str | None = None
    description: str | None = None
    #: argument → the description shown for it
    arguments: Mapping[str, str] = field(default_factory=dict)
    #: argument → the value every call gets; the argument leaves the schema
    fixed: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Shown:
    """One item a client sees: as exposed (before namespacing), and what calls of it add."""

    name: str  # the server's own
    item: JsonObject
    original: JsonObject  # as the server listed it
    fixed: Mapping[str, Any] | None = None


class Shape:
    """The filter, overrides and compaction of one server's list of one kind."""

    def __init__(
        self,
        key: str = "name",
        allow: Iterable[str] = (),
        deny: Iterable[str] = (),
        overrides: Mapping[str, Override] | None = None,
        compact: bool = False,
    ) -> None:
        self.key = key
        self.allow = tuple(allow)
        self.deny = tuple(deny)
        self.overrides = dict(overrides or {})
        self.compact = compact
        self._said: set[str] = set()  # problems logged already

    def allows(self, name: str) -> bool:
        if any(fnmatchcase(name, pattern) for pattern in self.deny):
            return False
        return not self.allow or any(fnmatchcase(name, pattern) for pattern in self.allow)

    def apply(self, items: Iterable[JsonObject]) -> tuple[list[Shown], dict[str, str]]:
        """The items shown, and the refused ones (the server's own name → why)."""
        shown: list[Shown] = []
        refused: dict[str, str] = {}
        seen: set[str] = set()
        for item in items:
            name = item.get(self.key)
            if not isinstance(name, str):
                continue
            seen.add(name)
            if not self.allows(name):
                refused[name] = "not exposed by the configuration"
                continue
            override = self.overrides.get(name)
            try:
                shown.append(self._show(name, item, override))
            except ValueError as exc:
                refused[name] = f"not exposed: {exc}"
                self._say(f"tool {name!r} is not exposed: {exc}")
        for name in self.overrides.keys() - seen:
            self._say(f"an override names tool {name!r}, which the server does not list")
        return shown, refused

    def _show(self, name: str, item: JsonObject, override: Override | None) -> Shown:
        if override is None and not self.compact:
            return Shown(name, item, item)
        shaped: JsonObject = dict(item)
        fixed = None
        if override is not None:
            fixed = _apply_override(shaped, override) or None
        if self.compact:
            _compact_item(shaped)
        return Shown(name, shaped, item, fixed)

    def _say(self, problem: str) -> None:
        if problem not in self._said:
            self._said.add(problem)
            log.error("%s", problem)


def _apply_override(item: JsonObject, override: Override) -> dict[str, Any]:
    """Rewrite ``item`` (a shallow copy) as ``override`` says; the fixed arguments."""
    if override.name is not None:
        item["name"] = override.name
    if override.description is not None:
        item["description"] = override.description
    if not override.arguments and not override.fixed:
        return {}
    schema = item.get("inputSchema")
    if not isinstance(schema, dict):
        raise ValueError("it has no inputSchema to override arguments of")
    _check_fixed(schema, override.fixed)
    schema = copy.deepcopy(schema)
    properties = schema.setdefault("properties", {})
    for argument, description in override.arguments.items():
        if argument not in properties or not isinstance(properties[argument], dict):
            raise ValueError(f"it has no argument {argument!r} to describe")
        properties[argument] = {**properties[argument], "description": description}
    for argument in override.fixed:
        properties.pop(argument, None)
    required = schema.get("required")
    if isinstance(required, list):
        schema["required"] = [r for r in required if r not in override.fixed]
    item["inputSchema"] = schema
    return dict(override.fixed)


def _check_fixed(schema: JsonObject, fixed: Mapping[str, Any]) -> None:
    """Raise ValueError when a fixed value is not an argument of the tool or does not fit it."""
    # Only a config with hidden arguments checks them: jsonschema (~3 MB, ~0.05 s) is loaded
    # then, not at every start.
    from jsonschema import exceptions as schema_errors
    from jsonschema import validators
    from referencing.exceptions import Unresolvable

    properties = schema.get("properties")
    closed = schema.get("additionalProperties") is False
    for argument in fixed:
        if closed and (not isinstance(properties, dict) or argument not in properties):
            raise ValueError(f"hidden argument {argument!r} is not an argument of the tool")
    # Validated as the server would see it, less the other required arguments a caller adds.
    probe = {k: v for k, v in schema.items() if k not in ("required", "$schema")}
    try:
        checker = validators.validator_for(schema)
        checker.check_schema(probe)
        errors = [e for e in checker(probe).iter_errors(dict(fixed)) if e.absolute_path]
    except schema_errors.SchemaError as exc:
        raise ValueError(f"its inputSchema is not a valid JSON Schema: {exc.message}") from None
    except Unresolvable as exc:
        raise ValueError(f"its inputSchema has a $ref that cannot be resolved: {exc}") from None
    if errors:
        where = errors[0].absolute_path[0]
        raise ValueError(f"hidden argument {where!r}: {errors[0].message}")


def _compact_item(item: JsonObject) -> None:
    item.pop("title", None)
    item.pop("icons", None)
    description = item.get("description")
    if isinstance(description, str):
        item["description"] = compact_text(description)
    annotations = item.get("annotations")
    if isinstance(annotations, dict):
        _set_or_drop(item, "annotations", _meaningful_hints(annotations))
    execution = item.get("execution")
    if isinstance(execution, dict) and execution.get("taskSupport") == "forbidden":
        # What an absent taskSupport means (MCP 2025-11-25 tasks).
        _set_or_drop(item, "execution", {k: v for k, v in execution.items() if k != "taskSupport"})
    for key in ("inputSchema", "outputSchema"):
        if isinstance(item.get(key), dict):
            item[key] = compact(item[key])


# ToolAnnotations hints as the spec reads them when absent.
HINT_DEFAULTS = {
    "readOnlyHint": False,
    "destructiveHint": True,
    "idempotentHint": False,
    "openWorldHint": True,
}
# Meaningful only for a tool that is not read-only (the spec's words).
WRITE_HINTS = ("destructiveHint", "idempotentHint")


def _meaningful_hints(annotations: JsonObject) -> JsonObject:
    """The annotations without the title and the hints that say what their absence says."""
    read_only = annotations.get("readOnlyHint") is True
    return {
        k: v
        for k, v in annotations.items()
        if k != "title"
        and not (k in HINT_DEFAULTS and v is HINT_DEFAULTS[k])
        and not (read_only and k in WRITE_HINTS)
    }


def _set_or_drop(item: JsonObject, key: str, value: JsonObject) -> None:
    if value:
        item[key] = value
    else:
        item.pop(key, None)
