"""``only1mcp start``'s view of its servers starting: a live line per server while they start
(on a terminal), plain log lines otherwise, then one summary table.

The gateway tells it how each start goes through the :class:`~only1mcp.gateway.StartWatch` it
is given at construction; this module only draws.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from only1mcp.config import Config, PoolServerConfig

log = logging.getLogger("only1mcp.start")

#: Redraws per second of the live lines.
REFRESH = 8


@dataclass(slots=True)
class _Start:
    began: float
    state: str = "starting"
    problem: str = ""
    tools: int = 0
    seconds: float | None = None

    def elapsed(self) -> float:
        return self.seconds if self.seconds is not None else time.monotonic() - self.began


class StartProgress:
    """A :class:`~only1mcp.gateway.StartWatch` that draws on ``console`` (stderr).

    ``transports``: server name → how it is reached (stdio, http, sse, pool), for the table.
    ``live``: draw live lines (default: when the console is a terminal); ``table``: print the
    summary table at the end (not with JSON logs, whose stream is one object per line).
    """

    def __init__(
        self,
        console: Console,
        transports: dict[str, str],
        live: bool | None = None,
        table: bool = True,
    ) -> None:
        self._console = console
        self._table = table
        self._transports = transports
        self._starts: dict[str, _Start] = {}
        self._live: Live | None = None
        if console.is_terminal if live is None else live:
            self._live = Live(
                get_renderable=self._lines,
                console=console,
                refresh_per_second=REFRESH,
                transient=True,  # the summary table takes the lines' place
                redirect_stdout=False,
                redirect_stderr=False,
            )

    def starting(self, server: str) -> None:
        self._starts[server] = _Start(time.monotonic())
        if self._live is None:
            log.info("server %r (%s): starting", server, self._transports.get(server, "?"))
        elif not self._live.is_started:
            self._live.start()

    def started(self, server: str, state: str, problem: str, tools: int) -> None:
        start = self._starts.setdefault(server, _Start(time.monotonic()))
        start.state, start.problem, start.tools = state, problem, tools
        start.seconds = time.monotonic() - start.began
        if self._live is not None:
            return
        if problem:
            log.warning("server %r: %s after %.1fs: %s", server, state, start.seconds, problem)
        else:
            log.info("server %r: %s in %.1fs, %d tools", server, state, start.seconds, tools)

    def finished(self) -> None:
        if self._live is not None and self._live.is_started:
            self._live.stop()
        if self._table and self._starts:
            self._console.print(self.summary())

    def _lines(self) -> RenderableType:
        lines: list[RenderableType] = []
        for server, start in self._starts.items():
            label = Text.assemble(
                (server, "bold"),
                f" ({self._transports.get(server, '?')}) ",
                _state_text(start.state),
                f" {start.elapsed():.1f}s",
            )
            if start.seconds is None:
                lines.append(Spinner("dots", label))
            else:
                lines.append(Text.assemble(_mark(start.state), " ", label))
        return Group(*lines)

    def summary(self) -> Table:
        """One row per server: transport, state, tools, start time, and why it is down."""
        up = sum(start.state == "ready" for start in self._starts.values())
        table = Table(title=f"{up} of {len(self._starts)} servers up", title_justify="left")
        for column in ("server", "transport", "state", "tools", "start"):
            table.add_column(column, justify="right" if column in ("tools", "start") else "left")
        problems = any(start.problem for start in self._starts.values())
        if problems:
            table.add_column("problem", overflow="fold")
        for server, start in self._starts.items():
            row: list[RenderableType] = [
                server,
                self._transports.get(server, "?"),
                _state_text(start.state),
                str(start.tools),
                f"{start.elapsed():.1f}s",
            ]
            table.add_row(*row, *([start.problem] if problems else []))
        return table


def _state_text(state: str) -> Text:
    return Text(state, style="green" if state == "ready" else "red")


def _mark(state: str) -> Text:
    return Text("✓", style="green") if state == "ready" else Text("✗", style="red")


def transports(config: Config) -> dict[str, str]:
    """Each enabled server → how it is reached: stdio, http, sse, or pool."""
    return {
        name: "pool" if isinstance(server, PoolServerConfig) else str(server.transport)
        for name, server in config.enabled_servers().items()
    }
