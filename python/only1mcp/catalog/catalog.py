"""Owns the mapping between exposed names and (server, original name), per list kind.

Each server's part is replaced whole when that server (re)initializes or says its list changed;
the merged list is rebuilt lazily and cached until the next change. Order is deterministic:
servers in config order, each server's items in the order it listed them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from only1mcp.catalog.naming import disambiguate, expose, expose_uri
from only1mcp.types import JsonObject

log = logging.getLogger("only1mcp.catalog")


@dataclass(frozen=True, slots=True)
class Entry:
    server: str
    name: str


class Catalog:
    """Merged, namespaced items of one kind across servers.

    ``key`` is the field that identifies an item (``name`` for tools and prompts, ``uri`` for
    resources, ``uriTemplate`` for templates); names are joined with the separator, URIs get
    the reversible ``prefix+`` form.
    """

    def __init__(
        self, order: list[str], prefixes: dict[str, str], separator: str, key: str = "name"
    ) -> None:
        self.order = order
        self.prefixes = prefixes
        self.separator = separator
        self.key = key
        self.items: dict[str, list[JsonObject]] = {}
        self.errors: dict[str, str] = {}
        self.collisions: list[str] = []
        self._entries: dict[str, Entry] = {}
        self._originals: dict[str, JsonObject] = {}  # exposed name → the server's own item
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

    def lookup(self, exposed: str) -> Entry | None:
        if self._merged is None:
            self._rebuild()
        return self._entries.get(exposed)

    def item(self, exposed: str) -> JsonObject | None:
        """The server's own description of the item exposed as ``exposed``."""
        if self._merged is None:
            self._rebuild()
        return self._originals.get(exposed)

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
        for server in self.order:
            for item in self.items.get(server, ()):
                name = item.get(self.key)
                if not isinstance(name, str):
                    continue
                exposed = self._expose(self.prefixes[server], name)
                if exposed in entries:
                    other = entries[exposed].server
                    collisions.append(f"{server}:{name} collides with {other} as {exposed!r}")
                    exposed = disambiguate(exposed, server)
                entries[exposed] = Entry(server, name)
                originals[exposed] = item
                merged.append(_renamed(item, self.key, exposed))
        for message in collisions:
            if message not in self.collisions:
                log.warning("name collision: %s; renamed with a hash suffix", message)
        self._entries, self._merged, self.collisions = entries, merged, collisions
        self._originals = originals

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
