"""The SDK fixture server in a real process, over HTTP, for the HTTP backends' tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

FIXTURE = str(Path(__file__).resolve().parents[1] / "fixtures" / "fixture_server.py")
# The fixture server's URL path for each of its HTTP transports.
PATHS = {"http": "/mcp", "sse": "/sse"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class FixtureServer:
    """``SCRIPT --transport TRANSPORT`` on a fixed free port; restartable. ``SCRIPT`` is the
    fixture server unless another one (the conformance fixtures) is given."""

    def __init__(self, transport: str, script: str | Path = FIXTURE) -> None:
        self.transport = transport
        self.script = str(script)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}{PATHS[transport]}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [sys.executable, self.script, "--transport", self.transport]
        argv += ["--port", str(self.port)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 30
        while time.monotonic() < end:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise AssertionError("fixture server did not listen")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None
