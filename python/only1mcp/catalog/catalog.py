"""Owns the mapping between exposed names and (server, original name), per list kind.

Each server's part is replaced whole when that server (re)initializes or says its list changed;
the merged list is rebuilt lazily and cached until the next change. Order is deterministic:
servers in config order, each server's items in the order it listed them (client prompt caches
hit across restarts and replicas). A server's :class:`~only1mcp.catalog.shaping.Shape`, when it
has one, decides what of its list is exposed and how.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from only1mcp.catalog.naming import disambiguate, expose, expose_uri
from only1mcp.catalog.shaping import Shape, Shown
from only1mcp.errors import InvalidParams
from only1mcp.types import JsonObject

log = logging.getLogger("only1mcp.catalog")


@dataclass(frozen=True, slots=True)
class Entry:
    server: str
    name: str
    #: Arguments every call of it gets (hidden from the client by configuration).
    fixed: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)

    def params(self, params: JsonObject, key: str = "name") -> JsonObject:
        """A client's ``params`` as the server gets them: its own name, the fixed arguments."""
        if self.fixed is None:
            return {**params, key: self.name}
        given = params.get("arguments", {})
        if not isinstance(given, dict):
            raise InvalidParams(f"tools/call: arguments of {params.get(key)!r} must be an object")
        clash = sorted(given.keys() & self.fixed.keys())
        if clash:
            raise InvalidParams(
                f"argument {clash[0]!r} of tool {params.get(key)!r} is fixed by the gateway's "
                "configuration; call it without that argument"
            )
        return {**params, key: self.name, "arguments": {**given, **self.fixed}}


class Catalog:
    """Merged, namespaced items of one kind across servers.

    ``key`` is the field that identifies an item (``name`` for tools and prompts, ``uri`` for
    resources, ``uriTemplate`` for templates); names are joined with the separator, URIs get
    the reversible ``prefix+`` form.
    """

    def __init__(
        self,
        order: list[str],
        prefixes: dict[str, str],
        separator: str,
        key: str = "name",
        shapes: Mapping[str, Shape] | None = None,
    ) -> None:
        self.order = order
        self.shapes = dict(shapes or {})
        self.prefixes = prefixes
        self.separator = separator
        self.key = key
        self.items: dict[str, list[JsonObject]] = {}
        self.errors: dict[str, str] = {}
        self.collisions: list[str] = []
        self._entries: dict[str, Entry] = {}
        self._originals: dict[str, JsonObject] = {}  # exposed name → the server's own item
        self._refused: dict[str, str] = {}  # the name it would have → why it is not exposed
        self._gone: dict[str, str] = {}  # the prefix of a server a reload removed → why
        self._merged: list[JsonObject] | None = None
        self.version = 0  # bumps on every change, for caches of what is built from the list

    def set_items(self, server: str, items: list[JsonObject]) -> None:
        self.items[server] = items
        self.errors.pop(server, None)
        self._merged = None
        self.version += 1

    def set_error(self, server: str, reason: str) -> None:
        self.items.pop(server, None)
        self.errors[server] = reason
        self._merged = None
        self.version += 1

    def reshape(self, shapes: Mapping[str, Shape]) -> None:
        """Take the shapes of another configuration (a hot reload; the servers' order and
        prefixes are the gateway's, shared with this catalog)."""
        self.shapes = dict(shapes)
        self._merged = None
        self.version += 1
        for prefix in [p for p in self._gone if p in self.prefixes.values()]:
            del self._gone[prefix]  # a server with that prefix is back

    def forget(self, server: str, prefix: str, why: str) -> None:
        """``server`` left the configuration: its items leave the list, and a call of one of
        its names (``prefix``) says ``why`` rather than that it is unknown."""
        self.items.pop(server, None)
        self.errors.pop(server, None)
        if prefix:
            self._gone[prefix] = why
        self._merged = None
        self.version += 1

    def lookup(self, exposed: str) -> Entry | None:
        if self._merged is None:
            self._rebuild()
        return self._entries.get(exposed)

    def item(self, exposed: str) -> JsonObject | None:
        """The server's own description of the item exposed as ``exposed``."""
        if self._merged is None:
            self._rebuild()
        return self._originals.get(exposed)

    def allows(self, server: str, name: str) -> bool:
        """Whether ``server``'s shape lets its item ``name`` through (listed or not)."""
        shape = self.shapes.get(server)
        return shape is None or shape.allows(name)

    def unknown(self, noun: str, exposed: str) -> InvalidParams:
        """The error for a call of the ``noun`` (tool, prompt…) ``exposed`` that :meth:`lookup`
        did not find: unknown, or not exposed and why."""
        if self._merged is None:
            self._rebuild()
        reason = self._refused.get(exposed)
        if reason is None:
            reason = self._departed(exposed)
        if reason is None:
            return InvalidParams(f"Unknown {noun}: {exposed}")
        return InvalidParams(f"{noun.capitalize()} {exposed} is {reason}")

    def _departed(self, exposed: str) -> str | None:
        for prefix, why in self._gone.items():
            if exposed.startswith(self._expose(prefix, "")):
                return why
        return None

    def merged(self) -> list[JsonObject]:
        if self._merged is None:
            self._rebuild()
        assert self._merged is not None
        return self._merged

    def _rebuild(self) -> None:
        entries: dict[str, Entry] = {}
        originals: dict[str, JsonObject] = {}
        merged: list[JsonObject] = []
        collisions: list[str] = []
        self._refused = {}
        for server in self.order:
            prefix = self.prefixes[server]
            for shown in self._shown(server):
                exposed = self._expose(prefix, shown.item[self.key])
                if exposed in entries:
                    other = entries[exposed].server
                    collisions.append(f"{server}:{shown.name} collides with {other} as {exposed!r}")
                    exposed = disambiguate(exposed, server)
                entries[exposed] = Entry(server, shown.name, shown.fixed)
                originals[exposed] = shown.original
                merged.append(_renamed(shown.item, self.key, exposed))
        for message in collisions:
            if message not in self.collisions:
                log.warning("name collision: %s; renamed with a hash suffix", message)
        self._entries, self._merged, self.collisions = entries, merged, collisions
        self._originals = originals

    def _shown(self, server: str) -> list[Shown]:
        items = self.items.get(server, ())
        shape = self.shapes.get(server)
        if shape is None:
            return [Shown(i[self.key], i, i) for i in items if isinstance(i.get(self.key), str)]
        shown, refused = shape.apply(items)
        for name, reason in refused.items():
            self._refused[self._expose(self.prefixes[server], name)] = reason
        return shown

    def _expose(self, prefix: str, name: str) -> str:
        if self.key == "name":
            return expose(prefix, self.separator, name)
        return expose_uri(prefix, name)


def _renamed(item: JsonObject, key: str, exposed: str) -> JsonObject:
    if item.get(key) == exposed:
        return item
    renamed: dict[str, Any] = dict(item)
    renamed[key] = exposed
    return renamed
