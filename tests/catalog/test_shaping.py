"""Shaping a catalog: filters, overrides, hidden arguments, refusals, a stable order."""

from __future__ import annotations

import json
import logging
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from only1mcp.catalog import Catalog, Entry
from only1mcp.catalog.shaping import Override, Shape
from only1mcp.errors import InvalidParams

SNAPSHOT = Path(__file__).resolve().parents[2] / "docs" / "data" / "context" / "servers.json"
SERVERS: dict[str, list[dict[str, object]]] = json.loads(SNAPSHOT.read_text())
STATUS = next(t for t in SERVERS["git"] if t["name"] == "git_status")
LOG = next(t for t in SERVERS["git"] if t["name"] == "git_log")


def _git(shape: Shape) -> Catalog:
    catalog = Catalog(["git"], {"git": "git"}, "__", shapes={"git": shape})
    catalog.set_items("git", SERVERS["git"])
    return catalog


def _names(catalog: Catalog) -> list[str]:
    return [item["name"] for item in catalog.merged()]


def test_allow_and_deny_globs_over_the_servers_own_names() -> None:
    catalog = _git(Shape(allow=["git_diff*", "git_status", "git_reset"], deny=["git_reset"]))
    assert _names(catalog) == [
        "git__git_status",
        "git__git_diff_unstaged",
        "git__git_diff_staged",
        "git__git_diff",
    ]


def test_a_denied_tool_is_refused_by_name_with_the_reason() -> None:
    catalog = _git(Shape(deny=["git_reset"]))
    assert catalog.lookup("git__git_reset") is None
    error = catalog.unknown("tool", "git__git_reset")
    assert isinstance(error, InvalidParams)
    assert error.message == "Tool git__git_reset is not exposed by the configuration"
    assert catalog.unknown("tool", "git__nope").message == "Unknown tool: git__nope"
    assert not catalog.allows("git", "git_reset") and catalog.allows("git", "git_status")


def test_resource_filters_match_uris() -> None:
    shape = Shape("uri", allow=["file:///docs/*"])
    catalog = Catalog(["fs"], {"fs": "fs"}, "__", "uri", {"fs": shape})
    catalog.set_items("fs", [{"uri": "file:///docs/a.md"}, {"uri": "file:///etc/passwd"}])
    assert [r["uri"] for r in catalog.merged()] == ["fs+file:///docs/a.md"]
    assert catalog.unknown("resource", "fs+file:///etc/passwd").message.endswith(
        "is not exposed by the configuration"
    )


def test_override_renames_and_rewrites_descriptions() -> None:
    override = Override(
        name="log",
        description="Recent commits of the project",
        arguments={"max_count": "How many commits"},
    )
    catalog = _git(Shape(allow=["git_log"], overrides={"git_log": override}))
    [tool] = catalog.merged()
    assert tool["name"] == "git__log"
    assert tool["description"] == "Recent commits of the project"
    assert tool["inputSchema"]["properties"]["max_count"]["description"] == "How many commits"
    assert catalog.lookup("git__log") == Entry("git", "git_log")
    assert catalog.item("git__log") is LOG  # the server's own, for what reads its schema
    assert "description" not in LOG["inputSchema"]["properties"]["max_count"]  # untouched


def test_hidden_argument_leaves_the_schema_and_joins_every_call() -> None:
    fixed = Override(fixed={"repo_path": "/srv/repo"})
    catalog = _git(Shape(overrides={"git_status": fixed}))
    tool = next(t for t in catalog.merged() if t["name"] == "git__git_status")
    assert tool["inputSchema"]["properties"] == {}
    assert tool["inputSchema"]["required"] == []
    entry = catalog.lookup("git__git_status")
    assert entry is not None
    params = entry.params({"name": "git__git_status", "arguments": {}})
    assert params == {"name": "git_status", "arguments": {"repo_path": "/srv/repo"}}
    assert entry.params({"name": "git__git_status"})["arguments"] == {"repo_path": "/srv/repo"}
    with pytest.raises(InvalidParams, match="'repo_path' of tool 'git__git_status' is fixed"):
        entry.params({"name": "git__git_status", "arguments": {"repo_path": "/etc"}})


@pytest.mark.parametrize(
    ("fixed", "why"),
    [
        ({"repo_path": 42}, "hidden argument 'repo_path': 42 is not of type 'string'"),
        ({"max_count": "ten"}, "hidden argument 'max_count': 'ten' is not of type 'integer'"),
    ],
)
def test_a_fixed_value_that_does_not_fit_refuses_the_tool(
    fixed: dict[str, object], why: str, caplog: pytest.LogCaptureFixture
) -> None:
    catalog = _git(Shape(overrides={"git_log": Override(fixed=fixed)}))
    with caplog.at_level(logging.ERROR, "only1mcp.catalog"):
        assert "git__git_log" not in _names(catalog)
    assert (
        catalog.unknown("tool", "git__git_log").message
        == f"Tool git__git_log is not exposed: {why}"
    )
    assert why in caplog.text


def test_a_hidden_argument_the_closed_schema_lacks_refuses_the_tool() -> None:
    tool = {
        "name": "t",
        "inputSchema": {"type": "object", "properties": {}, "additionalProperties": False},
    }
    shown, refused = Shape(overrides={"t": Override(fixed={"x": 1})}).apply([tool])
    assert shown == []
    assert refused == {"t": "not exposed: hidden argument 'x' is not an argument of the tool"}


def test_an_override_of_an_unlisted_tool_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, "only1mcp.catalog"):
        _names(_git(Shape(overrides={"git_blame": Override(description="x")})))
    assert "names tool 'git_blame', which the server does not list" in caplog.text


def _five(order: list[str], listing_order: list[str]) -> list[str]:
    catalog = Catalog(order, {s: s for s in order}, "__", shapes={"git": Shape(compact=True)})
    for server in listing_order:  # servers answer in any order at start-up
        catalog.set_items(server, SERVERS[server])
    return [json.dumps(item, sort_keys=False) for item in catalog.merged()]


def test_merged_list_is_byte_stable_across_restarts_and_replicas() -> None:
    order = list(SERVERS)
    first = _five(order, order)
    rng = random.Random(15)
    for _ in range(5):
        shuffled = rng.sample(order, len(order))
        assert _five(order, shuffled) == first
    names = [json.loads(item)["name"] for item in first]
    assert names[0] == "everything__echo" and names[-1] == "fetch__fetch"


def test_arguments_that_are_no_object_are_refused_with_fixed_ones() -> None:
    entry = _git(Shape(overrides={"git_status": Override(fixed={"repo_path": "/r"})})).lookup(
        "git__git_status"
    )
    assert entry is not None
    with pytest.raises(InvalidParams, match="must be an object"):
        entry.params({"name": "git__git_status", "arguments": ["/etc"]})


_PROCESS = """
import hashlib, json, sys
sys.path.insert(0, sys.argv[1])
import context_catalogs as c
from only1mcp.catalog import Catalog
from only1mcp.catalog.discovery import LazyTools
from only1mcp.catalog.shaping import Shape
servers = c.large()
catalog = Catalog(list(servers), {s: s for s in servers}, "__",
                  shapes={s: Shape(compact=True) for s in servers})
for server in reversed(list(servers)):
    catalog.set_items(server, servers[server])
lazy = LazyTools(catalog)
found = [[t["name"] for t in lazy.search(q)] for q in ("git status", "read a file", "time")]
print(hashlib.sha256(json.dumps([catalog.merged(), found]).encode()).hexdigest())
"""


def test_list_and_search_are_the_same_in_every_process() -> None:
    """Another replica or a restart (another hash seed, servers answering in another order)
    lists the same bytes and finds the same tools: client prompt caches hit."""
    tools = Path(__file__).resolve().parents[2] / "tools" / "context"
    digests = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = [sys.executable, "-c", _PROCESS, str(tools)]
        digests.add(subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout)
    [digest] = digests
    assert len(digest.strip()) == 64
