"""Lazy discovery's view of a catalog: its list, its search results, call_tool unwrapping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from only1mcp.catalog import Catalog
from only1mcp.catalog.discovery import CALL_TOOL, MAX_LIMIT, SEARCH_TOOLS, LazyTools
from only1mcp.errors import InvalidParams

SERVERS = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "data" / "context" / "servers.json").read_text()
)


@pytest.fixture
def catalog() -> Catalog:
    catalog = Catalog(list(SERVERS), {s: s for s in SERVERS}, "__")
    for server, tools in SERVERS.items():
        catalog.set_items(server, tools)
    return catalog


def test_list_has_the_meta_tools_and_the_pinned_ones(catalog: Catalog) -> None:
    lazy = LazyTools(catalog, ["time__*", "git__git_status"])
    names = [t["name"] for t in lazy.listed()]
    assert names == [
        SEARCH_TOOLS,
        CALL_TOOL,
        "git__git_status",
        "time__get_current_time",
        "time__convert_time",
    ]


def test_search_answers_full_definitions(catalog: Catalog) -> None:
    lazy = LazyTools(catalog)
    result = lazy.intercept(
        {"name": SEARCH_TOOLS, "arguments": {"query": "stage files", "limit": 2}}
    )
    assert result is not None and "isError" not in result
    tools = result["structuredContent"]["tools"]
    assert len(tools) == 2 and tools[0]["name"] == "git__git_add"
    assert tools[0] == catalog.merged()[[t["name"] for t in catalog.merged()].index("git__git_add")]
    assert json.loads(result["content"][0]["text"]) == tools


def test_search_follows_catalog_changes(catalog: Catalog) -> None:
    lazy = LazyTools(catalog)
    assert lazy.search("current time")[0]["name"] == "time__get_current_time"
    catalog.set_error("time", "down")
    assert all(not t["name"].startswith("time__") for t in lazy.search("current time"))


def test_search_respects_what_a_principal_may_see(catalog: Catalog) -> None:
    lazy = LazyTools(catalog)
    found = lazy.search("git", 5, visible=lambda name: name != "git__git_status")
    assert len(found) == 5 and "git__git_status" not in [t["name"] for t in found]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "needs `query`"),
        ({"query": " "}, "needs `query`"),
        ({"query": "x", "limit": "3"}, "whole number"),
    ],
)
def test_bad_search_arguments_are_tool_errors(
    catalog: Catalog, arguments: dict[str, object], message: str
) -> None:
    result = LazyTools(catalog).intercept({"name": SEARCH_TOOLS, "arguments": arguments})
    assert result is not None and result["isError"] is True
    assert message in result["content"][0]["text"]


def test_limit_is_capped(catalog: Catalog) -> None:
    assert len(LazyTools(catalog).search("file directory git time", 99)) == MAX_LIMIT


def test_call_tool_becomes_the_call_it_wraps(catalog: Catalog) -> None:
    params = {
        "name": CALL_TOOL,
        "arguments": {"name": "time__get_current_time", "arguments": {"timezone": "UTC"}},
        "_meta": {"progressToken": 1},
    }
    assert LazyTools(catalog).intercept(params) is None
    assert params == {
        "name": "time__get_current_time",
        "arguments": {"timezone": "UTC"},
        "_meta": {"progressToken": 1},
    }
    plain = {"name": "git__git_status", "arguments": {}}
    assert LazyTools(catalog).intercept(plain) is None and plain["name"] == "git__git_status"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "arguments.name must be the name of a tool"),
        ({"name": SEARCH_TOOLS}, "is called directly"),
        ({"name": "git__git_status", "arguments": [1]}, "must be an object"),
    ],
)
def test_bad_call_tool_is_invalid_params(
    catalog: Catalog, arguments: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidParams, match=message):
        LazyTools(catalog).intercept({"name": CALL_TOOL, "arguments": arguments})


def test_list_follows_the_catalog_version(catalog: Catalog) -> None:
    lazy = LazyTools(catalog, ["time__*"])
    assert len(lazy.listed()) == 4
    catalog.set_items("time", [])
    assert [t["name"] for t in lazy.listed()] == [SEARCH_TOOLS, CALL_TOOL]
    catalog.set_items("time", SERVERS["time"])
    assert len(lazy.listed()) == 4
