"""Validation: each kind of mistake gives one precise, human message with its key path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from only1mcp.config import (
    Config,
    FrontConfig,
    HttpServerConfig,
    StdioServerConfig,
    load_config,
    parse_config,
)
from only1mcp.errors import ConfigError


def load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "cfg.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_config(path, environ={})


def problem(tmp_path: Path, text: str) -> str:
    """The error message without the leading ``<file>: ``."""
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    prefix = f"{tmp_path / 'cfg.yaml'}: "
    message = str(info.value)
    assert message.startswith(prefix)
    return message.removeprefix(prefix)


# --- the kinds of mistakes --------------------------------------------------------------------


def test_missing_required_field(tmp_path: Path) -> None:
    assert problem(tmp_path, "servers: {git: {args: [x]}}") == "servers.git.command: field required"


def test_missing_url_of_an_http_server(tmp_path: Path) -> None:
    text = "servers: {api: {transport: http, headers: {A: b}}}"
    assert problem(tmp_path, text) == "servers.api.url: field required"


def test_missing_servers(tmp_path: Path) -> None:
    assert problem(tmp_path, "log_level: info") == "servers: field required"


def test_wrong_type(tmp_path: Path) -> None:
    assert problem(tmp_path, "servers: {git: {command: x, args: --repo}}") == (
        "servers.git.args: expected a list"
    )


def test_wrong_type_in_a_list_gives_the_index(tmp_path: Path) -> None:
    text = "servers: {git: {command: x, args: [--port, 8080, -v]}}"
    assert problem(tmp_path, text) == (
        "servers.git.args[1]: expected a string (put the value in quotes)"
    )


ONE = "servers: {a: {command: x}}\n"
SEPARATOR_RULE = "must be 1 or more characters of A-Z, a-z, 0-9, '_', '.' and '-'"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("servers: {a: {command: x, timeout: soon}}", "servers.a.timeout: expected a number"),
        ("servers: {a: {command: x, timeout: 0}}", "servers.a.timeout: must be greater than 0"),
        (
            "servers: {a: {command: x, timeout: true}}",
            "servers.a.timeout: expected a number, not true/false",
        ),
        ("servers: {a: {command: x, timeout: .inf}}", "servers.a.timeout: must be a finite number"),
        ("servers: {a: {command: x, enabled: maybe}}", "servers.a.enabled: expected true or false"),
        ("servers: {a: {command: x, env: [A]}}", "servers.a.env: expected a mapping"),
        (
            "servers: {a: {command: x, env: {PORT: 80}}}",
            "servers.a.env.PORT: expected a string (put the value in quotes)",
        ),
        ("servers: {a: {command: ''}}", "servers.a.command: must not be empty"),
        ("servers: {a: {command: '  '}}", "servers.a.command: must not be empty"),
        ("servers: {a: [x]}", "servers.a: expected a mapping"),
        ("servers: [a]", "servers: expected a mapping"),
        (ONE + "front: {port: 70000}", "front.port: must be at most 65535"),
        (ONE + "front: {port: -1}", "front.port: must be at least 0"),
        (ONE + "front: {port: x}", "front.port: expected an integer"),
        (ONE + "front: {port: 80.5}", "front.port: expected a whole number"),
        (ONE + "front: {host: ''}", "front.host: must not be empty"),
        (ONE + "front: 8080", "front: expected a mapping"),
        (ONE + "log_level: verbose", "log_level: must be 'debug', 'info', 'warning' or 'error'"),
        (ONE + "separator: '/'", f"separator: {SEPARATOR_RULE}"),
        (ONE + "separator: ''", f"separator: {SEPARATOR_RULE}"),
    ],
)
def test_wrong_values(tmp_path: Path, text: str, expected: str) -> None:
    assert problem(tmp_path, text) == expected


def test_unknown_key_with_suggestion(tmp_path: Path) -> None:
    assert problem(tmp_path, "servers: {git: {command: x, timout: 5}}") == (
        "servers.git.timout: unknown key; did you mean 'timeout'?"
    )


def test_unknown_key_at_top_and_in_front(tmp_path: Path) -> None:
    text = "servers: {a: {command: x}}\nlog-level: info\nfront: {hots: 0.0.0.0}"
    assert problem(tmp_path, text) == (
        "2 problems\n"
        "  front.hots: unknown key; did you mean 'host'?\n"
        "  log-level: unknown key; did you mean 'log_level'?"
    )


def test_unknown_key_without_suggestion(tmp_path: Path) -> None:
    assert problem(tmp_path, "servers: {a: {command: x, color: red}}") == (
        "servers.a.color: unknown key"
    )


def test_key_of_the_other_transport(tmp_path: Path) -> None:
    assert problem(tmp_path, "servers: {a: {command: x, headers: {A: b}}}") == (
        "servers.a.headers: unknown key; `headers` applies only to http servers"
    )
    assert problem(tmp_path, "servers: {a: {url: 'http://h', env: {A: b}}}") == (
        "servers.a.env: unknown key; `env` applies only to stdio servers"
    )


def test_top_level_typo_reports_both_sides(tmp_path: Path) -> None:
    assert problem(tmp_path, "server: {a: {command: x}}") == (
        "2 problems\n  servers: field required\n  server: unknown key; did you mean 'servers'?"
    )


def test_source_is_not_a_key_of_the_file(tmp_path: Path) -> None:
    assert problem(tmp_path, "servers: {a: {command: x}}\nsource: x") == "source: unknown key"


@pytest.mark.parametrize("name", ["git lab", "a.b", "x" * 65, "ü"])
def test_bad_server_name(tmp_path: Path, name: str) -> None:
    message = problem(tmp_path, f"servers: {{'{name}': {{command: x}}}}")
    assert message.endswith(": bad server name: use 1-64 characters of A-Z, a-z, 0-9, '_' and '-'")


def test_bad_server_name_is_quoted_in_the_key_path(tmp_path: Path) -> None:
    assert problem(tmp_path, "servers: {'git lab': {command: x}}") == (
        "servers[\"git lab\"]: bad server name: use 1-64 characters of A-Z, a-z, 0-9, '_' and '-'"
    )


def test_server_name_that_yaml_reads_as_a_number(tmp_path: Path) -> None:
    assert problem(tmp_path, "servers: {42: {command: x}}") == (
        "servers.42: expected a string (put the value in quotes)"
    )


def test_good_server_names(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        f"servers: {{a: {{command: x}}, My_Srv-2: {{command: x}}, {'n' * 64}: {{command: x}}}}",
    )
    assert list(config.servers) == ["a", "My_Srv-2", "n" * 64]  # fmt: skip


def test_empty_servers(tmp_path: Path) -> None:
    assert problem(tmp_path, "servers: {}") == "servers: at least one server is required"


def test_null_servers(tmp_path: Path) -> None:
    assert problem(tmp_path, "servers:\n") == "servers: expected a mapping"


# --- prefixes ---------------------------------------------------------------------------------


def test_duplicate_prefix_names_both_servers(tmp_path: Path) -> None:
    text = "servers: {a: {command: x, prefix: p}, b: {command: y, prefix: p}}"
    assert problem(tmp_path, text) == (
        "servers.b.prefix: same prefix as server 'a'; give one of them another `prefix`"
    )


def test_prefixes_making_the_same_uri_scheme(tmp_path: Path) -> None:
    text = "servers: {a_b: {command: x}, a-b: {command: y}}"
    assert problem(tmp_path, text) == (
        "servers.a-b: its resource URIs would start 'a-b+' like server 'a_b''s ('_' becomes "
        "'-' in a URI scheme); give one of them another `prefix`"
    )


def test_prefix_colliding_with_another_servers_name(tmp_path: Path) -> None:
    text = "servers: {git: {command: x}, vcs: {command: y, prefix: git}}"
    assert problem(tmp_path, text) == (
        "servers.vcs.prefix: same prefix as server 'git'; give one of them another `prefix`"
    )
    text = "servers: {vcs: {command: y, prefix: git}, git: {command: x}}"
    assert problem(tmp_path, text) == (
        "servers.git: same prefix as server 'vcs'; give one of them another `prefix`"
    )


def test_duplicate_prefix_is_fine_when_one_server_is_disabled_or_empty(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        servers:
          a: {command: x, prefix: p}
          b: {command: y, prefix: p, enabled: false}
          c: {command: z, prefix: ""}
          d: {command: z, prefix: ""}
        """,
    )
    assert list(config.enabled_servers()) == ["a", "c", "d"]
    assert [config.exposed_prefix(name) for name in config.servers] == ["p", "p", "", ""]


@pytest.mark.parametrize("prefix", ["a b", "a.b", "x" * 65])
def test_bad_prefix(tmp_path: Path, prefix: str) -> None:
    assert problem(tmp_path, f"servers: {{a: {{command: x, prefix: '{prefix}'}}}}") == (
        "servers.a.prefix: must be \"\" or 1-64 characters of A-Z, a-z, 0-9, '_' and '-'"
    )


def test_exposed_prefix_defaults_to_the_name(tmp_path: Path) -> None:
    config = load(tmp_path, "servers: {git: {command: x}, t: {command: y, prefix: time}}")
    assert config.exposed_prefix("git") == "git"
    assert config.exposed_prefix("t") == "time"


# --- transports -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ftp://example.com/mcp", "must be an http:// or https:// URL"),
        ("example.com/mcp", "must be an http:// or https:// URL"),
        ("http:///mcp", "URL has no host"),
        ("http://example.com:99999/mcp", "not a valid URL (bad host or port)"),
        ("http://[::1/mcp", "not a valid URL (bad host or port)"),
        ("http://example.com/m cp", "URL must not contain spaces"),
    ],
)
def test_bad_url(tmp_path: Path, url: str, expected: str) -> None:
    assert (
        problem(tmp_path, f"servers: {{api: {{url: '{url}'}}}}") == f"servers.api.url: {expected}"
    )


@pytest.mark.parametrize("key", ["transport", "type"])
def test_sse_transport_is_an_http_server_of_its_own_kind(tmp_path: Path, key: str) -> None:
    server = load(tmp_path, f"servers: {{api: {{url: 'http://h/sse', {key}: sse}}}}").servers["api"]
    assert isinstance(server, HttpServerConfig)
    assert (server.transport, server.url) == ("sse", "http://h/sse")
    assert load(tmp_path, "servers: {api: {url: 'http://h'}}").servers["api"].transport == "http"


def test_sse_transport_needs_a_url(tmp_path: Path) -> None:
    assert problem(tmp_path, "servers: {a: {transport: sse, command: x}}") == (
        "2 problems\n"
        "  servers.a.url: field required\n"
        "  servers.a.command: unknown key; `command` applies only to stdio servers"
    )


def test_unknown_transport(tmp_path: Path) -> None:
    assert problem(tmp_path, "servers: {api: {url: 'http://h', type: websocket}}") == (
        "servers.api.type: unknown transport; use 'stdio', 'http' or 'sse' "
        "('streamable-http' and 'streamableHttp' also mean http)"
    )


def test_transport_and_type_together(tmp_path: Path) -> None:
    assert problem(tmp_path, "servers: {a: {command: x, type: stdio, transport: stdio}}") == (
        "servers.a.type: give `transport` or its alias `type`, not both"
    )


def test_command_and_url_together(tmp_path: Path) -> None:
    assert problem(tmp_path, "servers: {a: {command: x, url: 'http://h'}}") == (
        "servers.a: a server has `command` (stdio) or `url` (http), not both"
    )


def test_explicit_transport_contradicting_the_keys(tmp_path: Path) -> None:
    assert problem(tmp_path, "servers: {a: {transport: http, command: x}}") == (
        "2 problems\n"
        "  servers.a.url: field required\n"
        "  servers.a.command: unknown key; `command` applies only to stdio servers"
    )


@pytest.mark.parametrize(
    ("entry", "kind"),
    [
        ("{command: x}", StdioServerConfig),
        ("{command: x, type: stdio}", StdioServerConfig),
        ("{command: x, transport: stdio}", StdioServerConfig),
        ("{url: 'http://h'}", HttpServerConfig),
        ("{url: 'http://h', type: http}", HttpServerConfig),
        ("{url: 'http://h', type: streamable-http}", HttpServerConfig),
        ("{url: 'http://h', type: streamableHttp}", HttpServerConfig),
        ("{url: 'https://h:8443/mcp', transport: http}", HttpServerConfig),
    ],
)
def test_transport_inferred_or_aliased(tmp_path: Path, entry: str, kind: type) -> None:
    server = load(tmp_path, f"servers: {{a: {entry}}}").servers["a"]
    assert type(server) is kind
    assert server.transport == ("stdio" if kind is StdioServerConfig else "http")


# --- several problems -------------------------------------------------------------------------


def test_several_problems_make_one_error(tmp_path: Path) -> None:
    text = """
        servers:
          git: {args: [x]}
          api: {url: 'ftp://h', timeout: -1}
        front: {port: 70000}
    """
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    assert info.value.key == ""
    assert info.value.problem == (
        "4 problems\n"
        "  servers.git.command: field required\n"
        "  servers.api.url: must be an http:// or https:// URL\n"
        "  servers.api.timeout: must be greater than 0\n"
        "  front.port: must be at most 65535"
    )


def test_messages_carry_no_pydantic_noise(tmp_path: Path) -> None:
    message = problem(tmp_path, "servers: {git: {args: 3, timeout: x, color: 1}}")
    for noise in ("pydantic", "http://errors", "input_value", "Input should", "stdio."):
        assert noise not in message


# --- the model API ----------------------------------------------------------------------------


def test_defaults() -> None:
    config = Config.model_validate({"servers": {"a": {"command": "x"}}})
    assert config.separator == "__"
    assert config.log_level == "info"
    assert config.front == FrontConfig()
    assert (config.front.host, config.front.port, config.front.allowed_origins) == (
        "127.0.0.1",
        8765,
        [],
    )
    assert config.source == ""
    server = config.servers["a"]
    assert server == StdioServerConfig(command="x")
    assert (server.args, server.env, server.cwd, server.prefix) == ([], {}, None, None)
    assert (server.enabled, server.timeout) == (True, 30.0)


def test_enabled_servers_keeps_file_order(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "servers: {z: {command: x}, a: {command: x, enabled: false}, m: {url: 'http://h'}}",
    )
    assert list(config.enabled_servers()) == ["z", "m"]
    assert list(config.servers) == ["z", "a", "m"]


def test_server_configs_are_frozen() -> None:
    server = StdioServerConfig(command="x")
    with pytest.raises(ValidationError):
        server.command = "y"


def test_server_models_can_be_used_directly() -> None:
    config = Config(
        servers={"a": StdioServerConfig(command="x"), "b": HttpServerConfig(url="http://h")}
    )
    assert config.exposed_prefix("b") == "b"  # fmt: skip
    with pytest.raises(ValidationError):
        HttpServerConfig(url="nope")


def test_source_is_excluded_from_dumps(tmp_path: Path) -> None:
    config = load(tmp_path, "servers: {a: {command: x}}")
    assert config.source.endswith("cfg.yaml")
    assert "source" not in config.model_dump()
    assert '"source"' not in config.model_dump_json()


def test_dump_round_trips() -> None:
    config = parse_config({"servers": {"a": {"url": "http://h", "type": "streamable-http"}}}, "x")
    assert parse_config(config.model_dump(), "y") == config


def test_log_level_is_case_insensitive(tmp_path: Path) -> None:
    assert load(tmp_path, "servers: {a: {command: x}}\nlog_level: WARNING").log_level == "warning"


def test_strings_from_the_environment_fill_numbers_and_booleans(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        servers: {a: {command: x, timeout: "2.5", enabled: "false"}}
        front: {port: "0"}
        """,
    )
    assert (config.servers["a"].timeout, config.servers["a"].enabled) == (2.5, False)
    assert config.front.port == 0


@pytest.mark.parametrize(
    "origin", ["https://app.example.com", "http://localhost:3000", "vscode-webview://abc"]
)
def test_good_origins(tmp_path: Path, origin: str) -> None:
    config = load(
        tmp_path, f"servers: {{a: {{command: x}}}}\nfront: {{allowed_origins: ['{origin}']}}"
    )
    assert config.front.allowed_origins == [origin]  # fmt: skip


@pytest.mark.parametrize(
    "origin", ["https://app.example.com/", "app.example.com", "https://a.com/x", "*", "https://u@a.com"]
)  # fmt: skip
def test_bad_origins(tmp_path: Path, origin: str) -> None:
    text = f"servers: {{a: {{command: x}}}}\nfront: {{allowed_origins: [ok.invalid, '{origin}']}}"
    message = problem(tmp_path, text)
    assert message.startswith("2 problems\n  front.allowed_origins[0]: ")
    assert message.endswith(
        "\n  front.allowed_origins[1]: an Origin is scheme://host[:port] with no path, "
        "e.g. 'https://app.example.com'"
    )


def test_public_names() -> None:
    import only1mcp.config

    assert sorted(only1mcp.config.__all__) == sorted(
        [
            "EXTENSIONS",
            "Config",
            "FrontConfig",
            "HttpServerConfig",
            "Isolation",
            "PoolServerConfig",
            "Protocol",
            "Retry",
            "ServerConfig",
            "Strategy",
            "StdioServerConfig",
            "load_config",
            "parse_config",
            "redacted",
        ]
    )


def test_parse_config_accepts_any_mapping() -> None:
    from types import MappingProxyType

    config = parse_config(MappingProxyType({"servers": {"a": {"command": "x"}}}), "mem")
    assert config.source == "mem"


@pytest.mark.parametrize(
    ("data", "problem_"),
    [
        (None, "the configuration is empty"),
        ([1], "expected a mapping at the top level, with a `servers` key"),
    ],
)
def test_parse_config_needs_a_mapping(data: object, problem_: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data, "mem")
    assert str(info.value) == f"mem: {problem_}"


def test_isolation_is_a_named_policy(tmp_path: Path) -> None:
    from only1mcp.config import Isolation, load_config

    path = tmp_path / "c.yaml"
    path.write_text(
        "servers:\n  a: {command: x, isolation: session}\n  b: {url: 'http://h/mcp'}\n"
        "  c: {command: y, isolation: call}\n"
    )
    config = load_config(path)
    assert config.servers["a"].isolation is Isolation.SESSION
    assert config.servers["b"].isolation is Isolation.SHARED
    assert config.servers["c"].isolation is Isolation.CALL
    path.write_text("servers:\n  a: {command: x, isolation: always}\n")
    with pytest.raises(ConfigError, match=r"servers\.a\.isolation"):
        load_config(path)


def test_protocol_is_a_named_policy(tmp_path: Path) -> None:
    from only1mcp.config import Protocol, load_config

    path = tmp_path / "c.yaml"
    path.write_text(
        "servers:\n  a: {command: x, protocol: handshake}\n"
        "  b: {url: 'http://h/mcp', protocol: '2026-07-28'}\n  c: {command: y}\n"
    )
    config = load_config(path)
    assert config.servers["a"].protocol is Protocol.HANDSHAKE
    assert config.servers["b"].protocol is Protocol.STATELESS
    assert config.servers["c"].protocol is Protocol.AUTO
    path.write_text("servers:\n  a: {command: x, protocol: 2025-11-25}\n")
    with pytest.raises(ConfigError, match=r"servers\.a\.protocol"):
        load_config(path)
