"""``only1mcp start``'s progress: live lines on a terminal, log lines otherwise, then the
summary table (the e2e test in test_first_run.py sees it in a real start's log)."""

from __future__ import annotations

import io
import logging
import time

import pytest
from rich.console import Console

from only1mcp.terminal.progress import StartProgress

TRANSPORTS = {"fx": "stdio", "web": "http"}


def console(terminal: bool) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=terminal, width=100), out


def run(progress: StartProgress, pause: float = 0.0) -> None:
    progress.starting("fx")
    progress.starting("web")
    time.sleep(pause)  # the live lines redraw several times a second, from their own thread
    progress.started("fx", "ready", "", 11)
    progress.started("web", "down", "server 'web' is down: connection refused", 0)
    progress.finished()


def test_plain_lines_then_table(caplog: pytest.LogCaptureFixture) -> None:
    con, out = console(terminal=False)
    with caplog.at_level(logging.INFO, logger="only1mcp.start"):
        run(StartProgress(con, TRANSPORTS))
    logged = [record.getMessage() for record in caplog.records]
    assert "server 'fx' (stdio): starting" in logged
    assert any(line.startswith("server 'fx': ready in") and "11 tools" in line for line in logged)
    assert any("server 'web': down after" in line and "refused" in line for line in logged)
    table = out.getvalue()
    assert "1 of 2 servers up" in table
    fx = next(line for line in table.splitlines() if "│ fx " in line)
    assert "stdio" in fx and "ready" in fx and "11" in fx
    assert "connection refused" in table
    assert "\x1b[" not in table  # no terminal: no escape codes


def test_live_lines_on_a_terminal(caplog: pytest.LogCaptureFixture) -> None:
    con, out = console(terminal=True)
    with caplog.at_level(logging.INFO, logger="only1mcp.start"):
        run(StartProgress(con, TRANSPORTS), pause=0.5)
    assert not caplog.records  # the live lines replace the log lines
    shown = out.getvalue()
    assert "fx" in shown and "starting" in shown and "✓" in shown and "✗" in shown
    assert "1 of 2 servers up" in shown


def test_no_table_with_json_logs() -> None:
    con, out = console(terminal=False)
    run(StartProgress(con, TRANSPORTS, live=False, table=False))
    assert out.getvalue() == ""
