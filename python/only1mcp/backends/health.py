"""Active health checks and supervision of one backend (a server, or one replica of a pool).

Passive signals — transport errors and timeouts of real calls — drive the backend's circuit
breaker (:mod:`.guard`). This monitor adds what waiting for traffic cannot see:

- a ``ping`` every ``health.interval`` seconds; ``health.unhealthy_after`` failures in a row
  take the backend out of traffic, the next answered ping puts it back (pinged every
  :data:`RECHECK` seconds meanwhile, so recovery is seen quickly);
- the half-open probe: once the breaker's cool-down is over the monitor spends the one probe on
  a ``ping`` rather than on a client's request, and a success closes the breaker;
- the memory cap of a process (``memory_limit_mb``): over it, the process group gets SIGTERM,
  then SIGKILL, and the ordinary crash path restarts it.

Any answer to ``ping`` — an error too — proves the server alive: only silence counts against it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import typing

from only1mcp.backends.base import BackendState, Requester
from only1mcp.backends.breaker import Breaker
from only1mcp.config.policies import HealthConfig
from only1mcp.errors import RpcError

log = logging.getLogger("only1mcp.health")

# How often an open breaker is looked at for the end of its cool-down, and an unhealthy
# backend re-pinged (seconds).
PROBE_POLL = 0.25
RECHECK = 1.0
# Memory is sampled this often when pings are off.
MEMORY_EVERY = 5.0
TERM_GRACE = 2.0
MIB = 1024 * 1024


class Monitored(Requester, typing.Protocol):
    """What the monitor watches and steers on its backend."""

    name: str
    healthy: bool

    @property
    def state(self) -> BackendState: ...

    @property
    def breaker(self) -> Breaker: ...

    @property
    def pid(self) -> int | None: ...

    def mark_down(self, reason: str) -> None: ...


class HealthMonitor:
    def __init__(
        self, backend: Monitored, config: HealthConfig, memory_limit_mb: int | None
    ) -> None:
        self.backend = backend
        self.config = config
        self.memory_limit = memory_limit_mb * MIB if memory_limit_mb else None
        self.failed_pings = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping: set[asyncio.Task[None]] = set()

    @property
    def active(self) -> bool:
        """Whether pings (and so half-open probes) are on."""
        return self.config.interval > 0

    def start(self) -> None:
        if (self.active or self.memory_limit) and self._task is None:
            self._task = asyncio.ensure_future(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        period = self.config.interval or MEMORY_EVERY
        due = loop.time() + period
        while True:
            await asyncio.sleep(max(0.0, min(due - loop.time(), self._poll())))
            up = self.backend.state is BackendState.READY
            if up and self.active and self.backend.breaker.state == "half_open":
                await self.probe()
            if loop.time() < due:
                continue
            due = loop.time() + (period if self.backend.healthy else min(period, RECHECK))
            if not up or self._over_memory():
                continue
            if self.active and self.backend.breaker.state == "closed":
                await self.check()

    def _poll(self) -> float:
        if self.active and self.backend.breaker.state != "closed":
            return PROBE_POLL
        return self.config.interval or MEMORY_EVERY

    async def ping(self) -> bool:
        try:
            await self.backend.request("ping", None, self.config.timeout, None)
        except RpcError:
            return False
        return True

    async def check(self) -> None:
        """One periodic ping: count a failure, or clear them all."""
        if await self.ping():
            if not self.backend.healthy:
                log.info("server %r answers its health checks again", self.backend.name)
            self.failed_pings = 0
            self.backend.healthy = True
            return
        self.failed_pings += 1
        if self.failed_pings >= self.config.unhealthy_after and self.backend.healthy:
            log.warning(
                "server %r missed %d health checks: no traffic until it answers",
                self.backend.name,
                self.failed_pings,
            )
            self.backend.healthy = False

    async def probe(self) -> None:
        """Spend the half-open breaker's probe on a ping instead of a client's request."""
        breaker = self.backend.breaker
        if not breaker.allow():
            return  # a request holds the probe slot
        if await self.ping():
            breaker.record_success()
            log.info("server %r passed its half-open probe: circuit closed", self.backend.name)
        else:
            breaker.record_failure()

    def _over_memory(self) -> bool:
        """Stop a process whose group is over the cap; True when it was stopped."""
        pid = self.backend.pid
        if self.memory_limit is None or pid is None:
            return False
        rss = group_rss(pid)
        if rss <= self.memory_limit:
            return False
        reason = f"memory cap: {rss // MIB} MiB over the {self.memory_limit // MIB} MiB limit"
        log.warning("server %r: %s; restarting it", self.backend.name, reason)
        self.backend.mark_down(reason)
        stopping = asyncio.ensure_future(_terminate(pid))
        self._stopping.add(stopping)
        stopping.add_done_callback(self._stopping.discard)
        return True


def group_rss(pid: int) -> int:
    """Resident memory of a process and all its descendants, in bytes (0 when it is gone)."""
    # Imported here: ~4 MB of resident memory, needed only by servers with a memory cap.
    import psutil

    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            total += process.memory_info().rss
    return total


async def _terminate(pid: int) -> None:
    """SIGTERM the process group, SIGKILL it if it is still there after the grace period."""
    for sig, wait in ((signal.SIGTERM, TERM_GRACE), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        await asyncio.sleep(wait)
