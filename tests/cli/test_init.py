"""``only1mcp init``: every template loads with the project's loader as written, the team
template's generated keys authenticate, and an existing file is never overwritten silently."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from e2e.conftest import venv_bin
from typer.testing import CliRunner

from only1mcp.auth.keys import load_api_keys
from only1mcp.cli import app
from only1mcp.config import load_config
from only1mcp.setup.templates import Template, template_text


@pytest.mark.parametrize("template", list(Template))
def test_template_loads(tmp_path: Path, template: Template) -> None:
    out = tmp_path / f"{template}.yaml"
    run = CliRunner().invoke(app, ["init", "--template", template.value, "--output", str(out)])
    assert run.exit_code == 0, run.output
    config = load_config(out, {})  # no environment: the defaults in the file must do
    assert set(config.servers) == {"time", "git"}
    assert config.front.host == "127.0.0.1"
    assert "@" not in re.sub(r"#.*", "", out.read_text()), "a placeholder was left"
    assert f"only1mcp start --config {out}" in out.read_text()


@pytest.mark.parametrize("template", list(Template))
def test_every_section_is_explained(template: Template) -> None:
    """A comment says what each top-level section is for."""
    lines = template_text(template).splitlines()
    for index, line in enumerate(lines):
        if re.match(r"[a-z_]+:", line):
            before = lines[max(0, index - 3) : index]
            inline = "#" in line
            assert inline or any(b.startswith("#") for b in before), f"{line!r} unexplained"


def test_team_keys_are_fresh_and_authenticate(tmp_path: Path) -> None:
    keys: list[dict[str, str]] = []
    for attempt in ("a", "b"):
        out = tmp_path / f"{attempt}.yaml"
        run = CliRunner().invoke(app, ["init", "-t", "team", "-o", str(out)])
        assert run.exit_code == 0, run.output
        shown = dict(re.findall(r"^  (alice|bob|ci): (\S+)$", run.output, re.MULTILINE))
        assert set(shown) == {"alice", "bob", "ci"}, run.output
        for key in shown.values():
            assert key not in out.read_text()  # only its hash is kept
        config = load_config(out, {})
        api_keys = load_api_keys(config.auth, config.source)
        principal = api_keys.find(shown["alice"])
        assert principal is not None and "dev" in principal.roles
        assert api_keys.find("alice-demo-key-change-me") is None
        keys.append(shown)
    assert keys[0]["alice"] != keys[1]["alice"]


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    out = tmp_path / "only1mcp.yaml"
    out.write_text("mine\n")
    run = CliRunner().invoke(app, ["init", "-o", str(out)])
    assert run.exit_code == 1
    assert f"{out} already exists" in run.output and "--force" in run.output, run.output
    assert out.read_text() == "mine\n"
    run = CliRunner().invoke(app, ["init", "-o", str(out), "--force"])
    assert run.exit_code == 0, run.output
    assert "servers:" in out.read_text()


def test_unknown_template_is_refused(tmp_path: Path) -> None:
    run = CliRunner().invoke(app, ["init", "-t", "huge", "-o", str(tmp_path / "x.yaml")])
    assert run.exit_code == 2
    assert not (tmp_path / "x.yaml").exists()


def test_completion_is_offered() -> None:
    run = CliRunner().invoke(app, ["--help"])
    assert "--install-completion" in run.output and "--show-completion" in run.output


@pytest.mark.parametrize(
    ("words", "expected"),
    [("only1mcp im", "import"), ("only1mcp init --template te", "team")],
)
def test_shell_completion_completes(words: str, expected: str) -> None:
    """What bash's completion function asks the program (``--install-completion`` installs
    the function that does this)."""
    env = {
        **os.environ,
        "_ONLY1MCP_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - 1),
    }
    run = subprocess.run(
        [venv_bin("only1mcp")], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.stdout.split() == [expected], run
