"""Every complete config snippet of docs/security.md is a valid configuration."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from only1mcp.config import parse_config

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"
ENV = {
    "CI_API_KEY": "ci-key-0123456789abcdef",
    "JWT_SECRET": "x" * 40,
    "INTROSPECTION_SECRET": "introspection-secret",
    "SEARCH_TOKEN": "search-token",
    "SEARCH_CLIENT_SECRET": "search-client-secret",
}
SNIPPETS = [
    block
    for block in re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.DOTALL)
    if block.startswith("servers:")
]


def test_the_doc_has_snippets() -> None:
    assert len(SNIPPETS) >= 5


@pytest.mark.parametrize("snippet", SNIPPETS, ids=range(len(SNIPPETS)))
def test_a_snippet_is_a_valid_config(snippet: str) -> None:
    config = parse_config(yaml.safe_load(snippet), str(DOC), ENV)
    assert config.auth.enabled or config.servers
