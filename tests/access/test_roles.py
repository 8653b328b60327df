"""Roles: inheritance, glob grants, the scopes a refusal names, and the config's checks."""

from __future__ import annotations

from typing import Any

import pytest

from only1mcp.access.roles import Roles
from only1mcp.config import parse_config
from only1mcp.config.access import AccessConfig
from only1mcp.errors import ConfigError

ROLES = {
    "viewer": {"tools": ["time__*"], "resources": ["time+*"]},
    "dev": {"inherits": ["viewer"], "tools": ["git__*"], "prompts": ["git__commit_message"]},
    "admin": {"inherits": ["dev"], "tools": ["*"]},
    "auditor": {"tools": ["git__git_log", "git__git_st?tus"]},
}


def roles(spec: dict[str, Any] = ROLES) -> Roles:
    return Roles(AccessConfig.model_validate({"roles": spec}))


def test_inheritance_is_transitive_and_unknown_names_are_dropped() -> None:
    assert roles().expand({"admin"}) == {"admin", "dev", "viewer"}
    assert roles().expand({"dev", "openid", "email"}) == {"dev", "viewer"}
    assert roles().expand(set()) == frozenset()


def test_globs_match_whole_exposed_names_case_sensitively() -> None:
    by_name = roles().by_name
    assert by_name["viewer"].grants_name("tools", "time__get_current_time")
    assert not by_name["viewer"].grants_name("tools", "xtime__get_current_time")
    assert not by_name["viewer"].grants_name("tools", "TIME__now")
    assert by_name["auditor"].grants_name("tools", "git__git_status")
    assert not by_name["auditor"].grants_name("tools", "git__git_commit")
    # Resource grants cover URI templates as well as URIs; tool grants do not cover prompts.
    assert by_name["viewer"].grants_name("templates", "time+file:///{path}")
    assert not by_name["viewer"].grants_name("prompts", "time__now")


def test_a_refusal_names_every_role_that_would_allow_it() -> None:
    everyone = roles()
    assert set(everyone.scopes_for("tools", "time__now")) == {"viewer", "dev", "admin"}
    assert set(everyone.scopes_for("tools", "git__git_log")) == {"dev", "admin", "auditor"}
    assert everyone.scopes_for("prompts", "nothing") == ()


def load(access: dict[str, Any]) -> None:
    parse_config({"servers": {"t": {"command": "x"}}, "access": access}, "team.yaml")


def test_an_inheritance_cycle_is_a_config_error_naming_its_roles() -> None:
    cycle = {"a": {"inherits": ["b"]}, "b": {"inherits": ["c"]}, "c": {"inherits": ["a"]}}
    with pytest.raises(ConfigError, match=r"team.yaml: access.roles.a.inherits: .*a → b → c → a"):
        load({"roles": cycle})
    with pytest.raises(ConfigError, match="cycle: self → self"):
        load({"roles": {"self": {"inherits": ["self"]}}})


@pytest.mark.parametrize(
    ("access", "where", "what"),
    [
        ({"roles": {"a": {"inherits": ["zz"]}}}, r"access.roles.a.inherits\[0\]", "unknown role"),
        ({"roles": {"a b": {}}}, r'access.roles\["a b"\]', "OAuth scopes"),
        ({"roles": {"a": {"tools": [""]}}}, r"access.roles.a.tools\[0\]", "empty pattern"),
        ({"stdio_roles": ["ghost"]}, r"access.stdio_roles\[0\]", "unknown role 'ghost'"),
        ({"roles": {"a": {"colour": "red"}}}, r"access.roles.a.colour", ""),
        ({"tools": {"x": {"rate": {"per_second": 0}}}}, r"access.tools.x.rate.per_second", ""),
    ],
)
def test_bad_access_config_names_the_key(access: dict[str, Any], where: str, what: str) -> None:
    with pytest.raises(ConfigError, match=f"team.yaml: {where}.*{what}"):
        load(access)
