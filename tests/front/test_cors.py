"""CORS for browser clients (``front.cors``) and how it meets the DNS-rebinding Origin check."""

from __future__ import annotations

import pytest

from only1mcp.config.loader import parse_config
from only1mcp.errors import ConfigError

from .asgi import INIT, TINY, request, running_app

pytestmark = pytest.mark.anyio

APP = "https://app.example"
CORS = {"cors": {"allow_origins": [APP], "max_age": 120}}


def _names(value: bytes) -> set[str]:
    return {name.strip().lower() for name in value.decode().split(",")}


async def test_a_preflight_from_an_allowed_origin_is_answered() -> None:
    async with running_app(CORS) as app:
        asked = {"origin": APP, "access-control-request-method": "POST"}
        answer = await request(app, "OPTIONS", "/mcp", headers=asked)
    assert answer.status == 204
    assert answer.headers[b"access-control-allow-origin"] == APP.encode()
    assert {"post", "get", "delete"} <= _names(answer.headers[b"access-control-allow-methods"])
    allowed = _names(answer.headers[b"access-control-allow-headers"])
    wanted = {"authorization", "mcp-session-id", "mcp-protocol-version", "last-event-id"}
    assert wanted | {"mcp-method", "mcp-name", "content-type"} <= allowed
    assert answer.headers[b"access-control-max-age"] == b"120"
    assert b"access-control-allow-credentials" not in answer.headers


async def test_a_preflight_from_another_origin_is_refused() -> None:
    async with running_app(CORS) as app:
        asked = {"origin": "https://evil.example", "access-control-request-method": "POST"}
        answer = await request(app, "OPTIONS", "/mcp", headers=asked)
    assert answer.status == 403
    assert b"access-control-allow-origin" not in answer.headers


async def test_an_allowed_origin_is_served_and_may_read_the_session_id() -> None:
    async with running_app({**CORS, "cors": {**CORS["cors"], "allow_credentials": True}}) as app:
        answer = await request(app, "POST", "/mcp", INIT, headers={"origin": APP})
        assert answer.status == 200 and b"mcp-session-id" in answer.headers
        assert answer.headers[b"access-control-allow-origin"] == APP.encode()
        assert answer.headers[b"access-control-allow-credentials"] == b"true"
        exposed = _names(answer.headers[b"access-control-expose-headers"])
        assert {"mcp-session-id", "mcp-protocol-version", "www-authenticate"} <= exposed
        assert b"origin" in answer.headers[b"vary"].lower()
        foreign = await request(app, "POST", "/mcp", INIT, headers={"origin": "https://x.test"})
        assert foreign.status == 403  # the DNS-rebinding check still refuses other origins
        assert b"access-control-allow-origin" not in foreign.headers
        plain = await request(app, "POST", "/mcp", INIT)  # not a browser: nothing added
        assert plain.status == 200 and b"access-control-allow-origin" not in plain.headers


async def test_without_cors_a_foreign_origin_is_refused_and_no_preflight_is_answered() -> None:
    async with running_app({}) as app:
        answer = await request(app, "POST", "/mcp", INIT, headers={"origin": APP})
        assert answer.status == 403
        asked = {"origin": APP, "access-control-request-method": "POST"}
        preflight = await request(app, "OPTIONS", "/mcp", headers=asked)
        assert preflight.status == 403 and b"access-control-allow-origin" not in preflight.headers


async def test_allowed_origins_alone_serve_without_cors_headers() -> None:
    async with running_app({"allowed_origins": [APP]}) as app:
        answer = await request(app, "POST", "/mcp", INIT, headers={"origin": APP})
    assert answer.status == 200 and b"access-control-allow-origin" not in answer.headers


async def test_any_origin_without_credentials() -> None:
    async with running_app({"cors": {"allow_origins": ["*"]}}) as app:
        answer = await request(app, "POST", "/mcp", INIT, headers={"origin": "https://any.test"})
    assert answer.status == 200
    assert answer.headers[b"access-control-allow-origin"] == b"https://any.test"


@pytest.mark.parametrize(
    ("cors", "problem"),
    [
        ({"allow_origins": ["*"], "allow_credentials": True}, "allow_credentials"),
        ({"allow_origins": ["https://app.example/path"]}, "scheme://host"),
        ({"allow_origins": []}, "allow_origins"),
        ({"allow_origins": [APP], "expose": ["x"]}, "expose"),
    ],
)
def test_bad_cors_config_names_the_key(cors: dict[str, object], problem: str) -> None:
    data = {
        "servers": {"tiny": {"command": "/bin/sh", "args": [str(TINY)]}},
        "front": {"cors": cors},
    }
    with pytest.raises(ConfigError) as info:
        parse_config(data, "only1mcp.yaml")
    assert "front.cors" in str(info.value) and problem in str(info.value)
