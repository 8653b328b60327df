"""A stdio MCP server: one supervised child process shared by every client session.

Requests from all sessions are multiplexed over the one pipe with backend-local integer ids; the
Rust frame reader splits stdout into messages and reads their ids without a full parse. The child
runs in its own process group so shutdown reaches its whole tree: close stdin, SIGTERM, SIGKILL.
When it exits on its own it is marked down and restarted with exponential backoff.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import os
import shutil
import signal
import sys
from typing import cast

from only1mcp._core import FrameReader, split_response
from only1mcp.backends.base import (
    Backend,
    BackendState,
    Expired,
    MessageHandler,
    Sink,
    cancelled_by_client,
    expire,
    log,
)
from only1mcp.config import StdioServerConfig
from only1mcp.errors import BackendError

STDERR_TAIL_LINES = 50
# A due timeout may fire this much early (the loop's timers have millisecond resolution).
TIMER_SLACK = 0.001
SHUTDOWN_GRACE = 2.0
# After the child exits, bytes already in the pipe still get this long to arrive.
EXIT_DRAIN = 0.3


def _die_with_parent() -> None:
    """Runs in the child before exec: if the aggregator is SIGKILLed, the kernel ends the child."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


# request id → (the future of its response, the loop time it times out at)
Pending = dict[int, tuple[asyncio.Future[bytes], float]]


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


class StdioBackend(Backend):
    def __init__(
        self, name: str, config: StdioServerConfig, on_message: MessageHandler | None = None
    ) -> None:
        super().__init__(name, config.timeout, on_message)
        self.config = config
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        self._transport: asyncio.SubprocessTransport | None = None
        self._stdin: asyncio.WriteTransport | None = None
        self._reader = FrameReader()
        self._stderr_buf = b""
        self._pending: Pending = {}
        self._outbox: list[bytes] = []
        self._exited = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        # One timer for all pending requests, due at the earliest deadline (see _expire_due).
        self._expiry: asyncio.TimerHandle | None = None
        self._expiry_at = 0.0

    @property
    def pid(self) -> int | None:
        return self._transport.get_pid() if self._transport else None

    async def connect(self) -> None:
        command = self._resolve(self.config.command)
        loop = self._loop = asyncio.get_running_loop()
        self._reader = FrameReader()
        self._stderr_buf = b""
        self._exited = asyncio.Event()
        self._pending = {}
        self._outbox = []  # frames for a process that died went down with its requests
        try:
            transport, _ = await loop.subprocess_exec(
                lambda: _Pipes(self),
                command,
                *self.config.args,
                env={**os.environ, **self.config.env},
                cwd=self.config.cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        except OSError as exc:
            raise BackendError(f"server {self.name!r} could not start {command!r}: {exc}") from exc
        self._transport = transport
        # uvloop's pipe transports do not subclass asyncio's, hence the cast.
        self._stdin = cast(asyncio.WriteTransport, transport.get_pipe_transport(0))
        log.info("server %r started (pid %s)", self.name, transport.get_pid())

    def _resolve(self, command: str) -> str:
        # Console scripts installed beside only1mcp (the venv's bin) are found even off PATH.
        path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
        return shutil.which(command, path=path) or command

    async def send_request(
        self, frame: bytes, req_id: int, method: str, timeout: float, sink: Sink | None = None
    ) -> bytes:
        # A pipe carries no request association: related traffic goes through on_message.
        stdin = self._stdin
        loop = self._loop
        if stdin is None or stdin.is_closing() or loop is None:
            raise self.down_error()
        future: asyncio.Future[bytes] = loop.create_future()
        deadline = loop.time() + timeout
        pending = self._pending
        pending[req_id] = (future, deadline)
        if self._expiry is None or deadline < self._expiry_at:
            self._expire_at(deadline)
        self._write(frame)
        try:
            return await future
        except Expired as exc:
            raise self.timeout_error(method, timeout) from exc
        finally:
            pending.pop(req_id, None)

    def _expire_at(self, deadline: float) -> None:
        assert self._loop is not None
        if self._expiry is not None:
            self._expiry.cancel()
        self._expiry_at = deadline
        self._expiry = self._loop.call_at(deadline, self._expire_due)

    def _expire_due(self) -> None:
        """Time out what is due and wake again at the next deadline.

        One timer per backend rather than one per request: arming and cancelling a loop timer
        costs more than the rest of a request's bookkeeping here, and with one timeout per
        server the timer stays due at the oldest request's deadline, so under load it fires
        about once per timeout period, not once per call.
        """
        assert self._loop is not None
        self._expiry = None
        now = self._loop.time() + TIMER_SLACK
        upcoming = [deadline for _, deadline in self._pending.values() if deadline > now]
        for future, deadline in self._pending.values():
            if deadline <= now:
                expire(future)
        if upcoming:
            self._expire_at(min(upcoming))

    def abandon(self, req_id: int) -> None:
        entry = self._pending.get(req_id)
        if entry is not None and not entry[0].done():
            entry[0].set_exception(cancelled_by_client())

    async def notify(self, frame: bytes) -> None:
        if self._stdin is not None and not self._stdin.is_closing():
            self._write(frame)

    def _write(self, frame: bytes) -> None:
        """Queue a frame; frames queued in one loop iteration go out in one write."""
        self._outbox.append(frame)
        if len(self._outbox) == 1 and self._loop is not None:
            self._loop.call_soon(self._flush)

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
            self._dispatch(frame)

    def _dispatch(self, frame: bytes) -> None:
        try:
            msg_id, method, is_response = split_response(frame)
        except ValueError:
            log.warning("server %r wrote a non-JSON line to stdout: %.200r", self.name, frame)
            return
        if is_response:
            entry = self._pending.get(msg_id) if isinstance(msg_id, int) else None
            if entry is not None and not entry[0].done():
                entry[0].set_result(frame)
            return
        if method is not None:
            self.deliver(frame)

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
        if self.state is not BackendState.DOWN:
            self.mark_down(f"process exited with code {code}")
            log.warning("server %r exited with code %s", self.name, code)
        self._stdin = None
        # The same generation's pending requests: a restart gets a fresh table.
        loop = asyncio.get_running_loop()
        loop.call_later(EXIT_DRAIN, self._after_exit, self._transport, self._pending)
        self.schedule_restart()

    def _after_exit(self, transport: asyncio.SubprocessTransport, pending: Pending) -> None:
        self._fail(pending)
        transport.close()
        if self._transport is transport:
            self._transport = None

    def _fail(self, pending: Pending) -> None:
        error = self.down_error()
        for future, _ in pending.values():
            if not future.done():
                future.set_exception(error)
        pending.clear()

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
        self._fail(self._pending)
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
