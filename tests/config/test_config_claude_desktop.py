"""The Claude Desktop / Cursor ``mcpServers`` format is accepted unchanged."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from only1mcp.config import Config, HttpServerConfig, StdioServerConfig, load_config, parse_config
from only1mcp.errors import ConfigError

CLAUDE_DESKTOP_ARGS = ["-y", "@modelcontextprotocol/server-filesystem", "/Users/me/Desktop"]
CLAUDE_DESKTOP = {
    "globalShortcut": "Ctrl+Space",
    "mcpServers": {
        "filesystem": {
            "command": "npx",
            "args": CLAUDE_DESKTOP_ARGS,
        },
        "github": {
            "command": "docker",
            "args": ["run", "-i", "--rm", "-e", "GITHUB_PERSONAL_ACCESS_TOKEN", "ghcr.io/github/x"],
            "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_secret"},
            "cwd": "/tmp",
            "autoApprove": ["get_me"],
            "alwaysAllow": [],
            "timeout": 60000,
        },
        "remote": {"url": "https://mcp.example.com/mcp", "headers": {"X-Key": "k"}},
        "typed": {"type": "streamable-http", "url": "https://h.example/mcp"},
        "off": {"command": "old-server", "disabled": True},
    },
    "preferences": {"menuBarEnabled": False},
}


def write_json(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "claude_desktop_config.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_claude_desktop_file_loads_unchanged(tmp_path: Path) -> None:
    config = load_config(write_json(tmp_path, CLAUDE_DESKTOP), environ={})
    assert list(config.servers) == ["filesystem", "github", "remote", "typed", "off"]
    assert config.servers["filesystem"] == StdioServerConfig(
        command="npx", args=CLAUDE_DESKTOP_ARGS
    )
    github = config.servers["github"]
    assert isinstance(github, StdioServerConfig)
    assert github.env == {"GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_secret"}
    assert (github.cwd, github.timeout) == ("/tmp", 30.0)  # a timeout there is ignored
    assert config.servers["remote"] == HttpServerConfig(
        url="https://mcp.example.com/mcp", headers={"X-Key": "k"}
    )
    assert config.servers["typed"] == HttpServerConfig(url="https://h.example/mcp")
    assert config.servers["off"].enabled is False
    assert list(config.enabled_servers()) == ["filesystem", "github", "remote", "typed"]
    native = {
        "servers": {
            "filesystem": {"command": "npx", "args": CLAUDE_DESKTOP_ARGS},
            "github": github.model_dump(),
            "remote": {"url": "https://mcp.example.com/mcp", "headers": {"X-Key": "k"}},
            "typed": {"url": "https://h.example/mcp"},
            "off": {"command": "old-server", "enabled": False},
        }
    }
    assert config == Config.model_validate(native)


def test_ignored_per_server_keys_are_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_json(tmp_path, CLAUDE_DESKTOP)
    with caplog.at_level(logging.WARNING, logger="only1mcp.config"):
        load_config(path, environ={})
    messages = sorted(record.getMessage() for record in caplog.records)
    assert messages == [
        f"{path}: mcpServers.github.{key}: ignored (not used by Only1MCP)"
        for key in ("alwaysAllow", "autoApprove", "timeout")
    ]
    assert all(record.name == "only1mcp.config" for record in caplog.records)


def test_claude_format_in_yaml_too(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("mcpServers:\n  time: {command: mcp-server-time}\n", encoding="utf-8")
    assert load_config(path, environ={}).servers["time"] == StdioServerConfig(
        command="mcp-server-time"
    )


def test_sse_type_is_a_legacy_sse_server() -> None:
    data = {"mcpServers": {"old": {"type": "sse", "url": "http://127.0.0.1:3001/sse"}}}
    server = parse_config(data, "c.json", {}).servers["old"]
    assert server == HttpServerConfig(url="http://127.0.0.1:3001/sse", transport="sse")


def test_errors_use_the_mcp_servers_key_path(tmp_path: Path) -> None:
    data = {"mcpServers": {"git": {"args": ["x"]}, "web": {"url": "ftp://h", "type": "sse"}}}
    with pytest.raises(ConfigError) as info:
        load_config(write_json(tmp_path, data), environ={})
    assert info.value.problem == (
        "2 problems\n"
        "  mcpServers.git.command: field required\n"
        "  mcpServers.web.url: must be an http:// or https:// URL"
    )


def test_interpolation_errors_use_the_mcp_servers_key_path() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"mcpServers": {"a": {"command": "${NOPE}"}}}, "c.json", {})
    assert info.value.key == "mcpServers.a.command"


def test_ignored_top_level_keys_are_not_interpolated() -> None:
    data = {"mcpServers": {"a": {"command": "x"}}, "other": "${NOT_SET}"}
    assert parse_config(data, "c.json", {}).servers["a"].transport == "stdio"


def test_disabled_must_be_a_boolean() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"mcpServers": {"a": {"command": "x", "disabled": "yes"}}}, "c.json", {})
    assert str(info.value) == "c.json: mcpServers.a.disabled: expected true or false"


def test_servers_and_mcp_servers_together(tmp_path: Path) -> None:
    data = {"servers": {"a": {"command": "x"}}, "mcpServers": {"b": {"command": "y"}}}
    path = write_json(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert str(info.value) == (
        f"{path}: both `servers` and `mcpServers` are present; use only one of them"
    )


def test_empty_mcp_servers() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"mcpServers": {}}, "c.json", {})
    assert str(info.value) == "c.json: mcpServers: at least one server is required"


def test_bad_entry_shape() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"mcpServers": {"a": "npx foo"}}, "c.json", {})
    assert str(info.value) == "c.json: mcpServers.a: expected a mapping"
