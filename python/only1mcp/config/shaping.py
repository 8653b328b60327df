"""Catalog shaping and discovery keys: what of each server's lists a client sees, and how.

Per server::

    tools:
      allow: ["git_*"]                 # globs over the server's own names; empty: all
      deny: ["git_reset"]              # wins over allow
      overrides:
        git_status:
          name: status                 # before the prefix: exposed as git__status
          description: Working tree status of the project repository
          arguments:
            repo_path: {value: /srv/repo}              # hidden; every call gets this value
            verbose: {description: Show untracked files too}
    prompts: {allow: [...], deny: [...]}
    resources: {allow: [...], deny: [...]}   # globs over URIs (and URI templates)
    schemas: compact                   # full (as the server sent them) | compact

At the top level ``schemas`` sets the default, and ``discovery`` the lazy mode
(:mod:`only1mcp.catalog.discovery`).
"""

from __future__ import annotations

import enum
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from only1mcp.catalog.shaping import Override, Shape

from .access import Pattern
from .policies import Count, Strict, problem

TOOL_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def _check_tool_name(name: str) -> str:
    if not TOOL_NAME_RE.fullmatch(name):
        raise problem("a tool name is 1-64 characters of A-Z, a-z, 0-9, '_', '.' and '-'")
    return name


Glob = Pattern  # the access section's: a glob, not empty
ToolName = Annotated[str, AfterValidator(_check_tool_name)]


class Schemas(enum.StrEnum):
    """How much of each tool's schemas a client gets."""

    #: As the server sent them.
    FULL = "full"
    #: Without titles, examples, comments and defaults the description states; every
    #: constraint kept (see catalog/compaction.py).
    COMPACT = "compact"


class Filter(Strict):
    """Which items of a list are exposed: those an ``allow`` glob matches (all when it is
    empty) and no ``deny`` glob does."""

    allow: list[Glob] = Field(default_factory=list)
    deny: list[Glob] = Field(default_factory=list)

    def shape(self, key: str, compact: bool) -> Shape:
        return Shape(key, self.allow, self.deny, compact=compact)


class ArgumentOverride(Strict):
    """One argument of a tool: a new description, or a fixed ``value`` that hides it."""

    description: str | None = None
    #: Every call gets this value and the argument leaves the schema (checked against the
    #: tool's own schema when the server lists it).
    value: Any = None

    @property
    def fixed(self) -> bool:
        return "value" in self.model_fields_set

    @model_validator(mode="after")
    def _one_of(self) -> ArgumentOverride:
        if self.fixed and self.description is not None:
            raise problem("a hidden argument (`value`) has no description to show")
        if not self.fixed and self.description is None:
            raise problem("give `description` or a fixed `value`")
        return self


class ToolOverride(Strict):
    """How one tool is shown."""

    #: The tool's name before the server's prefix.
    name: ToolName | None = None
    description: str | None = None
    arguments: dict[str, ArgumentOverride] = Field(default_factory=dict)

    def override(self) -> Override:
        args = self.arguments.items()
        return Override(
            self.name,
            self.description,
            {k: a.description for k, a in args if a.description is not None},
            {k: a.value for k, a in args if a.fixed},
        )


class ToolFilter(Filter):
    """``allow``/``deny`` plus per-tool ``overrides`` (keyed by the server's own tool names)."""

    overrides: dict[str, ToolOverride] = Field(default_factory=dict)

    def shape(self, key: str, compact: bool) -> Shape:
        overrides = {name: o.override() for name, o in self.overrides.items()}
        return Shape(key, self.allow, self.deny, overrides, compact)


class Discovery(enum.StrEnum):
    #: Every tool in tools/list.
    FULL = "full"
    #: tools/list has search_tools, call_tool and the pinned tools; the rest is found by search.
    LAZY = "lazy"


def _discovery_shorthand(value: Any) -> Any:
    return {"mode": value} if isinstance(value, str) else value


class DiscoveryConfig(Strict):
    mode: Discovery = Discovery.FULL
    #: Globs over exposed tool names that stay in tools/list in lazy mode.
    always_visible: list[Glob] = Field(default_factory=list)
    #: How many tools search_tools returns when the caller gives no limit.
    limit: Count = 5


DiscoveryField = Annotated[DiscoveryConfig, BeforeValidator(_discovery_shorthand)]


class Shaping(Strict):
    """The shaping keys every server takes."""

    tools: ToolFilter = ToolFilter()
    prompts: Filter = Filter()
    resources: Filter = Filter()
    #: None: the top-level ``schemas``.
    schemas: Schemas | None = None

    def shapes(self, default: Schemas) -> dict[str, Shape] | None:
        """kind → its Shape; None when nothing is shaped (the catalog's fast path)."""
        compact = (self.schemas or default) is Schemas.COMPACT
        plain = self.tools == ToolFilter() and self.prompts == self.resources == Filter()
        if plain and not compact:
            return None
        return {
            "tools": self.tools.shape("name", compact),
            "prompts": self.prompts.shape("name", compact),
            "resources": self.resources.shape("uri", False),
            "templates": self.resources.shape("uriTemplate", False),
        }
