"""``only1mcp import``: real sample files of Claude Desktop, Cursor and VS Code become configs
that Only1MCP's own loader accepts; bad input names the file, the key and the problem."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from only1mcp.cli import app
from only1mcp.config import load_config
from only1mcp.errors import ConfigError
from only1mcp.setup.importer import Imported, read, render
from only1mcp.setup.locations import Client, candidates

SAMPLES = Path(__file__).parent / "samples"
ENV = {"GITHUB_TOKEN": "t", "PERPLEXITY_KEY": "k", "HOME": "/home/me"}


def imported(tmp_path: Path, sample: str, client: Client = Client.auto) -> tuple[Imported, dict]:
    """Read a sample, write the config, load it with the project's loader."""
    result = read(SAMPLES / sample, client)
    out = tmp_path / "only1mcp.yaml"
    out.write_text(render(result))
    load_config(out, ENV)  # what `start` would do
    return result, yaml.safe_load(out.read_text())["servers"]


def test_claude_desktop(tmp_path: Path) -> None:
    result, servers = imported(tmp_path, "claude_desktop_config.json", Client.claude)
    assert list(servers) == ["filesystem", "brave-search", "my-notes"]
    assert servers["filesystem"]["command"] == "npx"
    assert servers["filesystem"]["args"][-1] == "/Users/me/Downloads"
    assert servers["brave-search"]["env"] == {"BRAVE_API_KEY": "BSA-not-a-real-key"}
    assert servers["my-notes"]["enabled"] is False
    # A literal $ stays a literal $ once Only1MCP interpolates: written as $$.
    assert servers["my-notes"]["args"][-1] == "5$$"
    config = load_config(tmp_path / "only1mcp.yaml", ENV)
    assert config.servers["my-notes"].args[-1] == "5$"
    assert result.renamed == {"my.notes": "my-notes"}


def test_cursor(tmp_path: Path) -> None:
    result, servers = imported(tmp_path, "cursor_mcp.json", Client.cursor)
    assert servers["github"] == {
        "url": "https://api.githubcopilot.com/mcp/",
        "headers": {"Authorization": "Bearer ${GITHUB_TOKEN}"},
    }
    assert servers["legacy-events"]["transport"] == "sse"
    docs = servers["project-docs"]
    assert docs["args"] == [f"{SAMPLES}/tools/docs_server.py", "--cache", "${HOME}/.cache/docs"]
    assert docs["env"] == {"DOCS_DEBUG": "1"}
    assert "transport" not in docs  # stdio is what a command means anyway
    notes = " ".join(result.notes["project-docs"])
    assert "envFile" in notes and "workspaceFolder" in notes
    assert result.renamed == {"project docs": "project-docs"}


def test_vscode_inputs_become_environment_variables(tmp_path: Path) -> None:
    result, servers = imported(tmp_path, "vscode_mcp.json")  # auto: `servers` means VS Code
    assert result.client is Client.vscode
    assert servers["Perplexity"]["env"] == {"PERPLEXITY_API_KEY": "${PERPLEXITY_KEY}"}
    assert result.variables == {"PERPLEXITY_KEY": "Perplexity API Key"}
    assert servers["fetch"] == {"url": "https://fetch.example.com/events", "transport": "sse"}
    assert servers["remote"] == {
        "url": "https://mcp.example.com/mcp",
        "headers": {"X-Tenant": "acme"},
    }
    text = (tmp_path / "only1mcp.yaml").read_text()
    assert "#   PERPLEXITY_KEY — Perplexity API Key" in text
    assert "# ${input:perplexity-key} (VS Code asked for it) is now ${PERPLEXITY_KEY}" in text
    assert "# left out (no use here): dev" in text


def test_workspace_folder_is_the_folder_holding_dot_vscode(tmp_path: Path) -> None:
    (tmp_path / ".vscode").mkdir()
    path = tmp_path / ".vscode" / "mcp.json"
    path.write_text('{"servers": {"fs": {"command": "srv", "args": ["${workspaceFolder}"]}}}')
    assert read(path).servers["fs"]["args"] == [str(tmp_path.resolve())]


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ('{"mcpServers": {"a": {"command": "x",}', "", "not valid JSON: line 1"),
        ('{"something": {}}', "servers", "expected a non-empty object of servers"),
        ('{"mcpServers": {"a": {"args": []}}}', "mcpServers.a", "neither `command`"),
        ('{"mcpServers": {"a": {"command": "x", "args": "-v"}}}', "mcpServers.a.args", "list"),
        ('{"mcpServers": {"a": {"command": "x", "env": {"K": []}}}}', "mcpServers.a.env", "obj"),
        ('{"servers": {"a": {"type": "ws", "url": "http://h/"}}}', "servers.a.type", "'ws'"),
        (
            '{"servers": {"a": {"command": "x", "args": ["${config:editor.x}"]}}}',
            "servers.a.args[0]",
            "${config:editor.x} has no equivalent",
        ),
        ('{"servers": {"a": {"command": "x"}}, "inputs": {}}', "inputs", "expected a list"),
        ('{"mcpServers": {"a": {"url": "ftp://h/"}}}', "mcpServers.a.url", "http:// or https://"),
        ('{"servers": {"a.b": {"url": "ftp://h/"}}}', "servers.a.b.url", "http:// or https://"),
    ],
)
def test_bad_input_names_file_key_and_problem(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    path = tmp_path / "mcp.json"
    path.write_text(text)
    run = CliRunner().invoke(app, ["import", str(path), "-o", str(tmp_path / "out.yaml")])
    assert run.exit_code == 2, run.output
    message = " ".join(run.output.split())  # the console wraps long lines
    assert f"{path}: {key}" in message, message
    assert problem in message, message
    assert "Traceback" not in message
    assert not (tmp_path / "out.yaml").exists()


def test_missing_file_and_no_default_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = CliRunner().invoke(app, ["import", str(tmp_path / "nope.json")])
    assert run.exit_code == 2 and "file not found" in run.output
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.chdir(tmp_path)
    run = CliRunner().invoke(app, ["import", "--from", "cursor"])
    assert run.exit_code == 1
    assert "no cursor config file found" in run.output
    assert str(tmp_path / ".cursor" / "mcp.json") in run.output


def test_auto_finds_the_default_file_and_refuses_to_overwrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".cursor").mkdir()
    shutil.copy(SAMPLES / "cursor_mcp.json", tmp_path / ".cursor" / "mcp.json")
    run = CliRunner().invoke(app, ["import"])
    assert run.exit_code == 0, run.output
    assert "imported 3 servers" in run.output
    assert "# Only1MCP — imported from cursor" in (tmp_path / "only1mcp.yaml").read_text()
    assert "renamed 'project docs' → 'project-docs'" in run.output
    before = (tmp_path / "only1mcp.yaml").read_text()
    run = CliRunner().invoke(app, ["import"])
    assert run.exit_code == 1 and "already exists" in run.output and "--force" in run.output
    assert (tmp_path / "only1mcp.yaml").read_text() == before
    assert CliRunner().invoke(app, ["import", "--force"]).exit_code == 0


@pytest.mark.parametrize(
    ("platform", "claude", "vscode_user"),
    [
        (
            "darwin",
            "/h/Library/Application Support/Claude/claude_desktop_config.json",
            "/h/Library/Application Support/Code/User/mcp.json",
        ),
        (
            "win32",
            "/appdata/Claude/claude_desktop_config.json",
            "/appdata/Code/User/mcp.json",
        ),
        ("linux", "/h/.config/Claude/claude_desktop_config.json", "/h/.config/Code/User/mcp.json"),
    ],
)
def test_default_locations(platform: str, claude: str, vscode_user: str) -> None:
    where = {"platform": platform, "home": Path("/h"), "cwd": Path("/w")}
    environ = {"APPDATA": "/appdata"}
    assert candidates(Client.claude, environ=environ, **where) == [Path(claude)]
    assert candidates(Client.cursor, environ=environ, **where) == [
        Path("/w/.cursor/mcp.json"),
        Path("/h/.cursor/mcp.json"),
    ]
    assert candidates(Client.vscode, environ=environ, **where) == [
        Path("/w/.vscode/mcp.json"),
        Path(vscode_user),
    ]
    assert len(candidates(Client.auto, environ=environ, **where)) == 5


def test_import_to_stdout() -> None:
    run = CliRunner().invoke(app, ["import", str(SAMPLES / "vscode_mcp.json"), "-o", "-"])
    assert run.exit_code == 0, run.output
    assert "servers:\n" in run.output and "PERPLEXITY_API_KEY: ${PERPLEXITY_KEY}" in run.output


def test_config_error_type_is_raised_for_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("[1]")
    with pytest.raises(ConfigError, match="expected a JSON object"):
        read(path)
