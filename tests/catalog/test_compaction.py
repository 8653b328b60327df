"""Compaction keeps every constraint: the same verdicts on the same arguments, fewer bytes."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path
from typing import Any

import pytest
from jsonschema import validators

from only1mcp.catalog.compaction import compact
from only1mcp.catalog.shaping import Shape

SNAPSHOT = Path(__file__).resolve().parents[2] / "docs" / "data" / "context" / "servers.json"
TOOLS = [tool for tools in json.loads(SNAPSHOT.read_text()).values() for tool in tools]
SCALARS: list[Any] = [None, True, 0, -1, 3, 2.5, 10**6, "", "a", "x" * 300, "2024-01-01"]
SCALARS += ["main", "/tmp", "UTC", "Europe/Paris", "14:30", "http://127.0.0.1/", [], [1], ["a"]]
SCALARS += [{}, {"a": 1}, [{"a": 1}]]


def _schemas() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for tool in TOOLS:
        for key in ("inputSchema", "outputSchema"):
            if key in tool:
                found.append((f"{tool['name']}.{key}", tool[key]))
    return found


def _values_of(schema: Any) -> list[Any]:
    """Values the schema itself names (enums, consts, defaults, examples), at any depth."""
    found: list[Any] = []
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key in ("enum", "examples") and isinstance(value, list):
                found.extend(value)
            elif key in ("const", "default"):
                found.append(value)
            else:
                found.extend(_values_of(value))
    elif isinstance(schema, list):
        for value in schema:
            found.extend(_values_of(value))
    return found


def _instances(schema: dict[str, Any], count: int = 400) -> list[Any]:
    """Objects over the schema's properties (and one extra), each value from a pool of valid
    and invalid ones; plus non-objects. Seeded: the same every run."""
    rng = random.Random(json.dumps(schema, sort_keys=True))
    names = [*schema.get("properties", {}), "unexpected"]
    pool = SCALARS + _values_of(schema)
    instances: list[Any] = [None, 1, "x", [], {}]
    for _ in range(count):
        chosen = [n for n in names if rng.random() < 0.7]
        instances.append({n: rng.choice(pool) for n in chosen})
    return instances


@pytest.mark.parametrize(("where", "schema"), _schemas(), ids=[w for w, _ in _schemas()])
def test_compact_schema_gives_the_same_verdicts(where: str, schema: dict[str, Any]) -> None:
    small = compact(schema)
    full_validator = validators.validator_for(schema)(schema)
    small_validator = validators.validator_for(small)(small)
    verdicts = {True: 0, False: 0}
    for instance in _instances(schema):
        verdict = full_validator.is_valid(instance)
        assert small_validator.is_valid(instance) == verdict, (where, instance)
        verdicts[verdict] += 1
    assert verdicts[False] > 0  # the instances reach the constraints


def test_compaction_drops_annotations_but_not_properties_named_like_them() -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "title": "Args",
        "$comment": "generated",
        "properties": {
            "title": {"type": "string", "title": "Title", "examples": ["x"]},
            "limit": {"type": "integer", "default": 10, "description": "Max (default 10)"},
            "depth": {"type": "integer", "default": 3, "minimum": 1},
        },
        "required": ["title"],
        "additionalProperties": False,
    }
    assert compact(schema) == {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "limit": {"type": "integer", "description": "Max (default 10)"},
            "depth": {"type": "integer", "default": 3, "minimum": 1},
        },
        "required": ["title"],
        "additionalProperties": False,
    }
    assert schema["title"] == "Args"  # the input is untouched


def test_optional_of_pydantic_becomes_a_type_list() -> None:
    optional = {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}], "default": None}
    assert compact(optional) == {"type": ["integer", "null"], "minimum": 0}
    enum_or_null = {"anyOf": [{"type": "string", "enum": ["a"]}, {"type": "null"}]}
    assert compact(enum_or_null) == enum_or_null  # an enum would refuse null: kept as it is


def test_schema_dialect_stays_when_a_keyword_depends_on_it() -> None:
    draft7 = {"$schema": "http://json-schema.org/draft-07/schema#", "items": [{"type": "string"}]}
    assert compact(draft7)["$schema"] == draft7["$schema"]


def test_tool_compaction_keeps_meaningful_hints_only() -> None:
    tool = {
        "name": "t",
        "title": "T",
        "description": "Reads  it.\n\n\nFast.",
        "inputSchema": {"type": "object", "properties": {}},
        "execution": {"taskSupport": "forbidden"},
        "annotations": {
            "title": "T",
            "readOnlyHint": True,
            "destructiveHint": False,
            "idempotentHint": True,
            "openWorldHint": False,
        },
    }
    [shown], _ = Shape(compact=True).apply([tool])
    assert shown.item == {
        "name": "t",
        "description": "Reads it.\nFast.",
        "inputSchema": {"type": "object", "properties": {}},
        "annotations": {"readOnlyHint": True, "openWorldHint": False},
    }
    writer = {"name": "w", "annotations": {"readOnlyHint": False, "destructiveHint": True}}
    [shown], _ = Shape(compact=True).apply([writer])
    assert "annotations" not in shown.item  # both say what their absence says


def test_compact_catalog_is_smaller_by_a_fifth_in_bytes() -> None:
    shown, _ = Shape(compact=True).apply(TOOLS)
    full = len(json.dumps(TOOLS, separators=(",", ":")))
    small = len(json.dumps([s.item for s in shown], separators=(",", ":")))
    assert small < 0.8 * full  # in tokens ≥ 25%: tests/test_context_report.py


def test_every_pair_of_snapshot_tools_stays_distinct() -> None:
    shown, _ = Shape(compact=True).apply(TOOLS)
    items = [json.dumps(s.item, sort_keys=True) for s in shown]
    assert all(a != b for a, b in itertools.combinations(items, 2))
