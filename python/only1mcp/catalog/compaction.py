"""Schema compaction: fewer tokens for the same validation verdicts.

``compact`` walks a JSON Schema keyword by keyword (a property named ``title`` is a property,
not an annotation) and drops what no validator reads: ``title``, ``examples``, ``$comment``, a
``default`` that is null or that the description already states, and ``$schema`` when the
schema uses no keyword whose meaning changed between the dialects MCP servers emit (draft-07 and
2020-12). Pydantic's ``anyOf: [{type: T, …}, {type: null}]`` becomes ``type: [T, "null"]`` when
the first branch holds only type-specific keywords (which never constrain a null). Every
constraint stays: ``tests/catalog/test_compaction.py`` validates the same arguments against
both forms of real servers' schemas and gets the same verdicts.
"""

from __future__ import annotations

import json
import re
from typing import Any

from only1mcp.types import JsonObject

ANNOTATIONS = frozenset({"title", "examples", "$comment"})
# Keywords whose value is a schema, a list of schemas, or a map of name → schema.
ONE = frozenset(
    {
        "additionalProperties",
        "unevaluatedProperties",
        "additionalItems",
        "unevaluatedItems",
        "contains",
        "propertyNames",
        "not",
        "if",
        "then",
        "else",
        "items",
    }
)
MANY = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
MAP = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
# Keywords that constrain only a value of one JSON type: a null passes them all.
TYPE_SPECIFIC = frozenset(
    {
        "minLength",
        "maxLength",
        "pattern",
        "format",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "items",
        "minItems",
        "maxItems",
        "uniqueItems",
        "properties",
        "required",
        "additionalProperties",
        "minProperties",
        "maxProperties",
    }
)
# Keywords read differently by draft-07 and 2020-12: with any of them, $schema stays.
DIALECT_BOUND = frozenset(
    {"items", "additionalItems", "dependencies", "$ref", "$recursiveRef", "prefixItems"}
)
_BLANKS = re.compile(r"[ \t]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def compact(schema: Any) -> Any:
    """``schema`` without what no validator reads (a new object; ``schema`` is untouched)."""
    if not isinstance(schema, dict):
        return schema
    out = _compact(schema)
    if "$schema" in out and not _uses_any(schema, DIALECT_BOUND):
        del out["$schema"]
    return out


def compact_text(text: str) -> str:
    """A description with runs of blanks and of empty lines collapsed (what a reader ignores)."""
    return _BLANK_LINES.sub("\n", _BLANKS.sub(" ", text)).strip()


def _compact(schema: JsonObject) -> JsonObject:
    out: JsonObject = {}
    for key, value in schema.items():
        if key in ANNOTATIONS:
            continue
        if key in ONE and isinstance(value, dict):
            out[key] = _compact(value)
        elif key in ONE | MANY and isinstance(value, list):
            out[key] = [_compact(v) if isinstance(v, dict) else v for v in value]
        elif key in MAP and isinstance(value, dict):
            out[key] = {k: _compact(v) if isinstance(v, dict) else v for k, v in value.items()}
        elif key == "description" and isinstance(value, str):
            out[key] = compact_text(value)
        else:
            out[key] = value
    if "default" in out and _default_is_said(out):
        del out["default"]
    return _nullable(out)


def _default_is_said(schema: JsonObject) -> bool:
    default = schema["default"]
    if default is None:
        return True
    description = schema.get("description")
    if not isinstance(description, str) or "default" not in description.lower():
        return False
    said = default if isinstance(default, str) else json.dumps(default)
    return said.lower() in description.lower()


def _nullable(schema: JsonObject) -> JsonObject:
    """``anyOf: [{type: T, …}, {type: null}]`` → ``type: [T, null]`` with the branch's keywords,
    when the branch holds nothing that would also constrain a null."""
    branches = schema.get("anyOf")
    if not isinstance(branches, list) or len(branches) != 2 or {"type": "null"} not in branches:
        return schema
    other = branches[1 - branches.index({"type": "null"})]
    if (
        not isinstance(other, dict)
        or not isinstance(other.get("type"), str)
        or other["type"] == "null"
        or not other.keys() - {"type", "description"} <= TYPE_SPECIFIC
        or other.keys() & schema.keys() - {"anyOf"}
    ):
        return schema
    merged = {k: v for k, v in schema.items() if k != "anyOf"}
    merged.update(other)
    merged["type"] = [other["type"], "null"]
    return merged


def _uses_any(node: Any, keywords: frozenset[str]) -> bool:
    if isinstance(node, dict):
        return any(
            (key in keywords and not (key == "items" and isinstance(value, dict)))
            or _uses_any(value, keywords)
            for key, value in node.items()
        )
    if isinstance(node, list):
        return any(_uses_any(value, keywords) for value in node)
    return False
