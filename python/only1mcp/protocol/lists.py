"""The four lists MCP servers publish (tools, prompts, resources, resource templates), once.

Everything that treats the lists alike derives from :data:`LIST_KINDS`: the gateway's catalogs,
the router's merged-list handlers, what a 2026 result stamps as cacheable, what a pool may
replay, and the ``subscriptions/listen`` filter flags.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ListKind:
    kind: str  # our name for it: the catalog that holds its items, the cursor's kind
    method: str  # the list request
    result_key: str  # where the items are in its result
    capability: str  # the server capability that says it has them (and names its list_changed)
    id_field: str  # what identifies an item

    @property
    def list_changed(self) -> str:
        """The notification that says the list changed (resources and templates share one)."""
        return f"notifications/{self.capability}/list_changed"

    @property
    def listen_flag(self) -> str:
        """The 2026 ``subscriptions/listen`` filter flag that asks for that notification."""
        return f"{self.capability}ListChanged"


# In refresh order: tools first, which most clients read first.
LIST_KINDS = (
    ListKind("tools", "tools/list", "tools", "tools", "name"),
    ListKind("prompts", "prompts/list", "prompts", "prompts", "name"),
    ListKind("resources", "resources/list", "resources", "resources", "uri"),
    ListKind(
        "templates", "resources/templates/list", "resourceTemplates", "resources", "uriTemplate"
    ),
)
BY_KIND = {spec.kind: spec for spec in LIST_KINDS}
BY_METHOD = {spec.method: spec for spec in LIST_KINDS}
LIST_METHODS = frozenset(BY_METHOD)
# server capability → the listen filter flag that asks for its list_changed
LIST_CHANGED_FLAGS = {spec.capability: spec.listen_flag for spec in LIST_KINDS}
