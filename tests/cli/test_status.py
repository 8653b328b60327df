"""``only1mcp status``'s lines from the admin API's answers (a live listener is in
test_first_run.py)."""

from __future__ import annotations

from only1mcp.terminal.status import headline, last_reload, sessions_line

OVERVIEW = {
    "version": "0.1.0",
    "uptime_s": 12.3,
    "servers": 3,
    "servers_up": 2,
    "sessions": 4,
    "tools": 17,
    "log_level": "info",
    "config": {"file": "only1mcp.yaml", "generation": 2, "last_reload": None},
}


def test_headline() -> None:
    assert headline(OVERVIEW) == (
        "only1mcp 0.1.0 · up 12s · servers 2/3 up · 4 sessions · 17 tools · "
        "config generation 2 · log level info"
    )
    assert last_reload(OVERVIEW) is None


def test_last_reload() -> None:
    ok = {"ok": True, "trigger": "file", "generation": 2, "changes": {"added": ["web"]}}
    failed = {"ok": False, "trigger": "sighup", "error": "only1mcp.yaml: servers.x: bad"}
    config = OVERVIEW["config"]
    assert isinstance(config, dict)
    shown = last_reload({**OVERVIEW, "config": {**config, "last_reload": ok}})
    assert shown == "last reload (file): ok, generation 2 (added web)"
    shown = last_reload({**OVERVIEW, "config": {**config, "last_reload": failed}})
    assert shown is not None and "failed" in shown and "servers.x: bad" in shown


def test_sessions_line() -> None:
    sessions = {
        "count": 3,
        "by_era": {"handshake": 2, "stateless": 1},
        "by_version": {"2025-11-25": 2, "2026-07-28": 1},
    }
    assert sessions_line(sessions) == (
        "sessions: 3 (handshake 2, stateless 1); by revision 2025-11-25: 2, 2026-07-28: 1"
    )
