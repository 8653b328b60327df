"""BM25 over a tool catalog: which tools a natural-language request most likely needs.

Each tool is one document of weighted fields: its exposed name (server prefix included), its
description, its argument names and their descriptions. Words are split at snake_case,
camelCase, kebab-case and digits, lower-cased, stripped of English stop words and of common
suffixes (a light stemmer: "listing", "listed", "lists" → "list"), so a request need not use
the tool's own words. A few everyday synonyms (folder → directory…) are added to a query.

The index is built once per catalog version; a query adds up precomputed per-(term, tool)
weights, a few hundred dict updates over a 1,000-tool catalog: well under a millisecond
(``benches/test_search_bench.py``). Pure Python: the Rust core would have to earn its place by
measurement, and this does not need it.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

from only1mcp.types import JsonObject

K1 = 1.2
B = 0.75
# How much a word counts in each field (a BM25F-style weighted term frequency).
NAME_WEIGHT = 3.0
DESCRIPTION_WEIGHT = 1.0
ARGUMENT_WEIGHT = 1.5
ARGUMENT_DESCRIPTION_WEIGHT = 0.5

_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_STOP = """
    a an and are as at be been but by can could do does for from had has have how i if in
    into is it its me my of on or our please should so some than that the their them then
    there these this those to use used uses using was we what when where which while who
    will with would you your want need let lets tell give just also any all
"""
STOP_WORDS = frozenset(_STOP.split())
# Everyday words for what tools call otherwise (applied to queries; both sides are stemmed).
SYNONYMS = {
    # files and folders, shell words included
    "folder": ("directory",),
    "folders": ("directory",),
    "dir": ("directory",),
    "subdirectories": ("directory",),
    "hierarchy": ("tree", "recursive"),
    "structure": ("tree",),
    "mkdir": ("create", "directory"),
    "ls": ("list", "directory"),
    "mv": ("move", "rename"),
    "relocate": ("move",),
    "rename": ("move",),
    "cat": ("read", "file"),
    "open": ("read",),
    "locate": ("search", "find"),
    "located": ("search", "find"),
    "where": ("search", "find"),
    "save": ("write",),
    "remove": ("delete",),
    "erase": ("delete",),
    "documents": ("file",),
    "together": ("multiple",),
    "several": ("multiple",),
    # a file name's extension says "a file" (and which kind)
    "txt": ("text", "file"),
    "md": ("text", "file"),
    "py": ("file",),
    "json": ("file",),
    "yaml": ("file",),
    "csv": ("file",),
    "log": ("file", "log"),
    "picture": ("image",),
    "photo": ("image",),
    "png": ("image",),
    "jpg": ("image",),
    # showing and getting
    "show": ("get", "list"),
    "display": ("get", "list"),
    "details": ("show", "info"),
    "metadata": ("info",),
    # the web
    "download": ("fetch", "url"),
    "web": ("url", "internet"),
    "page": ("url", "fetch"),
    "website": ("url", "fetch"),
    "link": ("url",),
    # time
    "timezone": ("time", "zone"),
    "clock": ("time",),
    "now": ("current", "time"),
    "moment": ("current", "time"),
    "daytime": ("current", "time"),
    "date": ("time", "current"),
    # arithmetic
    "plus": ("sum",),
    "total": ("sum",),
    "add": ("sum", "add"),
    # version control
    "undo": ("reset",),
    "unstage": ("reset", "staged"),
    "history": ("log", "commit"),
    "commits": ("log",),
    "changes": ("diff",),
    "edit": ("diff", "edit"),
    "switch": ("checkout",),
    "repeat": ("echo",),
    "parrot": ("echo",),
    "back": ("echo",),
    # simulation
    "fake": ("simulated",),
    "pretend": ("simulated",),
}


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light suffix stripper: the same stem for the usual forms of a word."""
    for suffix, keep in (
        ("ies", "y"),
        ("sses", "ss"),
        ("ing", ""),
        ("ion", ""),
        ("ed", ""),
        ("es", ""),
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)] + keep
            break
    else:
        if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
            word = word[:-1]
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    return word


@functools.lru_cache(maxsize=8192)
def _terms(text: str) -> tuple[str, ...]:
    return tuple(words(text))


def words(text: str) -> list[str]:
    """The index terms of ``text``."""
    found = []
    for word in _WORDS.findall(text):
        lower = word.lower()
        if lower not in STOP_WORDS:
            found.append(stem(lower))
    return found


def query_terms(query: str) -> list[str]:
    """A query's terms, its words' synonyms, and each pair of adjacent words written as one
    ("check out" also means "checkout")."""
    terms = words(query)
    raw = [word.lower() for word in _WORDS.findall(query)]
    for word in raw:
        terms.extend(stem(synonym) for synonym in SYNONYMS.get(word, ()))
    terms.extend(stem(a + b) for a, b in itertools.pairwise(raw))
    return terms


def fields(tool: JsonObject) -> Iterable[tuple[str, float]]:
    """(text, weight) of the parts of a tool definition that the index reads."""
    yield str(tool.get("name", "")), NAME_WEIGHT
    title = tool.get("title")
    if isinstance(title, str):
        yield title, NAME_WEIGHT / 2
    description = tool.get("description")
    if isinstance(description, str):
        yield description, DESCRIPTION_WEIGHT
    schema = tool.get("inputSchema")
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if isinstance(properties, dict):
        for argument, spec in properties.items():
            yield str(argument), ARGUMENT_WEIGHT
            if isinstance(spec, dict) and isinstance(spec.get("description"), str):
                yield spec["description"], ARGUMENT_DESCRIPTION_WEIGHT


class ToolIndex:
    """BM25 over ``tools``; :meth:`search` answers positions in ``tools``."""

    def __init__(self, tools: Sequence[JsonObject]) -> None:
        frequencies: list[Counter[str]] = []
        for tool in tools:
            counts: Counter[str] = Counter()
            for text, weight in fields(tool):
                for term in _terms(text):
                    counts[term] += weight  # type: ignore[assignment]
            frequencies.append(counts)
        self.size = len(tools)
        lengths = [sum(counts.values()) for counts in frequencies]
        average = (sum(lengths) / len(lengths)) if lengths else 1.0
        documents: Counter[str] = Counter()
        for counts in frequencies:
            documents.update(counts.keys())
        # term → {position: weight}: each term's whole BM25 contribution, precomputed.
        self.postings: dict[str, dict[int, float]] = {}
        for position, counts in enumerate(frequencies):
            norm = K1 * (1 - B + B * lengths[position] / average)
            for term, tf in counts.items():
                df = documents[term]
                idf = math.log(1 + (self.size - df + 0.5) / (df + 0.5))
                weight = idf * tf * (K1 + 1) / (tf + norm)
                self.postings.setdefault(term, {})[position] = weight

    def search(self, query: str, limit: int, expand: bool = True) -> list[int]:
        """Positions of the ``limit`` best tools for ``query``, best first (ties in a stable
        order); tools that share no term with it are never returned. ``expand=False``: the
        query's own words only (plain BM25, the report's baseline)."""
        terms = dict.fromkeys(query_terms(query) if expand else words(query))  # ordered: stable
        found = [self.postings[term] for term in terms if term in self.postings]
        if not found:
            return []
        found.sort(key=len, reverse=True)
        scores = dict(found[0])  # the longest list is copied in C, not looped over
        get = scores.get
        for postings in found[1:]:
            for position, weight in postings.items():
                scores[position] = get(position, 0.0) + weight
        return heapq.nlargest(limit, scores, key=scores.__getitem__)
