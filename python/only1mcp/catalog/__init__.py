"""The merged view of every backend's tools (and later resources and prompts)."""

from only1mcp.catalog.catalog import Catalog, Entry
from only1mcp.catalog.naming import MAX_NAME, expose

__all__ = ["MAX_NAME", "Catalog", "Entry", "expose"]
