"""The official ``mcp`` SDK client against Only1MCP with auth on: a bearer token from the
provider on both protocol eras and on the legacy ``/sse`` front, the listings filtered per
principal, and the SDK's own OAuth client-credentials flow discovering the provider through
Only1MCP's RFC 9728 metadata (401 → protected resource metadata → authorization server
metadata → token with ``resource`` → retry)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import anyio
import httpx2
import jwt
import pytest
from mcp import Client
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.session import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from mcp.shared.exceptions import MCPError

from .gateway import HANDSHAKE, VIEWER_TOOLS, Gateway, bearer
from .idp import CLIENTS, IdentityProvider

MODERN = "2026-07-28"
MODES = {"legacy": HANDSHAKE, "auto": MODERN}
"""The SDK client's ``mode`` and the protocol revision it ends up speaking to Only1MCP."""
DEADLINE = 30.0

pytestmark = pytest.mark.anyio


class MemoryTokens:
    """The SDK's ``TokenStorage``, in memory: the test reads back the token the flow got."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


@contextlib.asynccontextmanager
async def sdk_client(
    gw: Gateway, mode: str, token: str | None = None, auth: httpx2.Auth | None = None
) -> AsyncIterator[Client]:
    """An SDK ``Client`` over Streamable HTTP, sending ``token`` as a bearer or authenticating
    through ``auth``."""
    headers = bearer(token) if token is not None else None
    async with (
        create_mcp_http_client(headers=headers, auth=auth) as http,
        Client(
            streamable_http_client(gw.url, http_client=http),
            mode=mode,
            cache=None,
            read_timeout_seconds=DEADLINE,
        ) as client,
    ):
        yield client


async def tool_names(client: Client | ClientSession) -> set[str]:
    with anyio.fail_after(DEADLINE):
        return {tool.name for tool in (await client.list_tools()).tools}


@pytest.mark.parametrize("mode", list(MODES))
async def test_bearer_token_on_both_eras(gw: Gateway, mode: str) -> None:
    async with sdk_client(gw, mode, gw.token("alice")) as client:
        assert client.protocol_version == MODES[mode]
        assert {"fx__echo", "fx__pid", "fx__sleep"} <= await tool_names(client)
        with anyio.fail_after(DEADLINE):
            result = await client.call_tool("fx__echo", {"text": f"sdk {mode}"})
        assert [c.text for c in result.content if hasattr(c, "text")] == [f"sdk {mode}"]


@pytest.mark.parametrize("mode", list(MODES))
async def test_listing_is_filtered_per_principal(gw: Gateway, mode: str) -> None:
    async with sdk_client(gw, mode, gw.token("bob")) as client:
        assert await tool_names(client) == VIEWER_TOOLS
        with anyio.fail_after(DEADLINE), pytest.raises(MCPError):
            await client.call_tool("fx__pid", {})
    async with sdk_client(gw, mode, gw.token("carol")) as client:
        assert await tool_names(client) == set()


@pytest.mark.parametrize("mode", list(MODES))
async def test_sdk_client_without_a_token_is_refused(gw: Gateway, mode: str) -> None:
    with anyio.fail_after(DEADLINE), pytest.raises(Exception) as caught:
        async with sdk_client(gw, mode) as client:
            await client.list_tools()
    assert "401" in repr(caught.value) or "Unauthorized" in repr(caught.value), caught.value


@contextlib.asynccontextmanager
async def sse_session(gw: Gateway, token: str) -> AsyncIterator[ClientSession]:
    async with (
        sse_client(f"{gw.base}/sse", headers=bearer(token)) as (read, write),
        ClientSession(read, write) as session,
    ):
        with anyio.fail_after(DEADLINE):
            await session.initialize()
        yield session


async def test_legacy_sse_front_with_bearer_filters_per_principal(gw: Gateway) -> None:
    async with sse_session(gw, gw.token("alice")) as session:
        assert "fx__pid" in await tool_names(session)
    async with sse_session(gw, gw.token("bob")) as session:
        assert await tool_names(session) == VIEWER_TOOLS
    with anyio.fail_after(DEADLINE), pytest.raises(Exception) as caught:
        async with sse_session(gw, "not-a-token-7f3a"):
            pass
    assert "401" in repr(caught.value), caught.value


@pytest.mark.parametrize("mode", list(MODES))
async def test_sdk_oauth_discovery_gets_a_token_for_this_resource(
    gw: Gateway, idp: IdentityProvider, mode: str
) -> None:
    alice = CLIENTS["alice"]
    storage = MemoryTokens()
    provider = ClientCredentialsOAuthProvider(
        server_url=gw.url,
        storage=storage,
        client_id=alice.client_id,
        client_secret=alice.secret,
        issuer=idp.issuer,
    )
    async with sdk_client(gw, mode, auth=provider) as client:
        assert client.protocol_version == MODES[mode]
        assert "fx__pid" in await tool_names(client)
    assert storage.tokens is not None
    claims = jwt.decode(storage.tokens.access_token, options={"verify_signature": False})
    assert claims["iss"] == idp.issuer
    assert claims["aud"] == gw.resource
    assert claims["sub"] == "alice"
