"""Exposed resource URIs must stay URIs, whatever the server's (valid) name.

Only1MCP exposes a resource as ``<prefix>+<uri>``: the prefix joins the URI scheme, and a scheme
is ``ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`` (RFC 3986 §3.1). Server names may contain
``_``, so the default prefix may too. A client that validates URIs (FastMCP's does, with
pydantic) then cannot read the resource at all, where it reads it directly.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from e2e.conftest import HttpAggregator, write_config
from mcp import Client

from .servers import SDK_FIXTURE

SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


@pytest.mark.anyio
async def test_exposed_uris_are_uris(tmp_path: Path) -> None:
    server = {"command": sys.executable, "args": [SDK_FIXTURE, "--transport", "stdio"]}
    config = write_config(tmp_path / "only1mcp.yaml", {"under_score": server})
    aggregator = HttpAggregator(config, tmp_path / "only1mcp.log")
    try:
        aggregator.wait_healthy()
        async with Client(aggregator.url, mode="legacy", cache=None) as client:
            uris = [str(r.uri) for r in (await client.list_resources()).resources]
    finally:
        problems = aggregator.stop()
    assert not problems, problems
    assert uris, "the fixture server offers resources"
    invalid = [uri for uri in uris if not SCHEME.match(uri)]
    assert not invalid, f"exposed resource URIs with an invalid scheme: {invalid}"
