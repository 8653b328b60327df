"""``only1mcp start`` with authentication on, driven by the official ``mcp`` SDK client and raw
HTTP: 401s and their challenge, the metadata documents, calls with a JWT and with an API key,
and no token passthrough (the HTTP backend sees only its own client-credentials token)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
import yaml
from backends.conftest import ThreadServer
from e2e.conftest import HttpAggregator, free_port, fx_stdio_server, run_cli, venv_bin
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from starlette.applications import Starlette

from only1mcp.config.auth import hash_key

from .idp import BACKEND_CLIENT, BACKEND_SECRET, ISSUER, Idp, SigningKey, claims

pytestmark = pytest.mark.anyio
RESOURCE = "http://only1mcp.test/mcp"
META = "http://only1mcp.test/.well-known/oauth-protected-resource/mcp"
ALICE_KEY = "alice-key-0123456789abcdef"
# Deny by default once auth is on: `dev` (the key's and the token's role) may call all.
ACCESS = {"roles": {"dev": {"tools": ["*"]}, "viewer": {"tools": ["fx__*"]}}}


# Deny by default once auth is on: `dev` (the key's and the token's role) may call all.
ACCESS = {"roles": {"dev": {"tools": ["*"]}, "viewer": {"tools": ["fx__*"]}}}


def auth_config(idp_url: str) -> dict[str, Any]:
    return {
        "modes": ["api_key", "jwt"],
        "resource": RESOURCE,
        "authorization_servers": [ISSUER],
        "scopes_supported": ["dev", "viewer"],
        "api_keys": [{"name": "alice", "hash": hash_key(ALICE_KEY), "roles": ["dev"]}],
        "jwt": {"issuer": ISSUER, "jwks_url": f"{idp_url}/jwks", "algorithms": ["RS256"]},
    }


@pytest.fixture(scope="module")
def aggregator(
    idp_server: tuple[Idp, ThreadServer[Starlette]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HttpAggregator]:
    idp_url = idp_server[1].url("")
    work = tmp_path_factory.mktemp("auth-e2e")
    config = {
        "servers": {
            "fx": fx_stdio_server(),
            "plain": {"url": f"{idp_url}/plain/mcp", "protocol": "handshake"},
            "who": {
                "url": f"{idp_url}/mcp",
                "protocol": "handshake",
                "oauth": {
                    "token_url": f"{idp_url}/token",
                    "client_id": BACKEND_CLIENT,
                    "client_secret": BACKEND_SECRET,
                    "scope": "mcp",
                },
            },
        },
        "auth": auth_config(idp_url),
        "audit": {"path": str(work / "audit.log")},
        "access": ACCESS,
    }
    path = work / "only1mcp.yaml"
    path.write_text(yaml.safe_dump(config))
    running = HttpAggregator(path, work / "only1mcp.log")
    running.wait_healthy()
    yield running
    problems = running.stop()
    assert not problems, problems


@contextlib.asynccontextmanager
async def sdk_client(
    url: str, headers: dict[str, str], mode: str = "legacy"
) -> AsyncIterator[Client]:
    """The SDK client over an HTTP client that sends ``headers`` (closed by us: the SDK does
    not own an HTTP client it is given); ``auto`` negotiates the 2026-07-28 era."""
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode, cache=None) as client,
    ):
        yield client


async def test_no_token_is_a_401_with_the_challenge(aggregator: HttpAggregator) -> None:
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
    async with httpx.AsyncClient() as http:
        response = await http.post(aggregator.url, json=init)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        f'Bearer resource_metadata="{META}", scope="dev viewer"'
    )
    assert response.json()["error"] == {"code": -32000, "message": "Unauthorized: no credentials"}


async def test_every_front_needs_a_token(aggregator: HttpAggregator) -> None:
    stateless = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/list",
        "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}},
    }
    async with httpx.AsyncClient(base_url=aggregator.base) as http:
        legacy = await http.get("/sse")
        messages = await http.post("/messages?session_id=x", content=b"{}")
        modern = await http.post(
            "/mcp",
            json=stateless,
            headers={"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list"},
        )
    for response in (legacy, messages, modern):
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer resource_metadata=")


async def test_a_refusal_is_audited_without_the_credential(aggregator: HttpAggregator) -> None:
    async with httpx.AsyncClient() as http:
        await http.post(aggregator.url, headers={"X-API-Key": "guessed-key-0123456789"})
    audit = aggregator.config.parent / "audit.log"
    deadline = time.monotonic() + 5
    while "unknown API key" not in (audit.read_text() if audit.exists() else ""):
        assert time.monotonic() < deadline, "no audit line"
        time.sleep(0.05)
    text = audit.read_text()
    assert "guessed-key" not in text
    line = next(x for x in text.splitlines() if "unknown API key" in x)
    assert '"event":"authentication"' in line and '"decision":"deny"' in line
    assert '"client":"127.0.0.1"' in line


async def test_the_metadata_and_healthz_need_no_token(aggregator: HttpAggregator) -> None:
    async with httpx.AsyncClient(base_url=aggregator.base) as http:
        for path in (
            "/.well-known/oauth-protected-resource",
            "/.well-known/oauth-protected-resource/mcp",
        ):
            doc = (await http.get(path)).json()
            assert doc["resource"] == RESOURCE
            assert doc["authorization_servers"] == [ISSUER]
            assert doc["bearer_methods_supported"] == ["header"]
        health = await http.get("/healthz")
    assert health.status_code == 200


async def test_a_refused_token_and_a_query_token(
    aggregator: HttpAggregator, idp: Idp, rsa_key: SigningKey
) -> None:
    expired = rsa_key.sign(claims(RESOURCE, exp=1_000_000))
    foreign = rsa_key.sign(claims("http://other.test/mcp"))
    good = rsa_key.sign(claims(RESOURCE))
    async with httpx.AsyncClient() as http:
        for value, url in [
            (expired, aggregator.url),
            (foreign, aggregator.url),
            (good, f"{aggregator.url}?access_token={good}"),
        ]:
            response = await http.post(
                url, headers={"Authorization": f"Bearer {value}"}, content=b"{}"
            )
            assert response.status_code == 401
            assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_the_sdk_client_with_a_jwt_and_no_token_passthrough(
    aggregator: HttpAggregator, idp: Idp, rsa_key: SigningKey
) -> None:
    token = rsa_key.sign(claims(RESOURCE, roles=["dev"]))
    async with sdk_client(aggregator.url, {"Authorization": f"Bearer {token}"}) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"fx__echo", "who__whoami"} <= names
        echoed = await client.call_tool("fx__echo", {"text": "hi"})
        assert echoed.content[0].text == "hi"  # type: ignore[union-attr]
        seen = await client.call_tool("who__whoami", {})
        plain = await client.call_tool("plain__whoami", {})
    assert plain.content[0].text == ""  # type: ignore[union-attr]
    authorization = seen.content[0].text  # type: ignore[union-attr]
    # The backend got Only1MCP's own token from the client-credentials grant, never the client's.
    assert authorization.startswith("Bearer backend-")
    assert idp.issued == [authorization.removeprefix("Bearer ")]  # fetched once, then cached
    assert idp.mcp_headers, "the backend saw no request"
    for headers in idp.mcp_headers:
        assert token not in str(headers)
        assert "x-api-key" not in headers
        if headers[":path"] == "/plain/mcp":  # no oauth: no Authorization at all
            assert "authorization" not in headers
        else:
            assert headers["authorization"].startswith("Bearer backend-")


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_the_sdk_client_with_an_api_key(
    aggregator: HttpAggregator, idp: Idp, mode: str
) -> None:
    async with sdk_client(aggregator.url, {"X-API-Key": ALICE_KEY}, mode) as client:
        seen = await client.call_tool("who__whoami", {})
    assert ALICE_KEY not in str(idp.mcp_headers)
    assert seen.content[0].text.startswith("Bearer backend-")  # type: ignore[union-attr]


def test_a_non_loopback_bind_without_auth_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "open.yaml"
    path.write_text(yaml.safe_dump({"servers": {"fx": fx_stdio_server()}}))
    refused = run_cli(["start", "--config", str(path), "--host", "0.0.0.0"], tmp_path)
    assert refused.returncode == 2, refused.describe()
    assert "--i-know-this-is-open" in refused.stderr


@pytest.mark.parametrize("auth", ["on", "open"])
def test_a_non_loopback_bind_with_auth_or_the_flag(
    tmp_path: Path, idp_server: tuple[Idp, ThreadServer[Starlette]], auth: str
) -> None:
    config: dict[str, Any] = {"servers": {"fx": fx_stdio_server()}}
    flags = ["--i-know-this-is-open"] if auth == "open" else []
    if auth == "on":
        config["auth"] = auth_config(idp_server[1].url(""))
        config["access"] = ACCESS
    path = tmp_path / "exposed.yaml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    argv = [venv_bin("only1mcp"), "start", "--config", str(path), "--host", "0.0.0.0"]
    proc = subprocess.Popen(
        [*argv, "--port", str(port), *flags], stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        status = _wait_status(f"http://127.0.0.1:{port}/mcp", proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert status is not None, err.decode()
    assert status == (401 if auth == "on" else 405)  # 405: let in (a GET without a session)
    assert ("WITHOUT AUTHENTICATION" in err.decode()) == (auth == "open")


def _wait_status(url: str, proc: subprocess.Popen[bytes]) -> int | None:
    """The status of a GET at ``url`` once the server answers; None if it exited first."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None
        try:
            return httpx.get(url).status_code
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("only1mcp start did not answer")
