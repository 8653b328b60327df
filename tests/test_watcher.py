"""What triggers a reload (only1mcp.watcher): the config file saved in place or renamed over,
a ConfigMap-style ``..data`` swap, SIGHUP; not another file of the directory."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from only1mcp.watcher import ReloadTriggers

pytestmark = pytest.mark.anyio

WAIT = 5.0  # seconds a trigger may take (the debounce is 0.2 s)
QUIET = 0.8  # seconds in which nothing may fire


class Triggered:
    def __init__(self) -> None:
        self.seen: list[str] = []
        self.changed = asyncio.Event()

    async def reload(self, trigger: str) -> None:
        self.seen.append(trigger)
        self.changed.set()

    async def next(self) -> str:
        await asyncio.wait_for(self.changed.wait(), WAIT)
        self.changed.clear()
        return self.seen[-1]


@pytest.fixture
async def watching(tmp_path: Path) -> AsyncIterator[tuple[Path, Triggered]]:
    path = tmp_path / "only1mcp.yaml"
    path.write_text("servers: {}\n")
    triggered = Triggered()
    triggers = ReloadTriggers(str(path), triggered.reload)
    running = asyncio.ensure_future(triggers.run_beside())
    await asyncio.sleep(0.3)  # the watch is set up
    try:
        yield path, triggered
    finally:
        triggers.stop()
        await asyncio.wait_for(running, WAIT)
    assert signal.getsignal(signal.SIGHUP) == signal.SIG_DFL  # handed back


async def test_a_save_in_place_or_a_rename_over_the_file_reloads(
    watching: tuple[Path, Triggered],
) -> None:
    path, triggered = watching
    path.write_text("servers: {a: {}}\n")
    assert await triggered.next() == "file"
    replacement = path.with_name(".only1mcp.yaml.swp")
    replacement.write_text("servers: {b: {}}\n")
    replacement.rename(path)  # what editors do
    assert await triggered.next() == "file"
    (path.parent / "..data").write_text("")  # a Kubernetes ConfigMap's swap
    assert await triggered.next() == "file"


async def test_another_file_of_the_directory_does_not(watching: tuple[Path, Triggered]) -> None:
    path, triggered = watching
    (path.parent / "only1mcp.log").write_text("a line\n")
    await asyncio.sleep(QUIET)
    assert triggered.seen == []


async def test_sighup_reloads(watching: tuple[Path, Triggered]) -> None:
    _, triggered = watching
    assert signal.getsignal(signal.SIGHUP) != signal.SIG_DFL  # or SIGHUP would end pytest
    os.kill(os.getpid(), signal.SIGHUP)
    assert await triggered.next() == "sighup"
