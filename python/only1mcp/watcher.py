"""What triggers a hot reload besides the admin API: the config file changing, and SIGHUP.

:class:`ReloadTriggers` runs beside the HTTP server in its event loop (a
:class:`~only1mcp.front.server.Companion`, like the admin listener) and calls its ``reload``
for each trigger. The file's directory is watched, not the file, because editors and config
management replace a file (write a temporary one, rename it over): a watch on the old inode
would see nothing after the first save. Changes are debounced, so one save that touches the
file several times is one reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import watchfiles

log = logging.getLogger("only1mcp.reload")

#: Milliseconds of quiet after a change before the reload (one save is often several writes).
DEBOUNCE_MS = 200
#: Milliseconds between two looks for more changes within the debounce.
STEP_MS = 50

# Reloads the config; the argument names the trigger ("file", "sighup").
Reload = Callable[[str], Awaitable[Any]]


class ReloadTriggers:
    """Watches ``path`` (when ``watch``) and SIGHUP, calling ``reload`` for each."""

    def __init__(self, path: str, reload: Reload, watch: bool = True) -> None:
        self.path = Path(path).absolute()
        self._reload = reload
        self._watch = watch
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    async def run_beside(self) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(signal.SIGHUP, self._fire, "sighup")
        try:
            if self._watch:
                await self._follow_file()
            else:
                await self._stop.wait()
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGHUP)

    def stop(self) -> None:
        self._stop.set()

    async def _follow_file(self) -> None:
        log.info("watching %s: a change reloads it (so does SIGHUP)", self.path)
        # Its own lines name every change in the directory, ours included when the log file
        # sits beside the config: at debug level each would log the next one.
        logging.getLogger("watchfiles").setLevel(logging.WARNING)
        async for _ in watchfiles.awatch(
            self.path.parent,
            watch_filter=self._is_the_file,
            debounce=DEBOUNCE_MS,
            step=STEP_MS,
            stop_event=self._stop,
            recursive=False,
        ):
            if self.path.exists():  # removed (or halfway through a rename): wait for it
                self._fire("file")

    def _is_the_file(self, change: watchfiles.Change, path: str) -> bool:
        # A Kubernetes ConfigMap volume swaps its files in at once by renaming a `..data`
        # symlink: the file itself, a symlink through it, reports no change of its own.
        name = Path(path).name
        return name == self.path.name or name.startswith("..")

    def _fire(self, trigger: str) -> None:
        """Start a reload (they queue: the reloader runs one at a time)."""
        task = asyncio.ensure_future(self._run(trigger))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, trigger: str) -> None:
        try:
            await self._reload(trigger)
        except Exception:  # the reloader reports its own failures; this is a bug
            log.exception("config reload (%s) failed", trigger)
