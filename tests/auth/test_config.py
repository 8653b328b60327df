"""The ``auth:`` section: each mistake is a config error naming its key; secrets are redacted."""

from __future__ import annotations

from typing import Any

import pytest

from only1mcp.config import parse_config
from only1mcp.config.schema import redacted
from only1mcp.errors import ConfigError

JWKS = {"issuer": "http://idp", "jwks_url": "http://idp/jwks"}


# The roles the keys of these tests name (an API key's roles must be configured roles).
ACCESS = {"roles": {"dev": {}, "viewer": {}, "ops": {}}}


def parse(auth: dict[str, Any], environ: dict[str, str] | None = None) -> Any:
    document = {"servers": {"a": {"command": "x"}}, "auth": auth, "access": ACCESS}
    return parse_config(document, "cfg.yaml", environ)


@pytest.mark.parametrize(
    ("auth", "key", "message"),
    [
        ({"modes": ["none", "jwt"], "jwt": JWKS}, "auth.modes", "cannot be combined"),
        ({"modes": ["basic"]}, "auth.modes[0]", ""),
        ({"modes": ["jwt"]}, "auth.modes", "needs an `auth.jwt` section"),
        ({"modes": ["api_key"]}, "auth.modes", "needs `api_keys`"),
        ({"jwt": JWKS}, "auth.jwt", "add `jwt` to `auth.modes`"),
        ({"modes": ["jwt"], "jwt": {**JWKS, "leeway": 61}}, "auth.jwt.leeway", "at most 60"),
        (
            {"modes": ["jwt"], "jwt": {**JWKS, "algorithms": ["none"]}},
            "auth.jwt.algorithms[0]",
            "never none",
        ),
        (
            {"modes": ["jwt"], "jwt": {**JWKS, "algorithms": ["HS256"]}},
            "auth.jwt.algorithms[0]",
            "need `secret`",
        ),
        (
            {"modes": ["jwt"], "jwt": {"issuer": "i", "secret": "s" * 40, "algorithms": ["RS256"]}},
            "auth.jwt.algorithms[0]",
            "HS* algorithms only",
        ),
        (
            {"modes": ["jwt"], "jwt": {"issuer": "i", "secret": "short", "algorithms": ["HS256"]}},
            "auth.jwt.secret",
            "32",
        ),
        ({"modes": ["jwt"], "jwt": {**JWKS, "key_file": "k.pem"}}, "auth.jwt", "exactly one"),
        ({"modes": ["jwt"], "jwt": {**JWKS, "jwks_url": "ftp://x"}}, "auth.jwt.jwks_url", "http"),
        (
            {"modes": ["api_key"], "api_keys": [{"name": "a", "key": "short"}]},
            "auth.api_keys[0].key",
            "16",
        ),
        (
            {"modes": ["api_key"], "api_keys": [{"name": "a", "hash": "abc"}]},
            "auth.api_keys[0].hash",
            "sha256",
        ),
        (
            {"modes": ["api_key"], "api_keys": [{"name": "a b", "key": "k" * 20}]},
            "auth.api_keys[0].name",
            "",
        ),
        (
            {
                "modes": ["api_key"],
                "api_keys": [{"name": "a", "key": "k" * 20}, {"name": "a", "key": "j" * 20}],
            },
            "auth.api_keys[1].name",
            "same name",
        ),
        (
            {
                "modes": ["introspection"],
                "introspection": {"url": "http://idp/i", "client_id": "c"},
            },
            "auth.introspection.client_secret",
            "",
        ),
        (
            {"modes": ["jwt"], "jwt": {**JWKS, "issuer_url": "x"}},
            "auth.jwt.issuer_url",
            "unknown key",
        ),
    ],
)
def test_a_mistake_names_its_key(auth: dict[str, Any], key: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(auth)
    assert key in str(info.value)
    assert message in str(info.value)


def test_secrets_are_redacted() -> None:
    config = parse(
        {
            "modes": ["api_key", "jwt", "introspection"],
            "api_keys": [{"name": "alice", "key": "${ALICE_KEY}", "roles": ["dev"]}],
            "jwt": {"issuer": "i", "secret": "${JWT_SECRET}", "algorithms": ["HS256"]},
            "introspection": {
                "url": "http://idp/introspect",
                "client_id": "only1mcp",
                "client_secret": "${INTROSPECTION_SECRET}",
            },
        },
        {
            "ALICE_KEY": "alice-secret-key-0123",
            "JWT_SECRET": "jwt-secret-" + "x" * 30,
            "INTROSPECTION_SECRET": "introspection-secret",
        },
    )
    text = repr(config) + str(redacted(config))
    for secret in ("alice-secret-key-0123", "jwt-secret-", "introspection-secret"):
        assert secret not in text
    assert config.auth.jwt is not None
    assert config.auth.jwt.secret is not None
    assert config.auth.jwt.secret.get_secret_value().startswith("jwt-secret-")
    assert config.auth.api_keys[0].hash.startswith("sha256:")


def test_the_default_is_no_auth() -> None:
    assert not parse({}).auth.enabled
    assert parse({"modes": ["jwt"], "jwt": JWKS}).auth.enabled


@pytest.mark.parametrize(
    ("server", "message"),
    [
        ({"url": "http://b/sse", "transport": "sse"}, "transport http only"),
        ({"url": "http://b/mcp", "headers": {"Authorization": "Bearer x"}}, "not both"),
    ],
)
def test_backend_oauth_mistakes(server: dict[str, Any], message: str) -> None:
    oauth = {"token_url": "http://idp/token", "client_id": "c", "client_secret": "s"}
    with pytest.raises(ConfigError) as info:
        parse_config({"servers": {"b": {**server, "oauth": oauth}}}, "cfg.yaml")
    assert "servers.b.oauth" in str(info.value) and message in str(info.value)
