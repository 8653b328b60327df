"""Only1MCP as an OAuth resource server of the test identity provider: its config, its process,
and raw-HTTP helpers that check what an unauthenticated or refused request gets back."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from e2e.conftest import HttpAggregator, free_port, fx_stdio_server
from e2e.stateless_wire import headers_for, tools_call

from .idp import IdentityProvider

HANDSHAKE = "2025-11-25"
ACCEPT = "application/json, text/event-stream"
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": HANDSHAKE, "capabilities": {}, "clientInfo": {"name": "sec"}},
}
OTHER_RESOURCE = "http://127.0.0.1:1/other/mcp"
"""Another MCP resource the provider issues tokens for: its tokens must not open this one."""
INTROSPECTION_CACHE_TTL = 1.0
"""Seconds an introspection answer is reused: a revoked token stops working within it."""

#: The roles of the suite: ``viewer`` (bob) may echo and add, ``dev`` (alice) every fx tool.
ACCESS: dict[str, Any] = {
    "roles": {
        "viewer": {"tools": ["fx__echo", "fx__add"]},
        "dev": {"inherits": ["viewer"], "tools": ["fx__*"], "prompts": ["*"], "resources": ["*"]},
    }
}
VIEWER_TOOLS = {"fx__echo", "fx__add"}


@dataclass
class Gateway:
    """A running ``only1mcp start`` that requires tokens from ``idp`` for ``resource``."""

    agg: HttpAggregator
    idp: IdentityProvider
    resource: str

    @property
    def url(self) -> str:
        return self.agg.url

    @property
    def base(self) -> str:
        return self.agg.base

    @property
    def metadata_url(self) -> str:
        """RFC 9728 protected resource metadata, path-suffixed for ``/mcp``."""
        return f"{self.base}/.well-known/oauth-protected-resource/mcp"

    def token(self, client: str = "alice", scope: str | None = None) -> str:
        """A token of ``client`` for this gateway's resource."""
        return self.idp.token(client, scope, self.resource)


def auth_section(idp: IdentityProvider, resource: str, modes: Sequence[str]) -> dict[str, Any]:
    """``auth:`` for ``modes`` (``jwt`` and/or ``introspection``) with ``idp`` as the issuer."""
    auth: dict[str, Any] = {
        "modes": list(modes),
        "resource": resource,
        "authorization_servers": [idp.issuer],
        # What a client asks the provider for after a 401 (the challenge's scope).
        "scopes_supported": ["tools.read", "git.write"],
    }
    if "jwt" in modes:
        auth["jwt"] = {
            "issuer": idp.issuer,
            "audience": [resource],
            "algorithms": ["RS256"],
            "jwks_url": idp.jwks_uri,
            "leeway": 30,
            "role_claims": ["roles", "scope"],
        }
    if "introspection" in modes:
        auth["introspection"] = {
            "url": idp.introspection_endpoint,
            "client_id": "only1mcp",
            "client_secret": "only1mcp-secret",
            "cache_ttl": INTROSPECTION_CACHE_TTL,
            "cache_size": 100,
        }
    return auth


def write_secured_config(
    path: Path, idp: IdentityProvider, resource: str, modes: Sequence[str]
) -> Path:
    """An Only1MCP config: the fx fixture server behind ``modes`` auth and the suite's roles."""
    config = {
        "auth": auth_section(idp, resource, modes),
        "access": ACCESS,
        "servers": {"fx": fx_stdio_server()},
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@contextlib.contextmanager
def secured_gateway(
    idp: IdentityProvider, workdir: Path, modes: Sequence[str] = ("jwt",)
) -> Iterator[Gateway]:
    """``only1mcp start`` on a free port, its resource URL that port's ``/mcp``."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    config = write_secured_config(workdir / "only1mcp.yaml", idp, resource, modes)
    with serving(HttpAggregator(config, workdir / "only1mcp.log", port), idp, resource) as gw:
        yield gw


@contextlib.contextmanager
def serving(agg: HttpAggregator, idp: IdentityProvider, resource: str) -> Iterator[Gateway]:
    """``agg`` once healthy, as the gateway of ``resource``; on exit it must stop cleanly."""
    try:
        agg.wait_healthy()
        yield Gateway(agg, idp, resource)
    finally:
        problems = agg.stop()
    assert not problems, problems


# --------------------------------------------------------------------------- raw requests


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post(
    http: httpx.Client,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    """POST one JSON-RPC message with the headers its era needs (2026-07-28 when it carries the
    ``_meta`` envelope, else the handshake era's), plus ``headers``."""
    modern = "_meta" in (body.get("params") or {})
    era = headers_for(body) if modern else {"Accept": ACCEPT}
    return http.post(url, json=body, headers={**era, **(headers or {})}, params=params)


def modern_call(name: str = "fx__echo", text: str = "hi") -> dict[str, Any]:
    """A 2026-07-28 ``tools/call`` (stateless: no session, no handshake)."""
    return tools_call(name, {"text": text})


def assert_echoes(http: httpx.Client, gw: Gateway, token: str, text: str) -> None:
    """``token`` opens the gateway: a 2026 ``fx__echo`` call answers ``text``."""
    resp = post(http, gw.url, modern_call(text=text), bearer(token))
    assert resp.status_code == 200, resp.text
    assert resp.json()["result"]["content"][0]["text"] == text


def assert_unauthorized(resp: httpx.Response, gw: Gateway, *, presented: str | None = None) -> None:
    """A 401 as the MCP authorization spec asks: a Bearer challenge naming the resource
    metadata, ``error="invalid_token"`` when a token was refused, a JSON-RPC error body, and
    never the presented token echoed back."""
    assert resp.status_code == 401, (resp.status_code, resp.text)
    challenge = resp.headers["www-authenticate"]
    assert challenge.startswith("Bearer "), challenge
    assert f'resource_metadata="{gw.metadata_url}"' in challenge, challenge
    if presented is not None:
        assert 'error="invalid_token"' in challenge, challenge
        assert presented not in resp.text
        assert presented not in str(resp.headers)
    body = resp.json()
    assert body["jsonrpc"] == "2.0" and body["id"] is None, body
    assert body["error"]["code"] == -32000, body
    assert body["error"]["message"].startswith("Unauthorized"), body
