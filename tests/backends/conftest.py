"""Real servers for the HTTP backends' tests: the SDK fixture server in a process, ASGI apps on
uvicorn in a thread."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Generic, TypeVar

import uvicorn
from fixtures import STARTED_ENV

from only1mcp.backends import Backend

App = TypeVar("App")

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
        # Where its slow tools say they started (see tests/fixtures/__init__.py).
        self.started = Path(tempfile.mkdtemp(prefix="fixture-started-")) / "started"

    def start(self) -> None:
        argv = [sys.executable, self.script, "--transport", self.transport]
        argv += ["--port", str(self.port)]
        env = {**os.environ, STARTED_ENV: str(self.started)}
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )
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

    def __enter__(self) -> FixtureServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def echo(backend: Backend, text: str) -> str:
    """What the fixture server's ``echo`` tool answers ``text`` with, through ``backend``."""
    result = await backend.call("tools/call", {"name": "echo", "arguments": {"text": text}})
    return str(result["content"][0]["text"])


class ThreadServer(Generic[App]):
    """An ASGI ``app`` on uvicorn (uvloop) in a thread of its own, on a free port of 127.0.0.1,
    closing connections idle for ``keep_alive`` seconds (``options``: more of uvicorn's config);
    ``url(path)`` reaches it."""

    def __init__(self, app: App, keep_alive: float = 5.0, **options: Any) -> None:
        self.app = app
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            loop="uvloop",
            lifespan="off",
            log_level="critical",
            timeout_keep_alive=keep_alive,
            **options,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import uvloop

        uvloop.run(self.server.serve([self.sock]))

    def url(self, path: str) -> str:
        scheme = "https" if self.server.config.ssl_certfile else "http"
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> ThreadServer[App]:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
