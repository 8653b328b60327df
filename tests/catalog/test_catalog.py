"""Naming and merging: exposed names are unique, ≤ 64 characters and deterministic."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from only1mcp.catalog import MAX_NAME, Catalog, Entry, expose
from only1mcp.catalog.naming import expose_uri, split_uri, uri_scheme

NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-.", min_size=1, max_size=150)


def test_expose_joins_prefix_and_name() -> None:
    assert expose("git", "__", "status") == "git__status"
    assert expose("", "__", "status") == "status"
    assert expose("git", ".", "status") == "git.status"


@given(prefix=st.text(alphabet="abc_-", max_size=64), name=NAME)
def test_exposed_names_are_short_and_stable(prefix: str, name: str) -> None:
    exposed = expose(prefix, "__", name)
    assert len(exposed) <= MAX_NAME
    assert exposed == expose(prefix, "__", name)
    assert re.fullmatch(r"[A-Za-z0-9_.\-]+", exposed)


def test_long_names_differ_by_hash() -> None:
    a = expose("server", "__", "x" * 80 + "a")
    b = expose("server", "__", "x" * 80 + "b")
    assert len(a) == len(b) == MAX_NAME
    assert a != b


def _catalog(prefixes: dict[str, str]) -> Catalog:
    return Catalog(list(prefixes), prefixes, "__")


def test_merged_order_follows_config_then_server_order() -> None:
    cat = _catalog({"b": "b", "a": "a"})
    cat.set_items("a", [{"name": "z"}, {"name": "y"}])
    cat.set_items("b", [{"name": "x"}])
    assert [t["name"] for t in cat.merged()] == ["b__x", "a__z", "a__y"]
    assert cat.lookup("a__y") == Entry("a", "y")
    assert cat.lookup("y") is None


def test_collisions_are_renamed_and_reported() -> None:
    cat = _catalog({"one": "", "two": ""})
    cat.set_items("one", [{"name": "echo"}])
    cat.set_items("two", [{"name": "echo"}])
    names = [t["name"] for t in cat.merged()]
    assert names[0] == "echo"
    assert names[1] != "echo" and names[1].startswith("echo_")
    assert cat.lookup(names[1]) == Entry("two", "echo")
    assert cat.collisions == ["two:echo collides with one as 'echo'"]


def test_items_keep_every_other_field_untouched() -> None:
    tool = {"name": "t", "inputSchema": {"type": "object"}, "_meta": {"k": 1}, "title": "T"}
    cat = _catalog({"s": "s"})
    cat.set_items("s", [tool])
    assert cat.merged() == [{**tool, "name": "s__t"}]


def test_a_failed_server_leaves_the_list() -> None:
    cat = _catalog({"a": "a", "b": "b"})
    cat.set_items("a", [{"name": "t"}])
    cat.set_items("b", [{"name": "t"}])
    cat.set_error("b", "boom")
    assert [t["name"] for t in cat.merged()] == ["a__t"]
    assert cat.errors == {"b": "boom"}


def test_a_server_that_left_says_so_until_its_prefix_is_back() -> None:
    order, prefixes = ["a", "b"], {"a": "a", "b": "b"}  # the gateway's, changed in place
    cat = Catalog(order, prefixes, "__")
    cat.set_items("b", [{"name": "t"}])
    before = cat.version
    cat.forget("b", "b", "gone: server 'b' left")
    order.remove("b")
    del prefixes["b"]
    assert cat.merged() == [] and cat.version > before
    assert str(cat.unknown("tool", "b__t")) == "Tool b__t is gone: server 'b' left"
    assert str(cat.unknown("tool", "c__t")) == "Unknown tool: c__t"
    order.append("c")
    prefixes["c"] = "b"  # another server takes the prefix
    cat.reshape({})
    assert str(cat.unknown("tool", "b__t")) == "Unknown tool: b__t"


SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")


@given(st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True))
def test_every_prefix_makes_a_uri_scheme_that_splits_back(prefix: str) -> None:
    exposed = expose_uri(prefix, "test://static-text")
    scheme = exposed.partition(":")[0]
    assert SCHEME.fullmatch(scheme), exposed  # RFC 3986 §3.1
    assert split_uri(exposed) == (uri_scheme(prefix), "test://static-text")


def test_uri_schemes_of_prefixes() -> None:
    assert expose_uri("git", "file:///r") == "git+file:///r"
    assert expose_uri("under_score", "test://x") == "under-score+test://x"
    assert expose_uri("9lives", "test://x") == "x9lives+test://x"
    assert expose_uri("", "test://x") == "test://x"
