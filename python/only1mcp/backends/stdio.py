"""A stdio MCP server: one supervised child process shared by every client session.

Requests from all sessions are multiplexed over the one pipe with backend-local integer ids; the
Rust frame reader splits stdout into messages and reads their ids without a full parse. The child
runs in its own process group so shutdown reaches its whole tree: close stdin, SIGTERM, SIGKILL.
When it exits on its own it is marked down and restarted with exponential backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
from typing import cast

from only1mcp._core import FrameReader
from only1mcp.backends.base import BackendState, Wiring, log
from only1mcp.backends.child import child_env, child_start
from only1mcp.backends.eras import PipelinedProbe
from only1mcp.backends.multiplexed import MultiplexedBackend, Pending
from only1mcp.backends.spawn import spawn
from only1mcp.config import StdioServerConfig
from only1mcp.errors import BackendError

SHUTDOWN_GRACE = 2.0
# After the child exits, bytes already in the pipe still get this long to arrive.
EXIT_DRAIN = 0.3


class _Pipes(asyncio.SubprocessProtocol):
    def __init__(self, backend: StdioBackend) -> None:
        self.backend = backend

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if fd == 1:
            self.backend._on_stdout(data)
        else:
            self.backend._on_stderr(data)

    def process_exited(self) -> None:
        self.backend._on_exit()


class StdioBackend(MultiplexedBackend):
    probe_type = PipelinedProbe

    def __init__(self, name: str, config: StdioServerConfig, wiring: Wiring | None = None) -> None:
        super().__init__(name, config, wiring)
        self.config = config
        self._transport: asyncio.SubprocessTransport | None = None
        self._stdin: asyncio.WriteTransport | None = None
        self._reader = FrameReader()
        self._stderr_buf = b""
        self._outbox: list[bytes] = []
        self._exited = asyncio.Event()

    @property
    def pid(self) -> int | None:
        return self._transport.get_pid() if self._transport else None

    async def connect(self) -> None:
        command = self.config.command
        argv, preexec = child_start(
            self._find(command), command, self.config.args, self.config.rlimits
        )
        self._reader = FrameReader()
        self._stderr_buf = b""
        self._exited = asyncio.Event()
        self._pending = {}
        self._outbox = []  # frames for a process that died went down with its requests
        try:
            transport = await spawn(
                _Pipes(self), argv, child_env(self.config), self.config.cwd, preexec
            )
        except OSError as exc:
            raise BackendError(f"server {self.name!r} could not start {command!r}: {exc}") from exc
        self._transport = transport
        # uvloop's pipe transports do not subclass asyncio's, hence the cast.
        self._stdin = cast(asyncio.WriteTransport, transport.get_pipe_transport(0))
        log.info("server %r started (pid %s)", self.name, transport.get_pid())

    def _find(self, command: str) -> str | None:
        # Console scripts installed beside only1mcp (the venv's bin) are found even off PATH.
        path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
        return shutil.which(command, path=path)

    def send_frame(self, frame: bytes) -> None:
        stdin = self._stdin
        if stdin is None or stdin.is_closing():
            raise self.down_error()
        self._write(frame)

    async def notify(self, frame: bytes) -> None:
        if self._stdin is not None and not self._stdin.is_closing():
            self._write(frame)

    def _write(self, frame: bytes) -> None:
        """Queue a frame; frames queued in one loop iteration go out in one write."""
        self._outbox.append(frame)
        if len(self._outbox) == 1:
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        frames, self._outbox = self._outbox, []
        stdin = self._stdin
        if frames and stdin is not None and not stdin.is_closing():
            frames.append(b"")
            stdin.write(b"\n".join(frames))

    def _on_stdout(self, data: bytes) -> None:
        try:
            frames = self._reader.feed(data)
        except ValueError as exc:
            log.warning("server %r sent an oversized frame: %s", self.name, exc)
            frames = self._reader.feed(b"")
        for frame in frames:
            self.dispatch(frame)

    def _on_stderr(self, data: bytes) -> None:
        *lines, self._stderr_buf = (self._stderr_buf + data).split(b"\n")
        for raw in lines:
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                self.stderr_tail.append(line)
                log.debug("[%s] %s", self.name, line)

    def _on_exit(self) -> None:
        self._exited.set()
        if self._closing or self._transport is None:
            return
        code = self._transport.get_returncode()
        ended = f"process exited with code {code}"
        if self._state is not BackendState.DOWN:
            self.mark_down(ended)
            log.warning("server %r exited with code %s", self.name, code)
        elif ended not in self.last_error:
            # Down already (a start that met the closed pipe first, a memory cap): keep why,
            # and add how the process ended, whichever of the two the loop saw first.
            self.last_error = f"{self.last_error}; {ended}"
        self._stdin = None
        # The same generation's pending requests: a restart gets a fresh table.
        loop = asyncio.get_running_loop()
        # The error is worded now: by the time the drain ends a restart may be under way.
        error = self.down_error()
        loop.call_later(EXIT_DRAIN, self._after_exit, self._transport, self._pending, error)
        self.supervisor.schedule()

    def _after_exit(
        self, transport: asyncio.SubprocessTransport, pending: Pending, error: BackendError
    ) -> None:
        self.fail(pending, error)
        # The leader is gone; what it started (its process group) goes with it.
        _signal_group(transport.get_pid(), signal.SIGKILL)
        transport.close()
        if self._transport is transport:
            self._transport = None

    async def disconnect(self) -> None:
        """Close stdin, then SIGTERM, then SIGKILL the child's whole process group."""
        transport = self._transport
        if transport is None:
            return
        pid = transport.get_pid()
        if self._stdin is not None:
            self._stdin.close()
        for sig in (None, signal.SIGTERM, signal.SIGKILL):
            if transport.get_returncode() is not None:
                break
            if sig is not None:
                _signal_group(pid, sig)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exited.wait(), SHUTDOWN_GRACE)
        # Grandchildren may outlive the leader; the group id still reaches them.
        _signal_group(pid, signal.SIGKILL)
        transport.close()
        self._transport = None
        self._stdin = None
        self.fail(self._pending)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
