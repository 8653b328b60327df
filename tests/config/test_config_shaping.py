"""The shaping and discovery keys: what they build, and what a mistake in them says."""

from __future__ import annotations

import pytest

from only1mcp.config import parse_config
from only1mcp.config.shaping import Discovery, Schemas
from only1mcp.errors import ConfigError

GIT = {"command": "uvx", "args": ["mcp-server-git"]}


def _problem(data: dict[str, object]) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data, "cfg.yaml")
    return str(info.value).removeprefix("cfg.yaml: ")


def test_shaping_keys_build_each_servers_shapes() -> None:
    config = parse_config(
        {
            "schemas": "compact",
            "servers": {
                "git": {
                    **GIT,
                    "tools": {
                        "deny": ["git_reset"],
                        "overrides": {
                            "git_status": {
                                "name": "status",
                                "arguments": {"repo_path": {"value": "/srv/repo"}},
                            }
                        },
                    },
                },
                "time": {"command": "uvx", "args": ["mcp-server-time"], "schemas": "full"},
                "plain": {"command": "x"},
            },
        },
        "cfg.yaml",
    )
    tools = config.shapes("tools")
    assert set(tools) == {"git", "plain"}  # time: full and unfiltered, nothing to shape
    git = tools["git"]
    assert git.compact and git.deny == ("git_reset",)
    assert git.overrides["git_status"].name == "status"
    assert dict(git.overrides["git_status"].fixed) == {"repo_path": "/srv/repo"}
    assert config.servers["time"].schemas is Schemas.FULL
    assert config.discovery.mode is Discovery.FULL


def test_a_null_fixed_value_is_a_fixed_value() -> None:
    config = parse_config(
        {
            "servers": {
                "git": {**GIT, "tools": {"overrides": {"t": {"arguments": {"a": {"value": None}}}}}}
            }
        },
        "cfg.yaml",
    )
    assert dict(config.shapes("tools")["git"].overrides["t"].fixed) == {"a": None}


def test_discovery_shorthand_and_long_form() -> None:
    short = parse_config({"servers": {"git": GIT}, "discovery": "lazy"}, "cfg.yaml")
    assert short.discovery.mode is Discovery.LAZY and short.discovery.limit == 5
    long = parse_config(
        {
            "servers": {"git": GIT},
            "discovery": {"mode": "lazy", "always_visible": ["git__git_status"], "limit": 8},
        },
        "cfg.yaml",
    )
    assert long.discovery.always_visible == ["git__git_status"] and long.discovery.limit == 8


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"servers": {"git": {**GIT, "tools": {"alow": ["*"]}}}}, "servers.git.tools.alow"),
        ({"servers": {"git": {**GIT, "tools": {"deny": [""]}}}}, "use '*' for everything"),
        ({"servers": {"git": {**GIT, "schemas": "tiny"}}}, "servers.git.schemas"),
        ({"servers": {"git": GIT}, "discovery": "eager"}, "discovery.mode"),
        (
            {"servers": {"git": {**GIT, "tools": {"overrides": {"t": {"name": "a b"}}}}}},
            "1-64 characters",
        ),
        (
            {"servers": {"git": {**GIT, "tools": {"overrides": {"t": {"arguments": {"a": {}}}}}}}},
            "give `description` or a fixed `value`",
        ),
        (
            {
                "servers": {
                    "git": {
                        **GIT,
                        "tools": {
                            "overrides": {
                                "t": {"arguments": {"a": {"value": 1, "description": "x"}}}
                            }
                        },
                    }
                }
            },
            "has no description to show",
        ),
    ],
)
def test_mistakes_name_the_key(data: dict[str, object], message: str) -> None:
    assert message in _problem(data)
