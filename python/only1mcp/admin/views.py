"""What the admin API and the dashboard show: JSON-ready snapshots of the running gateway.

Read-only: each function reads the gateway's parts as they are now. Session ids are bearer
secrets of their clients, so only a short prefix of each is shown.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from only1mcp import __version__
from only1mcp.backends import Backend, BackendState
from only1mcp.backends.server import ServerBackend
from only1mcp.config import PoolServerConfig
from only1mcp.gateway import Gateway
from only1mcp.protocol.stateless import STATELESS_REVISIONS
from only1mcp.session import Session

SESSION_ID_SHOWN = 8
SESSIONS_LISTED = 100
STARTED = time.time()


def overview(gateway: Gateway) -> dict[str, Any]:
    """The process at a glance."""
    states = [b.state for b in gateway.backends.values()]
    return {
        "version": __version__,
        "uptime_s": round(time.time() - STARTED, 1),
        "ready": gateway.ready.is_set(),
        "servers": len(gateway.config.servers),
        "servers_up": sum(state is BackendState.READY for state in states),
        "sessions": len(gateway.sessions),
        "tools": len(gateway.catalogs["tools"].merged()),
        "log_level": logging.getLevelName(logging.getLogger().getEffectiveLevel()).lower(),
    }


def servers(gateway: Gateway) -> list[dict[str, Any]]:
    """Every configured server, running or not, in file order."""
    return [server(gateway, name) for name in gateway.config.servers]


def server(gateway: Gateway, name: str) -> dict[str, Any]:
    """One configured server: its state, health, breaker, last error, restarts, replicas."""
    config = gateway.config.servers[name]
    transport = "pool" if isinstance(config, PoolServerConfig) else str(config.transport)
    backend = gateway.backends.get(name)
    tools = len(gateway.catalogs["tools"].items.get(name, ()))
    base: dict[str, Any] = {"name": name, "transport": transport, "tools": tools}
    if backend is None:
        state = "disabled" if name in gateway.disabled else "off"
        why = "disabled by an operator" if state == "disabled" else "enabled: false in the config"
        return base | _idle(state, why, gateway.restarts(name))
    return base | {
        **_instance(backend),
        "enabled": True,
        "era": "stateless" if backend.stateless else "handshake",
        "protocol_version": backend.version,
        "restarts": gateway.restarts(name),
        "replicas": [_instance(r) for r in getattr(backend, "replicas", ())],
    }


def _idle(state: str, why: str, restarts: int) -> dict[str, Any]:
    return {
        "state": state,
        "healthy": False,
        "breaker": None,
        "last_error": why,
        "pid": None,
        "enabled": False,
        "era": None,
        "protocol_version": None,
        "restarts": restarts,
        "replicas": [],
    }


def _instance(backend: Backend) -> dict[str, Any]:
    """What a server and each of its replicas report alike."""
    if isinstance(backend, ServerBackend):
        return {
            "name": backend.name,
            "state": backend.state.value,
            "healthy": backend.healthy,
            "breaker": backend.breaker.state,
            "last_error": backend.problem or backend.last_error,
            "pid": backend.pid,
            "restarts": backend.restarts,
        }
    return {
        "name": backend.name,
        "state": backend.state.value,
        "healthy": not backend.problem,
        "breaker": None,  # a pool's replicas have one each
        "last_error": backend.problem,
        "pid": None,
        "restarts": backend.restarts,
    }


def sessions(gateway: Gateway) -> dict[str, Any]:
    """The connected sessions: counts by era and revision, and the first few of them."""
    listed = list(gateway.sessions)
    by_era = {"handshake": 0, "stateless": 0}
    by_version: dict[str, int] = {}
    for session in listed:
        by_era[_era(session)] += 1
        by_version[session.protocol_version] = by_version.get(session.protocol_version, 0) + 1
    return {
        "count": len(listed),
        "by_era": by_era,
        "by_version": by_version,
        "sessions": [_session(s) for s in listed[:SESSIONS_LISTED]],
    }


def _era(session: Session) -> str:
    return "stateless" if session.protocol_version in STATELESS_REVISIONS else "handshake"


def _session(session: Session) -> dict[str, Any]:
    info = session.client_info
    client = " ".join(str(info.get(key, "")) for key in ("name", "version")).strip()
    return {
        "id": session.id[:SESSION_ID_SHOWN] + "…",
        "era": _era(session),
        "protocol_version": session.protocol_version,
        "client": client,
        "principal": session.principal.id,
        "initialized": session.initialized,
        "bridged": session.mirror is not None,
    }


def tools(gateway: Gateway) -> list[dict[str, Any]]:
    """The merged tool catalog as clients see it, with the server behind each tool."""
    catalog = gateway.catalogs["tools"]
    listed = []
    for tool in catalog.merged():
        entry = catalog.lookup(tool["name"])
        listed.append(
            {
                "name": tool["name"],
                "server": entry.server if entry else "",
                "description": str(tool.get("description") or ""),
                "inputSchema": tool.get("inputSchema") or {"type": "object"},
            }
        )
    return listed
