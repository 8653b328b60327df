"""Supervision of one server's connection: restarts with exponential backoff, crash loops.

A failed start or a lost connection schedules a reconnection loop (one at a time); each attempt
waits ``restart.backoff · 2^failures`` (at most ``restart.backoff_max``) first. A server that
stayed up :data:`STABLE_AFTER` seconds before failing starts its backoff from the beginning
again. After ``restart.crash_loop`` failed attempts in a row it is a crash loop: the owner is
told (its items leave the catalog) and restarts go on at the longest backoff.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from only1mcp.config.policies import RestartConfig
from only1mcp.errors import BackendError

log = logging.getLogger("only1mcp.backends")

# A backend that stayed up this long before failing starts its backoff from the beginning again.
STABLE_AFTER = 10.0


class Supervisor:
    """Brings a connection back up (``bring_up``) after it failed, with backoff."""

    def __init__(
        self,
        name: str,
        policy: RestartConfig,
        bring_up: Callable[[], Awaitable[None]],
        on_crash_loop: Callable[[], None],
    ) -> None:
        self.name = name
        self.policy = policy
        self._bring_up = bring_up
        self._on_crash_loop = on_crash_loop
        self.restarts = 0
        # Failed attempts in a row (the exponent of the backoff).
        self.failures = 0
        self.crash_looping = False
        self._up_since = 0.0
        self._stopped = False
        self._task: asyncio.Task[None] | None = None

    def up(self) -> None:
        """The connection is up (a start or a restart succeeded)."""
        self.crash_looping = False
        self._up_since = time.monotonic()

    def schedule(self) -> None:
        """Reconnect in the background with exponential backoff (one loop at a time)."""
        if self._stopped or (self._task and not self._task.done()):
            return
        if self._up_since and time.monotonic() - self._up_since >= STABLE_AFTER:
            self.failures = 0
        self._check_crash_loop()
        self._task = asyncio.ensure_future(self._loop())

    def stop(self) -> None:
        """No more restarts (the backend is closing)."""
        self._stopped = True
        if self._task is not None:
            self._task.cancel()

    async def _loop(self) -> None:
        policy = self.policy
        while not self._stopped:
            await asyncio.sleep(min(policy.backoff_max, policy.backoff * 2**self.failures))
            self.failures += 1
            if self._stopped:
                return
            try:
                await self._bring_up()
            except BackendError as exc:
                log.warning("server %r restart failed: %s", self.name, exc)
                self._check_crash_loop()
                continue
            self.restarts += 1
            log.info("server %r is back", self.name)
            return

    def _check_crash_loop(self) -> None:
        """After ``restart.crash_loop`` failed restarts in a row the owner is told once."""
        if self.crash_looping or self.failures < self.policy.crash_loop:
            return
        self.crash_looping = True
        self._on_crash_loop()
