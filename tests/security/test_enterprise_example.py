"""``examples/enterprise.yaml`` starts as written in front of the test OpenID provider: its
roles (from the ``roles`` claim and the granted scopes) decide what each principal sees and
calls, the MFA rule holds, and the audit log records the decisions without a token."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from e2e.conftest import BIN_DIR, HttpAggregator, free_port, git_repo
from e2e.stateless_wire import tools_call

from only1mcp.config import load_config

from .gateway import Gateway, bearer, post, serving
from .idp import IdentityProvider

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "enterprise.yaml"
TIME_TOOL = "time__get_current_time"

__all__ = ["git_repo"]  # the e2e fixture, used here


def test_example_loads_with_its_defaults() -> None:
    config = load_config(EXAMPLE, environ={})
    assert config.auth.modes == ["jwt"]
    assert config.auth.resource == "http://127.0.0.1:8765/mcp"
    assert config.auth.jwt is not None
    assert config.auth.jwt.jwks_url == "http://127.0.0.1:9100/jwks"
    assert set(config.access.roles) == {"tools.read", "git.write", "viewer", "dev"}
    assert config.audit.path == "only1mcp-audit.log"
    assert list(config.servers) == ["time", "git"]


@pytest.fixture(scope="module")
def enterprise_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the example's log and audit log go."""
    return tmp_path_factory.mktemp("enterprise")


@pytest.fixture(scope="module")
def enterprise(idp: IdentityProvider, git_repo: Path, enterprise_dir: Path) -> Iterator[Gateway]:
    """The example, unchanged, pointed at the test provider through its environment variables
    and run from a git repository (its git server serves ``.``)."""
    workdir = enterprise_dir
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    env = {
        **os.environ,
        "PATH": f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}",
        "OIDC_ISSUER": idp.issuer,
        "OIDC_JWKS_URL": idp.jwks_uri,
        "ONLY1MCP_RESOURCE": resource,
        "ONLY1MCP_AUDIT_LOG": str(workdir / "audit.log"),
    }
    agg = HttpAggregator(EXAMPLE, workdir / "only1mcp.log", port, cwd=git_repo, env=env)
    with serving(agg, idp, resource) as gateway:
        yield gateway


def call(gw: Gateway, token: str, name: str, arguments: dict[str, object]) -> httpx.Response:
    with httpx.Client(timeout=30.0) as http:
        return post(http, gw.url, tools_call(name, arguments), bearer(token))


def listed(gw: Gateway, token: str) -> set[str]:
    with httpx.Client(timeout=30.0) as http:
        body = {**tools_call("x"), "method": "tools/list"}
        body["params"] = {"_meta": body["params"]["_meta"]}
        resp = post(http, gw.url, body, bearer(token))
    assert resp.status_code == 200, resp.text
    return {tool["name"] for tool in resp.json()["result"]["tools"]}


def test_roles_decide_what_each_principal_sees(enterprise: Gateway) -> None:
    alice = listed(enterprise, enterprise.token("alice"))
    assert TIME_TOOL in alice and "git__git_status" in alice and "git__git_commit" in alice
    bob = listed(enterprise, enterprise.token("bob"))
    assert TIME_TOOL in bob and not any(name.startswith("git__") for name in bob)
    assert listed(enterprise, enterprise.token("carol")) == set()


def test_calls_are_granted_and_refused_by_role(enterprise: Gateway) -> None:
    bob = enterprise.token("bob")
    ok = call(enterprise, bob, TIME_TOOL, {"timezone": "UTC"})
    assert ok.status_code == 200 and "error" not in ok.json(), ok.text
    refused = call(enterprise, bob, "git__git_status", {"repo_path": "."})
    assert refused.status_code == 403, refused.text
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    alice = enterprise.token("alice")
    status = call(enterprise, alice, "git__git_status", {"repo_path": "."})
    assert status.status_code == 200 and "error" not in status.json(), status.text


def test_mfa_rule_on_a_risky_tool(enterprise: Gateway, idp: IdentityProvider) -> None:
    # alice's real token says amr [pwd, mfa]; the same claims without the second factor do not
    # pass the rule on git__git_reset (the call is refused before it reaches git).
    without_mfa = idp.sign(
        idp.claims("alice", enterprise.resource, amr=["pwd"], acr=None),
    )
    refused = call(enterprise, without_mfa, "git__git_reset", {"repo_path": "."})
    assert refused.status_code == 403, refused.text


def test_audit_log_records_decisions_without_tokens(
    enterprise: Gateway, enterprise_dir: Path
) -> None:
    bob = enterprise.token("bob")
    assert call(enterprise, bob, "git__git_status", {"repo_path": "."}).status_code == 403
    text = (enterprise_dir / "audit.log").read_text()
    assert bob not in text and bob.split(".")[2] not in text
    events = [json.loads(line) for line in text.splitlines()]
    refusals = [e for e in events if e.get("name") == "git__git_status" and "bob" in e["principal"]]
    assert refusals, events[-5:]
    assert refusals[-1]["decision"] == "deny"
