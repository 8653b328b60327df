"""Starting a stdio server's process without blocking the event loop for long.

uvloop's ``subprocess_exec`` always forks (libuv) and runs CPython's after-fork code in the
child, and the loop waits for the child's exec: 10-20 ms a start on a busy 2-core host, one
after the other, so 100 servers (and as many capability probes) took seconds to come up.
:func:`spawn` starts the process with :class:`subprocess.Popen` instead, which uses vfork when
no ``preexec_fn`` is given (about 1 ms), hands its pipes to the loop and learns of its exit from
a pidfd (Linux 5.3+). Where there is no pidfd (an older kernel, a seccomp filter, valgrind:
``pidfd_open`` fails with ENOSYS or EPERM), the loop's ``subprocess_exec`` starts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from only1mcp.backends.child import PreExec


async def spawn(
    protocol: asyncio.SubprocessProtocol,
    argv: Sequence[str],
    env: Mapping[str, str],
    cwd: str | None,
    preexec: PreExec | None,
) -> asyncio.SubprocessTransport:
    """Start ``argv`` in a session of its own, its stdin, stdout and stderr piped to
    ``protocol`` (as ``loop.subprocess_exec`` would); raises OSError when it cannot start."""
    loop = asyncio.get_running_loop()
    if not _pidfd_works():
        transport, _ = await loop.subprocess_exec(
            lambda: protocol,
            *argv,
            env=env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=preexec,
        )
        return transport
    pipe = subprocess.PIPE
    proc = subprocess.Popen(
        list(argv),
        stdin=pipe,
        stdout=pipe,
        stderr=pipe,
        env=env,
        cwd=cwd,
        start_new_session=True,
        preexec_fn=preexec,
        bufsize=0,  # the loop reads and writes the pipes' fds: no 8 KB buffer on each
    )
    child = _Child(proc, protocol)
    try:
        await child.connect(loop)
    except BaseException:
        child.close()
        raise
    return child


@functools.cache
def _pidfd_works() -> bool:
    """Whether this process may watch a child through a pidfd (asked once, of itself)."""
    if not hasattr(os, "pidfd_open"):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return False
    return True


class _Output(asyncio.Protocol):
    """One output pipe of a child, passed on to its protocol with the pipe's number."""

    def __init__(self, fd: int, to: Callable[[int, bytes], None]) -> None:
        self._fd = fd
        self._to = to

    def data_received(self, data: bytes) -> None:
        self._to(self._fd, data)


class _Child(asyncio.SubprocessTransport):
    """What the stdio backend uses of a subprocess transport, for a process Popen started."""

    def __init__(self, proc: subprocess.Popen[bytes], protocol: asyncio.SubprocessProtocol):
        super().__init__()
        self._proc = proc
        self._protocol = protocol
        self._pipes: dict[int, asyncio.BaseTransport] = {}
        self._pidfd: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def connect(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        proc = self._proc
        stdin, _ = await loop.connect_write_pipe(asyncio.Protocol, proc.stdin)
        self._pipes[0] = stdin
        received = self._protocol.pipe_data_received
        for fd, pipe in ((1, proc.stdout), (2, proc.stderr)):
            self._pipes[fd], _ = await loop.connect_read_pipe(
                lambda fd=fd: _Output(fd, received),  # type: ignore[misc]
                pipe,
            )
        # The exit may already have happened: a pidfd is readable from then on.
        self._pidfd = os.pidfd_open(proc.pid)
        loop.add_reader(self._pidfd, self._reap)

    def _reap(self) -> None:
        self._unwatch()
        self._proc.wait()
        self._protocol.process_exited()

    def _unwatch(self) -> None:
        if self._pidfd is not None and self._loop is not None:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None

    def get_pid(self) -> int:
        return self._proc.pid

    def get_returncode(self) -> int | None:
        return self._proc.returncode

    def get_pipe_transport(self, fd: int) -> Any:
        return self._pipes.get(fd)

    def is_closing(self) -> bool:
        return all(pipe.is_closing() for pipe in self._pipes.values())

    def close(self) -> None:
        """Close the pipes; a process still running is killed (as asyncio's transport does),
        and its exit still reaches the protocol."""
        for pipe in self._pipes.values():
            pipe.close()
        # A start cancelled while its pipes were handed to the loop: the rest are ours to close.
        files = (self._proc.stdin, self._proc.stdout, self._proc.stderr)
        for fd, file in enumerate(files):
            if fd not in self._pipes and file is not None:
                file.close()
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
            if self._pidfd is None:  # not watched: reaped here, so no zombie stays
                self._proc.wait()

    def send_signal(self, signal: int) -> None:
        self._proc.send_signal(signal)

    def terminate(self) -> None:
        self._proc.terminate()

    def kill(self) -> None:
        self._proc.kill()
