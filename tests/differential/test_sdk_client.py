"""The full scenario set with the official SDK client (``mcp`` 2.3 ``Client``), in both modes.

For every server, transport and mode (``legacy``: the initialize handshake; ``auto``: probe
``server/discover``, use 2026-07-28 where the server speaks it) the client runs every scenario
the server offers, once against the server itself and once through Only1MCP, each in one client
session; each scenario's normalized observation must be equal. A known difference is an
``xfail(strict=True)`` in ``known.py`` with the exact difference as its reason.
"""

from __future__ import annotations

import warnings
from typing import Any

import mcp_types
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPDeprecationWarning

from .conftest import Matrix, Served
from .known import compare, known_difference
from .normalize import Naming, difference, direct_view, through_view
from .published import PUBLISHED_SCENARIOS
from .scenarios import FIXTURE_SCENARIOS, Events, Run, run_scenario
from .servers import SERVERS

SCENARIOS = {**FIXTURE_SCENARIOS, **PUBLISHED_SCENARIOS}
MODES = ("auto", "legacy")
CLIENT_INFO = mcp_types.Implementation(name="differential-client", version="1.0.0")


def cells() -> list[Any]:
    params = []
    for spec in SERVERS:
        for mode in MODES:  # outer: each (server, mode) has its own processes
            for transport in spec.transports:
                for scenario in SCENARIOS:
                    if scenario not in spec.scenarios:
                        continue
                    cell = (spec.name, transport, mode, scenario)
                    marks = known_difference("sdk", *cell)
                    params.append(pytest.param(cell, id="-".join(cell), marks=marks))
    return params


async def observe(matrix: Matrix, server: str, transport: str, mode: str, side: str) -> Any:
    """Every scenario of ``server`` in one client session (memoized for the session)."""
    key = (server, transport, mode, side)
    if key not in matrix.observed:
        served = matrix.served(server, mode)
        target, naming = served.direct(transport) if side == "direct" else served.through(transport)
        # the filesystem server serves the client's roots: point them at its files
        events = Events(roots=[mcp_types.Root(uri=f"file://{served.workdir}/files")])
        found: dict[str, Any] = {}
        with warnings.catch_warnings():
            # logging, roots, sampling and resources/subscribe are deprecated as of 2026-07-28
            # (SEP-2577); the suite drives them on purpose, at the handshake era
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            found = await run_all(served, target, naming, mode, events, matrix.page_url)
        matrix.observed[key] = {
            name: direct_view(raw) if side == "direct" else through_view(raw, naming)
            for name, raw in found.items()
        }
    return matrix.observed[key]


async def run_all(
    served: Served, target: Any, naming: Naming, mode: str, events: Events, page_url: str
) -> dict[str, Any]:
    found: dict[str, Any] = {}
    async with Client(
        target,
        mode=mode,
        cache=None,
        read_timeout_seconds=30,
        client_info=CLIENT_INFO,
        **events.client_options(),
    ) as client:
        run = Run(client, served.spec, naming, events, page_url, served.workdir)
        for name, scenario in SCENARIOS.items():
            if name in served.spec.scenarios:
                found[name] = await run_scenario(run, scenario)
    return found


@pytest.mark.anyio
@pytest.mark.parametrize("cell", cells())
async def test_same_answer(matrix: Matrix, cell: tuple[str, str, str, str]) -> None:
    server, transport, mode, scenario = cell
    direct = await observe(matrix, server, transport, mode, "direct")
    through = await observe(matrix, server, transport, mode, "through")
    compare(("sdk", *cell), direct[scenario], through[scenario], difference)
