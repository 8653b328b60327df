"""The ``admin:`` section: defaults, and no open admin listener off loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from only1mcp.config import Config, load_config
from only1mcp.config.auth import hash_key
from only1mcp.errors import ConfigError

SERVERS = "servers: {a: {command: x}}\n"
KEY = hash_key("ops-key-0123456789abcdef")


def load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "only1mcp.yaml"
    path.write_text(SERVERS + text)
    return load_config(path)


def test_defaults_enabled_on_loopback(tmp_path: Path) -> None:
    config = load(tmp_path, "")
    assert (config.admin.enabled, config.admin.host, config.admin.port) == (
        True,
        "127.0.0.1",
        8766,
    )
    assert config.admin.roles == ["admin"]
    assert config.admin_auth is config.auth


def test_a_non_loopback_admin_listener_needs_authentication(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, "admin: {host: 0.0.0.0}\n")
    message = str(caught.value)
    assert "admin.host" in message and "needs authentication" in message
    assert str(tmp_path / "only1mcp.yaml") in message


def test_with_auth_or_admin_auth_it_may_bind_anywhere(tmp_path: Path) -> None:
    keys = f"{{modes: [api_key], api_keys: [{{name: ops, hash: '{KEY}', roles: [admin]}}]}}"
    roles = "access: {roles: {admin: {}}}\n"
    assert load(tmp_path, f"{roles}auth: {keys}\nadmin: {{host: 0.0.0.0}}\n")
    config = load(tmp_path, f"{roles}admin: {{host: 0.0.0.0, auth: {keys}}}\n")
    assert config.admin_auth.enabled and not config.auth.enabled


def test_a_disabled_admin_listener_may_name_any_host(tmp_path: Path) -> None:
    assert load(tmp_path, "admin: {enabled: false, host: 0.0.0.0}\n")


@pytest.mark.parametrize("port", ["true", "-1", "70000"])
def test_bad_ports_are_refused(tmp_path: Path, port: str) -> None:
    with pytest.raises(ConfigError, match=r"admin\.port"):
        load(tmp_path, f"admin: {{port: {port}}}\n")
