"""``${VAR}`` interpolation in string values."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest

from only1mcp.config import Config, StdioServerConfig, load_config, parse_config
from only1mcp.errors import ConfigError

ENV = {"HOME": "/home/me", "TOKEN": "t0k3n", "EMPTY": "", "PORT": "9100"}


def load(tmp_path: Path, text: str, environ: Mapping[str, str] = ENV) -> Config:
    path = tmp_path / "cfg.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_config(path, environ=environ)


def expand(value: str, environ: Mapping[str, str] = ENV) -> str:
    config = parse_config({"servers": {"a": {"command": "x", "args": [value]}}}, "t", environ)
    return config.servers["a"].args[0]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("${HOME}", "/home/me"),
        ("${HOME}/repo", "/home/me/repo"),
        ("--dir=${HOME}/a:${HOME}/b", "--dir=/home/me/a:/home/me/b"),
        ("${MISSING:-fallback}", "fallback"),
        ("${MISSING:-}", ""),
        ("${MISSING:-a b:c-d}", "a b:c-d"),
        ("${HOME:-unused}", "/home/me"),
        ("${EMPTY:-used when empty}", "used when empty"),
        ("${EMPTY}", ""),
        ("${env:HOME}", "/home/me"),
        ("${env:MISSING:-d}", "d"),
        ("$$", "$"),
        ("$${HOME}", "${HOME}"),
        ("price: $$5", "price: $5"),
        ("$$$${HOME}", "$${HOME}"),
        ("$$${HOME}", "$/home/me"),
        ("$HOME stays", "$HOME stays"),
        ("trailing $", "trailing $"),
        ("no dollar at all", "no dollar at all"),
    ],
)
def test_expansion(value: str, expected: str) -> None:
    assert expand(value) == expected


def test_every_string_value_is_interpolated(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        servers:
          git:
            command: ${HOME}/bin/mcp-server-git
            args: ["--repository", "${HOME}/src"]
            env: {GITHUB_TOKEN: "${TOKEN}"}
            cwd: ${HOME}
            prefix: ${PREFIX:-vcs}
          api:
            url: https://mcp.example.com/${TOKEN}
            headers: {Authorization: "Bearer ${TOKEN}"}
        front:
          host: ${HOST:-127.0.0.1}
          port: ${PORT}
        log_level: ${LOG_LEVEL:-debug}
        """,
    )
    assert config.servers["git"] == StdioServerConfig(
        command="/home/me/bin/mcp-server-git",
        args=["--repository", "/home/me/src"],
        env={"GITHUB_TOKEN": "t0k3n"},
        cwd="/home/me",
        prefix="vcs",
    )
    api = config.servers["api"]
    assert api.url == "https://mcp.example.com/t0k3n"  # type: ignore[union-attr]
    assert api.headers == {"Authorization": "Bearer t0k3n"}  # type: ignore[union-attr]
    assert (config.front.host, config.front.port, config.log_level) == ("127.0.0.1", 9100, "debug")


def test_keys_are_not_interpolated(tmp_path: Path) -> None:
    config = load(tmp_path, "servers: {a: {command: x, env: {'${TOKEN}': v}}}")
    assert config.servers["a"].env == {"${TOKEN}": "v"}  # type: ignore[union-attr]


def test_non_strings_are_left_alone(tmp_path: Path) -> None:
    config = load(tmp_path, "servers: {a: {command: x, timeout: 5, enabled: true}}")
    assert (config.servers["a"].timeout, config.servers["a"].enabled) == (5.0, True)


def test_missing_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, "servers: {gh: {command: x, env: {GITHUB_TOKEN: '${GH_TOKEN}'}}}")
    assert info.value.key == "servers.gh.env.GITHUB_TOKEN"
    assert info.value.problem == (
        "environment variable 'GH_TOKEN' is not set (use ${GH_TOKEN:-default} for a default)"
    )


def test_missing_variables_are_all_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, "servers: {a: {command: '${A}', args: ['${B}${C:-ok}', '${D}']}}")
    assert info.value.problem == (
        "3 problems\n"
        "  servers.a.command: environment variable 'A' is not set "
        "(use ${A:-default} for a default)\n"
        "  servers.a.args[0]: environment variable 'B' is not set "
        "(use ${B:-default} for a default)\n"
        "  servers.a.args[1]: environment variable 'D' is not set "
        "(use ${D:-default} for a default)"
    )


def test_interpolated_value_is_then_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, "servers: {a: {url: '${API_URL:-ftp://h}'}}")
    assert str(info.value).endswith("cfg.yaml: servers.a.url: must be an http:// or https:// URL")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("${UNCLOSED", "unclosed '${' (write $$ for a literal $)"),
        (
            "${1BAD}",
            "bad variable reference '${1BAD...}': write ${NAME} or ${NAME:-default} with NAME "
            "of letters, digits and '_' (and $$ for a literal $)",
        ),
        (
            "${A-B:-x}",
            "bad variable reference '${A-B...}': write ${NAME} or ${NAME:-default} with NAME "
            "of letters, digits and '_' (and $$ for a literal $)",
        ),
    ],
)
def test_bad_references(value: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        expand(value)
    assert (info.value.key, info.value.problem) == ("servers.a.args[0]", problem)


def test_os_environ_is_the_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ONLY1MCP_TEST_CMD", "from-os-environ")
    path = tmp_path / "cfg.yaml"
    path.write_text("servers: {a: {command: '${ONLY1MCP_TEST_CMD}'}}", encoding="utf-8")
    assert load_config(path).servers["a"].command == "from-os-environ"  # type: ignore[union-attr]
