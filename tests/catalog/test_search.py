"""Tool search: words split as tools name them, ranked by BM25, deterministic."""

from __future__ import annotations

import json
from pathlib import Path

from only1mcp.catalog import Catalog
from only1mcp.catalog.search import ToolIndex, query_terms, stem, words

DATA = Path(__file__).resolve().parents[2] / "docs" / "data" / "context"
SERVERS = json.loads((DATA / "servers.json").read_text())


def five_servers() -> list[dict[str, object]]:
    catalog = Catalog(list(SERVERS), {s: s for s in SERVERS}, "__")
    for server, tools in SERVERS.items():
        catalog.set_items(server, tools)
    return catalog.merged()


def test_words_split_snake_camel_kebab_and_stem() -> None:
    assert words("git_diff_unstaged") == ["git", "diff", "unstag"]
    assert words("getCurrentTime") == ["get", "current", "tim"]
    assert words("toggle-simulated-logging") == ["toggl", "simulat", "logg"]
    assert words("HTTPServer listing the files") == ["http", "server", "list", "fil"]
    assert stem("directories") == stem("directory") == "directory"
    assert stem("created") == stem("create") == stem("creation")


def test_query_terms_add_synonyms_and_joined_pairs() -> None:
    terms = query_terms("check out the folder")
    assert "checkout" in terms and "directory" in terms


def test_search_ranks_the_tool_that_serves_the_task_first() -> None:
    tools = five_servers()
    index = ToolIndex(tools)
    names = [str(t["name"]) for t in tools]

    def best(query: str) -> str:
        return names[index.search(query, 1)[0]]

    assert best("what time is it now in Tokyo") == "time__get_current_time"
    assert best("switch to the develop branch") == "git__git_checkout"
    assert best("new directory reports") == "filesystem__create_directory"
    assert best("download https://example.com") == "fetch__fetch"


def test_search_is_deterministic_and_bounded() -> None:
    index = ToolIndex(five_servers())
    first = index.search("file", 5)
    assert len(first) == 5
    assert all(index.search("file", 5) == first for _ in range(3))
    assert index.search("zzzz qqqq", 5) == []
    assert ToolIndex([]).search("anything", 5) == []
