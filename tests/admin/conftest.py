"""A real ``only1mcp start`` with its admin listener, for the admin API, OpenAPI and dashboard
tests: the fixture server over stdio (``fx``), over Streamable HTTP (``web``), and a pool of
two stdio replicas (``pl``)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from e2e.conftest import (
    FIXTURE_SERVER,
    HttpAggregator,
    free_port,
    fx_stdio_server,
    web_server,
)

__all__ = ["web_server"]  # the fixture server over HTTP, shared with the e2e tests

#: A secret the config passes to a backend's environment: GET /api/config must not show it.
SECRET = "s3cr3t-value-never-shown"


def pool_server() -> dict[str, Any]:
    replica = {
        "command": sys.executable,
        "args": [str(FIXTURE_SERVER), "--transport", "stdio", "--name", "pl"],
    }
    return {"replicas": [replica, replica], "prefix": "pl", "timeout": 10}


def admin_servers(web_url: str) -> dict[str, dict[str, Any]]:
    fx = fx_stdio_server()
    fx["env"] = {**fx["env"], "FIXTURE_TOKEN": SECRET}
    return {"fx": fx, "web": {"url": web_url, "prefix": "web", "timeout": 20}, "pl": pool_server()}


@dataclass
class AdminAggregator:
    agg: HttpAggregator
    admin: str  # the admin listener's base URL
    config: Path

    def client(self, **options: Any) -> httpx.Client:
        return httpx.Client(base_url=self.admin, timeout=30, **options)


@contextlib.contextmanager
def admin_aggregator(
    workdir: Path,
    web_url: str,
    admin: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Iterator[AdminAggregator]:
    """``only1mcp start`` with the admin listener on a free port (``admin``: more keys of the
    ``admin:`` section, ``extra``: other top-level sections); stopped cleanly on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    document = {
        "servers": admin_servers(web_url),
        "admin": {"port": port, **(admin or {})},
        **(extra or {}),
    }
    config = workdir / "only1mcp.yaml"
    config.write_text(yaml.safe_dump(document, sort_keys=False))
    with HttpAggregator(config, workdir / "only1mcp.log").healthy() as agg:
        yield AdminAggregator(agg, f"http://127.0.0.1:{port}", config)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, web_server: str) -> Iterator[AdminAggregator]:
    """One aggregator with its admin listener per test module."""
    with admin_aggregator(tmp_path_factory.mktemp("admin"), web_server) as running:
        yield running
