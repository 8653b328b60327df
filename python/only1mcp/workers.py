"""``only1mcp start --workers N``: N gateway processes serving one port (docs/scaling.md).

Each worker is a whole ``only1mcp start`` of its own (its backends, sessions, event loop)
listening with ``SO_REUSEPORT``, so the kernel spreads new connections over them evenly by
their addresses: there is no accept lock and no hand-off through the parent. The parent binds
the port too without listening on it: that reserves it (port 0 becomes a real one every worker
shares) and fails early and clearly when it is taken; a bound socket that does not listen takes
no connection. It then supervises: a worker that dies is started again (backing off while it
keeps dying young), SIGTERM/SIGINT are passed on and waited for, SIGHUP is passed on (a worker
reloads its config on it), and the children are asked to die with the parent should it be
killed outright.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType

from only1mcp.config import Config

log = logging.getLogger("only1mcp.workers")

#: Set in a worker's environment to its index: that process serves, it does not supervise.
WORKER_ENV = "ONLY1MCP_WORKER"
BACKLOG = 2048
POLL = 0.1
#: A worker that dies sooner than this after its start is restarted after a growing delay.
YOUNG = 10.0
FIRST_DELAY = 0.5
MAX_DELAY = 10.0
PR_SET_PDEATHSIG = 1
#: Seconds past ``front.shutdown_grace`` a worker may take to stop before SIGKILL.
STOP_MARGIN = 15.0


def worker_index() -> int | None:
    """This process's index among the workers, or None when it was not started as one."""
    value = os.environ.get(WORKER_ENV)
    return None if value is None else int(value)


def reuseport_socket(host: str, port: int, *, listen: bool = True) -> socket.socket:
    """A TCP socket bound to ``host:port`` with ``SO_REUSEPORT`` (listening unless told not)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        if listen:
            sock.listen(BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the supervisor dies, however it dies (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Worker:
    index: int
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    delay: float = FIRST_DELAY
    due: float = 0.0  # when a dead worker is started again


@dataclass
class Supervisor:
    """Runs ``argv`` ``count`` times (``WORKER_ENV`` telling each its index) and keeps them
    running until SIGTERM/SIGINT; ``grace``: how long they get to stop before SIGKILL."""

    argv: Sequence[str]
    count: int
    grace: float
    workers: list[Worker] = field(default_factory=list)
    stopping: bool = False

    def run(self) -> int:
        """Serve until asked to stop; the exit status (0: a stop asked for)."""
        handlers = {
            signal.SIGTERM: self._stop,
            signal.SIGINT: self._stop,
            signal.SIGHUP: self._forward,
        }
        previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
        try:
            self.workers = [Worker(index) for index in range(self.count)]
            for worker in self.workers:
                self._spawn(worker)
            while not self.stopping:
                self._tend(time.monotonic())
                time.sleep(POLL)
            return self._shutdown()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _spawn(self, worker: Worker) -> None:
        env = {**os.environ, WORKER_ENV: str(worker.index)}
        worker.proc = subprocess.Popen(self.argv, env=env, preexec_fn=_die_with_parent)
        worker.started = time.monotonic()
        log.info("worker %d started (pid %d)", worker.index, worker.proc.pid)

    def _tend(self, now: float) -> None:
        """Start again the workers that died (not at once when they keep dying young)."""
        for worker in self.workers:
            proc = worker.proc
            if proc is not None and proc.poll() is not None:
                lived = now - worker.started
                worker.delay = worker.delay * 2 if lived < YOUNG else FIRST_DELAY
                worker.delay = min(worker.delay, MAX_DELAY)
                worker.due = now + (worker.delay if lived < YOUNG else 0.0)
                worker.proc = None
                log.error(
                    "worker %d (pid %d) exited with %s after %.1fs: starting it again in %.1fs",
                    worker.index, proc.pid, proc.returncode, lived, worker.due - now,
                )  # fmt: skip
            if worker.proc is None and now >= worker.due:
                self._spawn(worker)

    def _stop(self, sig: int, frame: FrameType | None) -> None:
        self.stopping = True

    def _forward(self, sig: int, frame: FrameType | None) -> None:
        self._signal_all(sig)

    def _signal_all(self, sig: int) -> None:
        for worker in self.workers:
            if worker.proc is not None and worker.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    worker.proc.send_signal(sig)

    def _shutdown(self) -> int:
        """SIGTERM every worker, wait ``grace`` for them all, SIGKILL what is left."""
        # A second SIGTERM/SIGINT now must not end the parent before its children.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        self._signal_all(signal.SIGTERM)
        end = time.monotonic() + self.grace
        running = [w.proc for w in self.workers if w.proc is not None]
        for proc in running:
            try:
                proc.wait(timeout=max(0.0, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker pid %d did not stop within %.0fs: killed", proc.pid, self.grace)
                proc.kill()
                proc.wait()
        failed = [p for p in running if p.returncode != 0]
        return 1 if failed else 0


def serve_workers(config: Config, options: Sequence[str], host: str, port: int, count: int) -> int:
    """Reserve ``host:port``, then supervise ``count`` workers of ``only1mcp start OPTIONS``
    on it (the port given to them: port 0 is resolved once, here); the exit status."""
    try:
        reserved = reuseport_socket(host, port, listen=False)
    except OSError as exc:
        log.error("cannot bind %s:%d: %s", host, port, exc.strerror)
        return 1
    if not config.cluster.enabled:
        log.warning(
            "%d workers without cluster.redis_url: a handshake-era session is known to the "
            "worker that opened it only (another worker answers its requests 404); set "
            "cluster.redis_url to share sessions (docs/scaling.md)",
            count,
        )
    with reserved:
        bound = reserved.getsockname()[1]
        argv = [sys.executable, "-m", "only1mcp", "start", *options, "--port", str(bound)]
        log.info("serving http://%s:%d/mcp with %d workers", host, bound, count)
        grace = config.front.shutdown_grace + STOP_MARGIN
        return Supervisor(argv, count, grace).run()


def as_worker(config: Config, index: int) -> Config:
    """Worker ``index``'s view of ``config``: its admin listener on ``admin.port + index``
    (each worker's own API, dashboard and /metrics; port 0 stays 0)."""
    admin = config.admin
    if index == 0 or admin.port == 0:
        return config
    return config.model_copy(
        update={"admin": admin.model_copy(update={"port": admin.port + index})}
    )
