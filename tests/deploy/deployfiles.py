"""Where the deployment files are, read with the parsers their tools use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dockerfile_parse import DockerfileParser  # type: ignore[import-untyped]

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
#: The API keys deploy/only1mcp.yaml reads from the environment, for the tests.
KEYS = {"ONLY1MCP_API_KEY": "k" * 32, "ONLY1MCP_METRICS_KEY": "m" * 32}


def dockerfile() -> DockerfileParser:
    """``deploy/Dockerfile``, parsed (``build_args`` left unexpanded)."""
    return DockerfileParser(path=str(DEPLOY / "Dockerfile"), env_replace=False)


def instructions(parsed: DockerfileParser, name: str) -> list[dict[str, Any]]:
    """Every ``name`` instruction (``FROM``, ``RUN``…) in file order, as dockerfile-parse's
    ``{"instruction", "value", "startline", ...}``."""
    return [item for item in parsed.structure if item["instruction"] == name]
