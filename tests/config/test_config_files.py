"""Reading files: formats, syntax errors with positions, unreadable files, the examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from only1mcp.config import EXTENSIONS, Config, HttpServerConfig, StdioServerConfig, load_config
from only1mcp.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

YAML = """\
separator: "."
log_level: debug
front:
  host: 0.0.0.0
  port: 9000
  allowed_origins: ["https://app.example.com"]
servers:
  git:
    command: mcp-server-git
    args: ["--repository", "."]
    env: {GIT_AUTHOR_NAME: bot}
    cwd: /srv
    timeout: 5
  api:
    url: https://mcp.example.com/mcp
    headers: {X-Team: core}
    prefix: ""
    enabled: false
"""

TOML = """\
separator = "."
log_level = "debug"

[front]
host = "0.0.0.0"
port = 9000
allowed_origins = ["https://app.example.com"]

[servers.git]
command = "mcp-server-git"
args = ["--repository", "."]
env = { GIT_AUTHOR_NAME = "bot" }
cwd = "/srv"
timeout = 5

[servers.api]
url = "https://mcp.example.com/mcp"
headers = { X-Team = "core" }
prefix = ""
enabled = false
"""

JSON = """\
{
  "separator": ".",
  "log_level": "debug",
  "front": {"host": "0.0.0.0", "port": 9000, "allowed_origins": ["https://app.example.com"]},
  "servers": {
    "git": {
      "command": "mcp-server-git",
      "args": ["--repository", "."],
      "env": {"GIT_AUTHOR_NAME": "bot"},
      "cwd": "/srv",
      "timeout": 5
    },
    "api": {
      "url": "https://mcp.example.com/mcp",
      "headers": {"X-Team": "core"},
      "prefix": "",
      "enabled": false
    }
  }
}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    return info.value


@pytest.mark.parametrize(("name", "text"), [("c.yaml", YAML), ("c.toml", TOML), ("c.json", JSON)])
def test_each_format_loads_the_same_config(tmp_path: Path, name: str, text: str) -> None:
    config = load_config(write(tmp_path, name, text), environ={})
    assert config.source == str(tmp_path / name)
    assert config.separator == "."
    assert config.log_level == "debug"
    assert (config.front.host, config.front.port) == ("0.0.0.0", 9000)
    assert config.front.allowed_origins == ["https://app.example.com"]
    assert list(config.servers) == ["git", "api"]
    git = config.servers["git"]
    assert isinstance(git, StdioServerConfig)
    assert git.args == ["--repository", "."]
    assert git.env == {"GIT_AUTHOR_NAME": "bot"}
    assert (git.cwd, git.timeout, git.enabled, git.prefix) == ("/srv", 5.0, True, None)
    api = config.servers["api"]
    assert isinstance(api, HttpServerConfig)
    assert api.url == "https://mcp.example.com/mcp"
    assert api.headers == {"X-Team": "core"}
    assert (api.prefix, api.enabled, api.timeout) == ("", False, 30.0)


def test_the_three_formats_give_equal_configs(tmp_path: Path) -> None:
    configs = [
        load_config(write(tmp_path, name, text), environ={})
        for name, text in [("c.yaml", YAML), ("c.yml", YAML), ("c.toml", TOML), ("c.json", JSON)]
    ]
    assert all(config == configs[0] for config in configs)
    assert len({config.source for config in configs}) == 4  # equality ignores the source


def test_path_may_be_a_str_and_the_extension_any_case(tmp_path: Path) -> None:
    path = write(tmp_path, "C.YAML", YAML)
    assert load_config(str(path), environ={}).source == str(path)


def test_a_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_bytes(b"\xef\xbb\xbf" + JSON.encode())
    assert "git" in load_config(path, environ={}).servers


def test_extensions_constant() -> None:
    assert EXTENSIONS == (".yaml", ".yml", ".toml", ".json")


# --- unusable files ---------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    error = error_of(path)
    assert str(error) == f"{path}: file not found"
    assert (error.path, error.key, error.problem) == (str(path), "", "file not found")


def test_directory(tmp_path: Path) -> None:
    path = tmp_path / "dir.yaml"
    path.mkdir()
    assert str(error_of(path)) == f"{path}: is a directory, not a file"


def test_unsupported_extension(tmp_path: Path) -> None:
    path = write(tmp_path, "c.ini", "[servers]\n")
    assert str(error_of(path)) == (
        f"{path}: unsupported file extension '.ini'; use .yaml, .yml, .toml or .json"
    )


def test_no_extension(tmp_path: Path) -> None:
    path = write(tmp_path, "config", YAML)
    assert str(error_of(path)) == (
        f"{path}: unsupported file extension (none); use .yaml, .yml, .toml or .json"
    )


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b"servers:\n  a: {command: \xff}\n")
    assert str(error_of(path)) == f"{path}: not UTF-8 text (bad byte at offset 24)"


@pytest.mark.parametrize("name", ["c.yaml", "c.toml", "c.json"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, name, "\n  \n")
    assert str(error_of(path)) == f"{path}: the file is empty"


def test_yaml_with_only_comments(tmp_path: Path) -> None:
    path = write(tmp_path, "c.yaml", "# nothing yet\n")
    assert str(error_of(path)) == f"{path}: the configuration is empty"


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "c.yaml", "- servers\n")
    assert str(error_of(path)) == (
        f"{path}: expected a mapping at the top level, with a `servers` key"
    )


# --- syntax errors carry the parser's position ------------------------------------------------


def test_yaml_syntax_error(tmp_path: Path) -> None:
    path = write(tmp_path, "cfg.yaml", "servers:\n  git:\n    command: x: y\n")
    error = error_of(path)
    assert str(error) == f"{path}: line 3, column 15: mapping values are not allowed here"
    assert error.key == ""


def test_yaml_bad_indentation(tmp_path: Path) -> None:
    path = write(tmp_path, "cfg.yaml", "servers:\n  git:\n    command: x\n   args: []\n")
    assert str(error_of(path)) == (
        f"{path}: line 4, column 4: expected <block end>, but found '<block mapping start>'"
    )


def test_yaml_duplicate_key(tmp_path: Path) -> None:
    path = write(tmp_path, "cfg.yaml", "servers:\n  git: {command: a}\n  git: {command: b}\n")
    assert str(error_of(path)) == f"{path}: line 3, column 3: duplicate key 'git'"


def test_yaml_merge_keys_may_be_overridden(tmp_path: Path) -> None:
    text = "servers:\n  a: &base {command: x, timeout: 5}\n  b:\n    <<: *base\n    command: y\n"
    config = load_config(write(tmp_path, "c.yaml", text), environ={})
    assert config.servers["b"] == StdioServerConfig(command="y", timeout=5)


def test_toml_syntax_error(tmp_path: Path) -> None:
    path = write(tmp_path, "cfg.toml", '[servers.git]\ncommand = "x"\nargs = [1 2]\n')
    assert str(error_of(path)) == (f"{path}: line 3, column 11: unclosed array")


def test_toml_error_at_end_of_file(tmp_path: Path) -> None:
    path = write(tmp_path, "cfg.toml", '[servers.git]\ncommand = "x')
    assert str(error_of(path)) == f"{path}: at end of file: unterminated string"


def test_toml_duplicate_key(tmp_path: Path) -> None:
    path = write(tmp_path, "cfg.toml", '[servers.git]\ncommand = "x"\ncommand = "y"\n')
    assert str(error_of(path)) == f"{path}: line 3, column 14: cannot overwrite a value"


def test_json_syntax_error(tmp_path: Path) -> None:
    path = write(tmp_path, "cfg.json", '{\n  "servers": {\n    "git": {"command": "x",}\n  }\n}\n')
    assert str(error_of(path)) == (
        f"{path}: line 3, column 28: expecting property name enclosed in double quotes"
    )


def test_json_duplicate_key(tmp_path: Path) -> None:
    path = write(
        tmp_path, "cfg.json", '{"servers": {"a": {"command": "x"}, "a": {"command": "y"}}}'
    )
    assert str(error_of(path)) == f"{path}: duplicate key 'a'"


# --- validation errors name the file ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("c.yaml", "servers:\n  git:\n    args: []\n"),
        ("c.toml", "[servers.git]\nargs = []\n"),
        ("c.json", '{"servers": {"git": {"args": []}}}'),
    ],
)
def test_missing_required_field_in_each_format(tmp_path: Path, name: str, text: str) -> None:
    path = write(tmp_path, name, text)
    error = error_of(path)
    assert str(error) == f"{path}: servers.git.command: field required"
    assert (error.key, error.problem) == ("servers.git.command", "field required")


# --- the shipped examples ---------------------------------------------------------------------


def test_solo_example() -> None:
    config = load_config(EXAMPLES / "solo.yaml", environ={})
    assert list(config.enabled_servers()) == ["time", "git"]
    assert config.servers["time"] == StdioServerConfig(command="mcp-server-time")
    assert config.servers["git"] == StdioServerConfig(
        command="mcp-server-git", args=["--repository", "."]
    )
    assert config.front.host == "127.0.0.1"
    assert config == Config.model_validate(config.model_dump())


def test_claude_desktop_example_equals_solo() -> None:
    solo = load_config(EXAMPLES / "solo.yaml", environ={})
    claude = load_config(EXAMPLES / "claude_desktop.json", environ={})
    assert claude == solo


def test_context_example() -> None:
    config = load_config(EXAMPLES / "context.yaml", environ={})
    assert config.discovery.always_visible == ["time__get_current_time"]
    git = config.shapes("tools")["git"]
    assert git.compact and git.deny == ("git_reset", "git_commit")
    assert dict(git.overrides["git_log"].fixed) == {"repo_path": "."}
    assert set(config.shapes("tools")) == {"time", "git"}  # compact applies to both
