"""The admin API as the command line reaches it: ``only1mcp status`` and ``only1mcp tools
--admin`` (docs/admin.md).

Credentials as the admin listener takes them: an API key (``X-API-Key``) or a bearer token.
Every failure becomes one :class:`AdminError` that says which URL and what to do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer

if TYPE_CHECKING:
    # Loaded by the commands that call the admin API: ``only1mcp start`` imports this module
    # for its options, and httpx (with its CLI's pygments and rich) is ~0.1 s and ~4 MB.
    import httpx

#: Where ``admin:`` listens unless the config says otherwise.
DEFAULT_ADMIN = "http://127.0.0.1:8766"
TIMEOUT = 10.0

AdminOption = Annotated[
    str,
    typer.Option(
        "--admin",
        envvar="ONLY1MCP_ADMIN",
        help="Base URL of the running aggregator's admin listener.",
    ),
]
ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key", envvar="ONLY1MCP_ADMIN_KEY", help="An API key for the admin listener."
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token", envvar="ONLY1MCP_ADMIN_TOKEN", help="A bearer token for the admin listener."
    ),
]


class AdminError(Exception):
    """The admin API could not answer; the message says where and what to do."""


class AdminClient:
    """GETs against one admin listener."""

    def __init__(self, url: str, api_key: str | None = None, token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self._headers = {"Accept": "application/json"}
        if api_key:
            self._headers["X-API-Key"] = api_key
        if token:
            self._headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str) -> Any:
        """The decoded JSON of ``GET {url}{path}``."""
        import httpx

        target = f"{self.url}{path}"
        try:
            response = httpx.get(target, headers=self._headers, timeout=TIMEOUT)
        except httpx.InvalidURL as exc:
            raise AdminError(f"--admin {self.url!r} is not a URL: {exc}") from exc
        except httpx.TransportError as exc:
            raise AdminError(_unreachable(self.url, exc)) from exc
        if response.status_code == 401:
            raise AdminError(
                f"{target}: 401, the admin listener needs credentials: pass --api-key KEY "
                "or --token TOKEN (or set ONLY1MCP_ADMIN_KEY / ONLY1MCP_ADMIN_TOKEN)"
            )
        if response.status_code == 403:
            raise AdminError(
                f"{target}: 403, {_detail(response)}: the credentials need one of the roles "
                "in the config's admin.roles (and a loopback Origin/Host)"
            )
        if response.status_code == 404:
            raise AdminError(
                f"{target}: 404: is {self.url} the admin listener (admin.host:admin.port, "
                f"default {DEFAULT_ADMIN}), not the MCP endpoint?"
            )
        if response.status_code != 200:
            raise AdminError(f"{target}: HTTP {response.status_code}, {_detail(response)}")
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise AdminError(
                f"{target} did not answer JSON: is {self.url} an Only1MCP admin listener "
                "(not its MCP endpoint)?"
            ) from exc


def _unreachable(url: str, exc: httpx.TransportError) -> str:
    import httpx

    why = "timed out" if isinstance(exc, httpx.TimeoutException) else str(exc) or type(exc).__name__
    return (
        f"cannot reach the admin listener at {url} ({why}). Is `only1mcp start` running, with "
        f"`admin.enabled` (the default) on this address? Pass --admin URL (the config's "
        f"admin.host and admin.port) for another one."
    )


def _detail(response: httpx.Response) -> str:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.reason_phrase or "no detail"
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("error") or body)
    return str(body)
