"""``only1mcp status``: the running aggregator's servers, sessions and generation, from its
admin API (``/api/overview``, ``/api/servers``, ``/api/sessions``), as tables or raw JSON."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from .admin_client import (
    DEFAULT_ADMIN,
    AdminClient,
    AdminError,
    AdminOption,
    ApiKeyOption,
    TokenOption,
)

LAST_ERROR_WIDTH = 60


def snapshot(client: AdminClient) -> dict[str, Any]:
    """What ``status`` shows, as the admin API answers it."""
    return {
        "overview": client.get("/api/overview"),
        "servers": client.get("/api/servers")["servers"],
        "sessions": client.get("/api/sessions"),
    }


def headline(overview: dict[str, Any]) -> str:
    parts = [
        f"only1mcp {overview.get('version', '?')}",
        f"up {overview.get('uptime_s', 0):.0f}s",
        f"servers {overview.get('servers_up', 0)}/{overview.get('servers', 0)} up",
        f"{overview.get('sessions', 0)} sessions",
        f"{overview.get('tools', 0)} tools",
    ]
    config = overview.get("config") or {}
    if "generation" in config:  # each successful hot reload is a new generation
        parts.append(f"config generation {config['generation']}")
    parts.append(f"log level {overview.get('log_level', '?')}")
    return " · ".join(parts)


def last_reload(overview: dict[str, Any]) -> str | None:
    """How the last reload went, when there was one."""
    last = (overview.get("config") or {}).get("last_reload")
    if not last:
        return None
    how = f"last reload ({last.get('trigger', '?')}): "
    if not last.get("ok"):
        return how + f"[red]failed[/red], the running config stays: {last.get('error', '')}"
    changes = last.get("changes") or {}
    changed = ", ".join(f"{kind} {', '.join(names)}" for kind, names in changes.items() if names)
    return how + f"ok, generation {last.get('generation')}" + (f" ({changed})" if changed else "")


def servers_table(servers: list[dict[str, Any]]) -> Table:
    table = Table("server", "transport", "state", "replicas", "breaker", "restarts", "tools")
    table.add_column("last error", overflow="fold", max_width=LAST_ERROR_WIDTH)
    for server in servers:
        replicas = server.get("replicas") or []
        up = sum(replica.get("state") == "ready" for replica in replicas)
        state = str(server.get("state"))
        table.add_row(
            str(server.get("name")),
            str(server.get("transport", "")),
            f"[green]{state}[/green]" if state == "ready" else f"[red]{state}[/red]",
            f"{up}/{len(replicas)}" if replicas else "-",
            str(server.get("breaker") or "-"),
            str(server.get("restarts", 0)),
            str(server.get("tools", 0)),
            str(server.get("last_error") or ""),
        )
    return table


def sessions_line(sessions: dict[str, Any]) -> str:
    by_era = ", ".join(f"{era} {n}" for era, n in (sessions.get("by_era") or {}).items())
    by_version = ", ".join(f"{v}: {n}" for v, n in (sessions.get("by_version") or {}).items())
    line = f"sessions: {sessions.get('count', 0)} ({by_era})"
    return f"{line}; by revision {by_version}" if by_version else line


def status(
    admin: AdminOption = DEFAULT_ADMIN,
    api_key: ApiKeyOption = None,
    token: TokenOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw JSON.")] = False,
) -> None:
    """Show the running aggregator's servers and sessions.

    From its admin listener: each server's state, replicas, breaker, restarts and last error;
    the sessions by era and revision; the config generation."""
    try:
        found = snapshot(AdminClient(admin, api_key, token))
    except AdminError as exc:
        Console(stderr=True, highlight=False, soft_wrap=True).print(f"[red]status:[/red] {exc}")
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(orjson.dumps(found, option=orjson.OPT_INDENT_2).decode())
        return
    out = Console(highlight=False, soft_wrap=True)
    out.print(headline(found["overview"]))
    if reload := last_reload(found["overview"]):
        out.print(reload, markup=True)
    out.print(servers_table(found["servers"]))
    out.print(sessions_line(found["sessions"]))
