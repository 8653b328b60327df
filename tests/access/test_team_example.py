"""``examples/team.yaml`` as written: it loads, and ``only1mcp start --config`` runs it — each
teammate's API key sees and may call what its roles grant, the rest is a 403."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from e2e.conftest import BIN_DIR, REPO_ROOT, HttpAggregator, running_aggregator

from only1mcp.config import load_config

TEAM = REPO_ROOT / "examples" / "team.yaml"
KEYS = {name: f"{name}-demo-key-change-me" for name in ("alice", "bob", "ci")}
ACCEPT = "application/json, text/event-stream"


def test_the_example_loads_with_the_roles_it_documents() -> None:
    config = load_config(TEAM, environ={})
    assert config.auth.modes == ["api_key"]
    assert {key.name: key.roles for key in config.auth.api_keys} == {
        "alice": ["dev"],
        "bob": ["viewer"],
        "ci": ["ci"],
    }
    assert set(config.access.roles) == {"viewer", "dev", "ci"}
    assert config.access.roles["dev"].inherits == ["viewer"]


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory, git_repo: Path) -> Iterator[HttpAggregator]:
    """The example, copied unchanged into a git repository (its git server serves ".")."""
    shutil.copy(TEAM, git_repo / "team.yaml")
    with pytest.MonkeyPatch.context() as patch:
        # The example names its servers by command, as `make run` finds them: on PATH.
        patch.setenv("PATH", f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}")
        with running_aggregator(git_repo / "team.yaml", git_repo / "only1mcp.log") as agg:
            yield agg


@contextlib.contextmanager
def session(agg: HttpAggregator, who: str) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    """A handshake session of ``who``'s key: (client, the headers of its requests)."""
    headers = {"Accept": ACCEPT, "X-API-Key": KEYS[who]}
    hello = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t"}}
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": hello}
    with httpx.Client(base_url=agg.base, timeout=20) as http:
        resp = http.post("/mcp", json=init, headers=headers)
        assert resp.status_code == 200, resp.text
        yield http, {**headers, "Mcp-Session-Id": resp.headers["mcp-session-id"]}


def ask(http: httpx.Client, headers: dict[str, str], method: str, **params: Any) -> Any:
    msg = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    return http.post("/mcp", json=msg, headers=headers)


def test_each_key_sees_what_its_roles_grant(team: HttpAggregator) -> None:
    seen = {}
    for who in KEYS:
        with session(team, who) as (http, headers):
            tools = ask(http, headers, "tools/list").json()["result"]["tools"]
        seen[who] = {tool["name"] for tool in tools}
    assert {"time__get_current_time", "git__git_commit", "git__git_reset"} <= seen["alice"]
    assert seen["bob"] == {
        "time__get_current_time",
        "time__convert_time",
        "git__git_status",
        "git__git_log",
        "git__git_diff",
        "git__git_diff_staged",
        "git__git_diff_unstaged",
        "git__git_show",
    }
    assert seen["ci"] == {"git__git_status", "git__git_log"}


def test_a_viewer_committing_is_403_naming_the_role_that_may(team: HttpAggregator) -> None:
    with session(team, "bob") as (http, headers):
        refused = ask(http, headers, "tools/call", name="git__git_commit", arguments={})
        status = ask(http, headers, "tools/call", name="git__git_status", arguments={})
    assert refused.status_code == 403
    challenge = refused.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="dev"' in challenge
    assert refused.json()["error"]["code"] == -32003
    assert status.status_code == 200 and "result" in status.json()
    audit = (team.config.parent / "only1mcp-audit.log").read_bytes().splitlines()
    decisions = {
        (line["principal"], line["name"], line["decision"]) for line in map(orjson.loads, audit)
    }
    assert ("key:bob", "git__git_commit", "deny") in decisions


def test_a_wrong_key_is_401(team: HttpAggregator) -> None:
    with httpx.Client(base_url=team.base, timeout=20) as http:
        resp = http.post("/mcp", json={}, headers={"X-API-Key": "not-a-key-of-the-team"})
    assert resp.status_code == 401
