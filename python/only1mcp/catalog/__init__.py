"""The merged views of every backend's tools, prompts, resources and resource templates."""

from only1mcp.catalog.catalog import Catalog, Entry
from only1mcp.catalog.naming import MAX_NAME, expose

__all__ = ["MAX_NAME", "Catalog", "Entry", "expose"]
