"""A stdio server's process: the environment it inherits (an allow-list) and its rlimits,
seen from inside real child processes."""

from __future__ import annotations

import resource
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from only1mcp.backends.child import DEFAULT_INHERIT, child_env
from only1mcp.backends.stdio import StdioBackend
from only1mcp.config import StdioServerConfig
from only1mcp.config.loader import parse_config
from only1mcp.errors import ConfigError

ENV_SERVER = str(Path(__file__).resolve().parents[1] / "fixtures" / "env_server.py")
pytestmark = pytest.mark.anyio


async def _report(tool: str, arguments: dict[str, Any] | None = None, **options: Any) -> Any:
    config = StdioServerConfig(command=sys.executable, args=[ENV_SERVER], **options)
    backend = StdioBackend("env", config)
    await backend.start()
    try:
        result = await backend.call("tools/call", {"name": tool, "arguments": arguments or {}})
    finally:
        await backend.close()
    assert isinstance(result, dict)
    return orjson.loads(result["content"][0]["text"])


async def test_the_gateways_secrets_stay_home_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_gateway_secret")
    monkeypatch.setenv("LC_TIME", "C")
    monkeypatch.setenv("HOME", "/home/somebody")
    env = await _report("env", env={"SERVER_KEY": "given"})
    assert "GITHUB_TOKEN" not in env
    assert env["SERVER_KEY"] == "given"  # `env:` entries always pass
    assert env["HOME"] == "/home/somebody" and env["LC_TIME"] == "C"
    assert "PATH" in env


async def test_env_inherit_names_exactly_what_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_listed")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not listed")
    env = await _report("env", env_inherit=["GITHUB_TOKEN", "AWS_REGION"])
    assert env["GITHUB_TOKEN"] == "ghp_listed" and env["AWS_REGION"] == "eu-west-1"
    assert "AWS_SECRET_ACCESS_KEY" not in env and "HOME" not in env and "PATH" not in env


def test_prefixes_and_everything() -> None:
    environ = {"LC_ALL": "C", "LCX": "no", "SECRET": "s", "PATH": "/bin"}
    config = StdioServerConfig(command="x", env_inherit=["LC_*"], env={"A": "1"})
    assert child_env(config, environ) == {"LC_ALL": "C", "A": "1"}
    everything = StdioServerConfig(command="x", env_inherit=["*"])
    assert child_env(everything, environ) == environ
    assert "PATH" in DEFAULT_INHERIT and "HOME" in DEFAULT_INHERIT


async def test_rlimits_are_set_in_the_child_only() -> None:
    ours = resource.getrlimit(resource.RLIMIT_NOFILE)
    limits = await _report(
        "limits", rlimits={"cpu_seconds": 600, "open_files": 64, "address_space_mb": 4096}
    )
    assert limits["cpu"] == [600, 600]
    assert limits["nofile"] == [64, 64]
    assert limits["as"] == [4096 * 2**20, 4096 * 2**20]
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == ours  # the aggregator is untouched


async def test_the_open_files_limit_holds() -> None:
    opened = await _report("open_files", {"n": 200}, rlimits={"open_files": 32})
    assert 0 < opened < 32  # stdin, stdout, stderr and the interpreter's own take some


async def test_without_rlimits_the_child_has_the_aggregators_limits() -> None:
    limits = await _report("limits")
    assert limits["nofile"] == list(resource.getrlimit(resource.RLIMIT_NOFILE))


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"env_inherit": ["GOOD", "bad-name"]}, "env_inherit"),
        ({"rlimits": {"cpu_seconds": 0}}, "cpu_seconds"),
        ({"rlimits": {"stack_mb": 8}}, "stack_mb"),
    ],
)
def test_bad_child_settings_name_the_key(entry: dict[str, Any], problem: str) -> None:
    data = {"servers": {"s": {"command": "x", **entry}}}
    with pytest.raises(ConfigError) as info:
        parse_config(data, "only1mcp.yaml")
    assert problem in str(info.value)
