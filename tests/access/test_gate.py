"""The gate on its own: what a role set sees (cached per catalog version), what a call is
refused and why, rate limits, and the audit line of each decision."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from only1mcp.access.gate import NOTHING, Gate, outcome
from only1mcp.audit import AuditLog
from only1mcp.auth.principal import ANONYMOUS, Principal
from only1mcp.catalog import Catalog
from only1mcp.config import Config
from only1mcp.errors import AccessDenied, RateLimited

SERVERS = {"time": {"command": "x"}, "git": {"command": "y"}}
ACCESS = {
    "roles": {
        "viewer": {"tools": ["time__*"], "resources": ["time+*"]},
        "dev": {"inherits": ["viewer"], "tools": ["git__*"], "prompts": ["git__*"]},
        "night": {"tools": ["git__git_log"], "policy": {"hours": "00:00-00:01"}},
        "office": {"tools": ["git__git_push"], "policy": {"cidrs": ["10.0.0.0/8"]}},
    },
    "tools": {"git__git_commit": {"policy": {"mfa": True}, "rate": {"per_second": 1, "burst": 2}}},
    "rate_limits": {"per_principal": {"per_second": 1, "burst": 5}},
}
DEV = Principal("key:dev", frozenset({"dev"}))
VIEWER = Principal("key:viewer", frozenset({"viewer", "openid"}))
NOON = 1_796_299_200.0  # 2026-12-03 12:00 UTC


def catalogs() -> dict[str, Catalog]:
    prefixes = {"time": "time", "git": "git"}
    made = {
        "tools": Catalog(["time", "git"], prefixes, "__"),
        "prompts": Catalog(["time", "git"], prefixes, "__"),
        "resources": Catalog(["time", "git"], prefixes, "__", "uri"),
        "templates": Catalog(["time", "git"], prefixes, "__", "uriTemplate"),
    }
    made["tools"].set_items("time", [{"name": "now"}, {"name": "convert"}])
    made["tools"].set_items(
        "git", [{"name": n} for n in ("git_log", "git_commit", "git_push", "git_status")]
    )
    made["prompts"].set_items("git", [{"name": "commit_message"}])
    made["resources"].set_items("time", [{"uri": "file:///zones"}])
    made["templates"].set_items("git", [{"uriTemplate": "file:///{path}"}])
    return made


KEYS = {"modes": ["api_key"], "api_keys": [{"name": "k", "key": "k-key-0123456789abcdef"}]}


def gate(tmp_path: Path, auth: dict[str, Any] = KEYS, **access: Any) -> Gate:
    config = Config.model_validate(
        {
            "servers": SERVERS,
            "auth": auth,
            "access": access or ACCESS,
            "audit": {"path": str(tmp_path / "audit.log")},
        }
    )
    return Gate(config, AuditLog(config.audit), catalogs(), "http://x/meta", clock=lambda: NOON)


def audit_lines(made: Gate) -> list[dict[str, Any]]:
    path = made.audit.config.path
    made.audit.close()
    assert path is not None
    return [orjson.loads(line) for line in Path(path).read_bytes().splitlines()]


def call(name: str, method: str = "tools/call", req_id: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": req_id, "method": method, "params": {"name": name}}


def names(items: list[dict[str, Any]], key: str = "name") -> list[str]:
    return [item[key] for item in items]


def test_lists_are_what_the_roles_grant_cached_per_role_set(tmp_path: Path) -> None:
    made = gate(tmp_path)
    tools = made._catalogs["tools"]
    view = made.view(DEV)
    assert view is not None
    assert names(view.visible("tools", tools)) == [
        "time__now",
        "time__convert",
        "git__git_log",
        "git__git_commit",
        "git__git_push",
        "git__git_status",
    ]
    viewer = made.view(VIEWER)
    assert viewer is not None
    assert names(viewer.visible("tools", tools)) == ["time__now", "time__convert"]
    assert names(viewer.visible("prompts", made._catalogs["prompts"])) == []
    assert names(viewer.visible("resources", made._catalogs["resources"]), "uri") == [
        "time+file:///zones"
    ]
    # One view per set of roles: a principal with the same roles shares it, and its lists.
    assert made.view(Principal("key:other", frozenset({"dev"}))) is view
    assert made.view(Principal("iss sub", frozenset({"dev", "viewer"}))) is view
    assert view.visible("tools", tools) is view.visible("tools", tools)
    # The catalog changes: the list follows.
    tools.set_items("time", [{"name": "now"}])
    assert "time__convert" not in names(view.visible("tools", tools))
    # No role (or anonymous with authentication on): nothing.
    assert made.view(Principal("key:nobody")) is NOTHING
    assert made.view(ANONYMOUS) is NOTHING


def test_without_authentication_everything_is_seen_and_allowed(tmp_path: Path) -> None:
    made = gate(tmp_path, {"modes": ["none"]})
    assert made.view(ANONYMOUS) is None
    ticket = made.admit(ANONYMOUS, call("git__anything"), None, "s1")
    assert ticket is not None and ticket.reason == "authentication off"
    assert made.stdio_principal is ANONYMOUS


def test_a_call_outside_the_grants_names_every_role_that_would_allow_it(tmp_path: Path) -> None:
    made = gate(tmp_path)
    with pytest.raises(AccessDenied) as refused:
        made.admit(VIEWER, call("git__git_status"), "127.0.0.1", "s1")
    assert refused.value.code == -32003
    assert set(refused.value.scopes) == {"dev"}
    assert "key:viewer may not call tool 'git__git_status'" in refused.value.message
    with pytest.raises(AccessDenied) as prompt:
        made.admit(VIEWER, call("git__commit_message", "prompts/get"), None, "s1")
    assert prompt.value.scopes == ("dev",)
    read = {"jsonrpc": "2.0", "id": 3, "method": "resources/read", "params": {"uri": "git+x"}}
    with pytest.raises(AccessDenied):
        made.admit(VIEWER, read, None, "s1")
    completion = {
        "jsonrpc": "2.0",
        "id": 4,
        "method": "completion/complete",
        "params": {"ref": {"type": "ref/prompt", "name": "git__commit_message"}},
    }
    with pytest.raises(AccessDenied):
        made.admit(VIEWER, completion, None, "s1")
    assert made.admit(DEV, completion, None, "s1") is not None
    # Not a gated call (lists, ping), or malformed (the router answers it): no ticket.
    for method in ("ping", "tools/list", "tools/call"):
        assert made.admit(VIEWER, {"jsonrpc": "2.0", "id": 5, "method": method}, None, "s") is None


def test_role_policies_govern_their_own_grants(tmp_path: Path) -> None:
    made = gate(tmp_path)
    night = Principal("key:owl", frozenset({"night"}))
    with pytest.raises(AccessDenied, match=r"role night: allowed only at 00:00-00:01 \(UTC\)"):
        made.admit(night, call("git__git_log"), None, "s")
    both = Principal("key:owl-dev", frozenset({"night", "dev"}))  # dev grants it, no policy
    ticket = made.admit(both, call("git__git_log"), None, "s")
    assert ticket is not None and ticket.reason == "role dev"
    office = Principal("key:office", frozenset({"office"}))
    assert made.admit(office, call("git__git_push"), "10.2.3.4", "s") is not None
    with pytest.raises(AccessDenied, match="not allowed from this network"):
        made.admit(office, call("git__git_push"), "8.8.8.8", "s")


def test_a_tool_policy_and_rate_apply_to_every_role(tmp_path: Path) -> None:
    made = gate(tmp_path)
    with pytest.raises(AccessDenied, match="multi-factor authentication required"):
        made.admit(DEV, call("git__git_commit"), None, "s")
    strong = Principal("iss dev", frozenset({"dev"}), {"amr": ["pwd", "otp"]})
    assert made.admit(strong, call("git__git_commit"), None, "s") is not None
    assert made.admit(strong, call("git__git_commit"), None, "s") is not None
    with pytest.raises(RateLimited) as limited:
        made.admit(strong, call("git__git_commit"), None, "s")
    assert limited.value.code == -32029
    assert 0 < limited.value.retry_after <= 1
    assert "git__git_commit" in limited.value.message


def test_the_per_principal_limit_counts_every_call(tmp_path: Path) -> None:
    made = gate(tmp_path)
    for _ in range(5):
        made.admit(VIEWER, call("time__now"), None, "s")
    with pytest.raises(RateLimited, match=r"at most 1/s \(burst 5\)"):
        made.admit(VIEWER, call("time__convert"), None, "s")
    assert made.admit(DEV, call("time__now"), None, "s") is not None  # another principal


def test_every_decision_is_audited_without_the_arguments(tmp_path: Path) -> None:
    made = gate(tmp_path)
    ticket = made.admit(DEV, call("git__git_log"), "127.0.0.1", "sess-1")
    assert ticket is not None
    made.done(ticket, b'{"jsonrpc":"2.0","id":1,"result":{"content":[]}}')
    with pytest.raises(AccessDenied):
        made.admit(VIEWER, call("git__git_log"), "127.0.0.1", "sess-2")
    allowed, denied = audit_lines(made)
    assert allowed["event"] == "call" and denied["event"] == "call"
    assert allowed["principal"] == "key:dev" and allowed["session"] == "sess-1"
    assert allowed["method"] == "tools/call" and allowed["name"] == "git__git_log"
    assert allowed["server"] == "git" and allowed["decision"] == "allow"
    assert allowed["reason"] == "role dev" and allowed["outcome"] == "ok"
    assert allowed["latency_ms"] >= 0
    assert denied["decision"] == "deny" and denied["outcome"] == "refused"
    assert "may not call tool" in denied["reason"] and denied["server"] == "git"
    assert "arguments" not in allowed


def test_outcome_reads_the_answer_frame() -> None:
    assert outcome(b'{"jsonrpc":"2.0","id":1,"result":{}}') == "ok"
    assert outcome(b'{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"x"}}') == "error"
    assert outcome(b'{"jsonrpc":"2.0","id":1,"result":{"text":"\\"error\\""}}') == "ok"
    assert outcome(None) == "answered"


def test_stdio_gets_every_role_unless_configured(tmp_path: Path) -> None:
    assert gate(tmp_path).stdio_principal.roles == {"viewer", "dev", "night", "office"}
    limited = gate(tmp_path, **{**ACCESS, "stdio_roles": ["viewer"]})
    assert limited.stdio_principal == Principal("stdio", frozenset({"viewer"}))
