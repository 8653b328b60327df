"""Starting a stdio server's process (backends/spawn.py): its pipes and its exit reach the
protocol, and on Linux it dies with the aggregator, with no preexec_fn on the way."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time

import psutil
import pytest

from only1mcp.backends.child import child_start
from only1mcp.backends.spawn import spawn
from only1mcp.config.schema import RlimitsConfig

pytestmark = pytest.mark.anyio


class _Recorder(asyncio.SubprocessProtocol):
    def __init__(self) -> None:
        self.data: dict[int, bytes] = {1: b"", 2: b""}
        self.exited = asyncio.Event()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self.data[fd] += data

    def process_exited(self) -> None:
        self.exited.set()


async def test_pipes_and_exit_reach_the_protocol() -> None:
    protocol = _Recorder()
    script = 'read line; echo "got $line"; echo oops >&2; exit 3'
    transport = await spawn(protocol, ["sh", "-c", script], dict(os.environ), None, None)
    transport.get_pipe_transport(0).write(b"ping\n")
    await asyncio.wait_for(protocol.exited.wait(), 10)
    await asyncio.sleep(0.1)  # what the pipes still held when the exit was seen
    assert transport.get_returncode() == 3
    assert protocol.data[1] == b"got ping\n" and protocol.data[2] == b"oops\n"
    transport.close()


async def test_without_pidfd_the_loop_starts_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where pidfd_open is refused (valgrind, a seccomp filter, an old kernel: ENOSYS),
    servers still start and their exit is still seen."""
    import errno

    from only1mcp.backends import spawn as spawning

    def refused(pid: int, flags: int = 0) -> int:
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(os, "pidfd_open", refused)
    spawning._pidfd_works.cache_clear()
    try:
        protocol = _Recorder()
        transport = await spawn(
            protocol, ["sh", "-c", "echo up; exit 5"], dict(os.environ), None, None
        )
        await asyncio.wait_for(protocol.exited.wait(), 10)
        await asyncio.sleep(0.1)
        assert transport.get_returncode() == 5 and protocol.data[1] == b"up\n"
        transport.close()
    finally:
        spawning._pidfd_works.cache_clear()


async def test_close_kills_a_running_process_and_its_exit_is_seen() -> None:
    protocol = _Recorder()
    transport = await spawn(protocol, ["sleep", "60"], dict(os.environ), None, None)
    pid = transport.get_pid()
    transport.close()
    await asyncio.wait_for(protocol.exited.wait(), 10)
    assert transport.get_returncode() == -signal.SIGKILL
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


async def test_a_missing_program_is_an_os_error() -> None:
    argv, preexec = child_start(None, "no-such-program-xyz", [], None)
    with pytest.raises(OSError):
        await spawn(_Recorder(), argv, dict(os.environ), None, preexec)


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="no setpriv: a preexec_fn sets it")
def test_without_rlimits_no_preexec_fn_runs() -> None:
    """A preexec_fn makes every start fork and run Python in the child (10-20 ms, the loop
    waiting): the death signal is set by setpriv instead; rlimits still need one."""
    argv, preexec = child_start("/bin/sleep", "sleep", ["1"], None)
    assert preexec is None and argv[-2:] == ["/bin/sleep", "1"] and "--pdeathsig" in argv
    _, limited = child_start("/bin/sleep", "sleep", ["1"], RlimitsConfig(open_files=64))
    assert limited is not None


# The aggregator: starts `sleep` as a stdio server is started, prints its pid, waits.
AGGREGATOR = """
import asyncio, os, sys
from only1mcp.backends.child import child_start
from only1mcp.backends.spawn import spawn
async def main():
    argv, preexec = child_start("/bin/sleep", "sleep", ["60"], None)
    transport = await spawn(asyncio.SubprocessProtocol(), argv, dict(os.environ), None, preexec)
    print(transport.get_pid(), flush=True)
    await asyncio.sleep(60)
asyncio.run(main())
"""


def _gone(process: psutil.Process, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def _execed(process: psutil.Process, program: str, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if program in process.cmdline()[0]:
            return True
        time.sleep(0.01)
    return False


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux's")
def test_a_server_dies_with_the_aggregator() -> None:
    """`sleep` ignores its stdin: only the death signal ends it when the aggregator is
    SIGKILLed."""
    aggregator = subprocess.Popen([sys.executable, "-c", AGGREGATOR], stdout=subprocess.PIPE)
    assert aggregator.stdout is not None
    with aggregator:
        server = psutil.Process(int(aggregator.stdout.readline()))
        try:
            assert _execed(server, "sleep", 5)  # through setpriv: the same pid
            aggregator.kill()
            aggregator.wait()
            assert _gone(server, 10), "the server outlived the aggregator"
        finally:
            aggregator.kill()
            if server.is_running():
                server.kill()
