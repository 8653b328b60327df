"""Secrets (env and header values, interpolated values) never reach messages or dumps."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from only1mcp.config import Config, load_config, parse_config, redacted
from only1mcp.errors import ConfigError

SECRET = "s3cr3t-Value-42"
ENV = {"SECRET": SECRET, "USER_PW": SECRET}


def load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "cfg.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_config(path, environ=ENV)


GOOD = """
    servers:
      gh:
        command: github-mcp
        args: ["--token=${SECRET}", "--verbose"]
        env: {GITHUB_TOKEN: "${SECRET}", PLAIN: literal-env-value}
      api:
        url: "https://bot:${USER_PW}@mcp.example.com/mcp?key=${SECRET}&v=1"
        headers: {Authorization: "Bearer ${SECRET}", X-Plain: literal-header-value}
"""


def test_redacted_masks_env_headers_and_interpolations(tmp_path: Path) -> None:
    config = load(tmp_path, GOOD)
    dump = redacted(config)
    text = json.dumps(dump)
    for leaked in (SECRET, "literal-env-value", "literal-header-value"):
        assert leaked not in text
    gh, api = dump["servers"]["gh"], dump["servers"]["api"]
    assert gh["env"] == {"GITHUB_TOKEN": "***", "PLAIN": "***"}
    assert gh["args"] == ["--token=***", "--verbose"]
    assert gh["command"] == "github-mcp"
    assert api["headers"] == {"Authorization": "***", "X-Plain": "***"}
    assert api["url"] == "https://bot:***@mcp.example.com/mcp?key=***&v=1"
    assert "source" not in dump


def test_redacted_does_not_touch_the_config(tmp_path: Path) -> None:
    config = load(tmp_path, GOOD)
    redacted(config)
    assert config.servers["gh"].env["GITHUB_TOKEN"] == SECRET  # type: ignore[union-attr]


def test_redacted_masks_literal_url_passwords() -> None:
    config = parse_config({"servers": {"a": {"url": "http://u:pw@h:81/x"}}}, "t", {})
    assert redacted(config)["servers"]["a"]["url"] == "http://u:***@h:81/x"


def test_redacted_is_json_ready_and_keeps_the_rest(tmp_path: Path) -> None:
    config = load(tmp_path, "servers: {a: {command: x, args: [plain], prefix: p}}")
    assert redacted(config) == json.loads(json.dumps(config.model_dump(mode="json")))


def test_repr_hides_env_and_header_values(tmp_path: Path) -> None:
    config = load(tmp_path, GOOD)
    for server in config.servers.values():
        assert "literal-env-value" not in repr(server)
        assert "literal-header-value" not in str(server)
    assert "GITHUB_TOKEN" in repr(config.servers["gh"])


@pytest.mark.parametrize(
    "text",
    [
        # a wrong type right next to a secret
        "servers: {gh: {command: x, env: {TOKEN: '${SECRET}', BAD: 5}}}",
        # a secret where a string is fine but the server is broken
        "servers: {gh: {args: ['${SECRET}'], env: {TOKEN: '${SECRET}'}}}",
        # a secret in a value that fails validation itself
        "servers: {gh: {command: x, timeout: '${SECRET}'}}",
        "servers: {api: {url: 'ftp://${SECRET}@h', headers: {A: '${SECRET}'}}}",
        "servers: {api: {url: 'http://h', headers: {A: ['${SECRET}']}}}",
        "servers: {api: {url: 'http://h', type: '${SECRET}'}}",
        "servers: {a: {command: x, prefix: '${SECRET}'}, b: {command: y, prefix: '${SECRET}'}}",
        "servers: {api: {url: 'http://h', prefix: '${SECRET}/'}}",
        "servers: {api: {url: 'http://h', enabled: '${SECRET}'}}",
        "servers: {gh: {command: x}}\nfront: {port: '${SECRET}', allowed_origins: ['${SECRET}']}",
        "servers: {gh: {command: x}}\nlog_level: '${SECRET}'\nseparator: '${SECRET}/'",
        "servers: {gh: {command: x, ${SECRET}: 1}}",
        "servers: {gh: {command: '${SECRET}', bogus: '${SECRET}'}}",
        f"servers: {{gh: {{command: x, env: {{A: '{SECRET}'}}, color: '{SECRET}'}}}}",
        # a missing variable in the same string as a secret
        "servers: {gh: {command: x, args: ['${SECRET}${NOT_SET}']}}",
        # a syntax error on the line of a secret
        f"servers: {{gh: {{command: x, env: {{A: {SECRET}: b}}}}}}",
    ],
)
def test_error_messages_never_contain_a_secret(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    assert SECRET not in str(info.value)
    # No chained pydantic or YAML exception, whose text may quote the file, rides along.
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__


def test_state_keys_are_secrets_and_must_be_long(tmp_path: Path) -> None:
    config = load(tmp_path, GOOD + '    front: {state_keys: ["${SECRET}-and-more"]}\n')
    assert config.front.state_keys[0].get_secret_value() == f"{SECRET}-and-more"
    assert SECRET not in json.dumps(redacted(config), default=str)
    assert SECRET not in repr(config.front)
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, GOOD + '    front: {state_keys: ["short"]}\n')
    assert "front.state_keys[0]" in str(caught.value) and "16 characters" in str(caught.value)
    assert "short" not in str(caught.value)
