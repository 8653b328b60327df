"""Harness of the differential suite: each server once directly, once through ``only1mcp start``.

:class:`Matrix` (one per session) starts the processes of ONE server of ``servers.SERVERS`` at a
time: its HTTP transports (one process each, shared by the direct client and by Only1MCP) and
one ``only1mcp start`` whose config holds one backend per transport of that server, named
``<server>_<transport>`` and left with the default prefix (the backend's name), or ``prefix: ""``
for ``stdio-bare``. Moving on to the next server stops the previous one's processes, checked for
a clean exit and no leaked children (the e2e harness's :class:`HttpAggregator` does that).

Each client mode gets its own processes (a server's state, e.g. the tools server-everything
registers for a client's capabilities, must not carry over from one mode's sessions to the
other's). A direct stdio client spawns the server itself (the SDK's ``stdio_client``).
"""

from __future__ import annotations

import http.server
import os
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from e2e.conftest import (
    HttpAggregator,
    free_port,
    start_process,
    stop_server,
    wait_listening,
    write_config,
)
from mcp.client.stdio import StdioServerParameters

from .normalize import DIRECT, Naming
from .servers import SERVERS, ServerSpec

PAGE_HTML = (
    "<html><head><title>Differential page</title></head><body><h1>Differential</h1>"
    "<p>A page served on loopback for <b>mcp-server-fetch</b>.</p></body></html>"
)


def backend_name(spec: ServerSpec, transport: str) -> str:
    """The Only1MCP server name (and default prefix) of ``spec`` over ``transport``.

    Joined with ``-``, not ``_``: the prefix becomes part of a URI scheme (``<prefix>+test://``)
    and a scheme may not contain ``_`` (RFC 3986 §3.1; ``test_uri_prefix`` covers that case).
    """
    return f"{spec.name}-{transport}"


@dataclass
class Served:
    """One server's live processes: HTTP transports and the Only1MCP in front of all of them."""

    spec: ServerSpec
    workdir: Path
    http_urls: dict[str, str]
    http_procs: list[subprocess.Popen[bytes]]
    aggregator: HttpAggregator
    prefixes: dict[str, str] = field(default_factory=dict)

    def fill(self, text: str, port: int | None = None) -> str:
        return text.replace("{workdir}", str(self.workdir)).replace("{port}", str(port or ""))

    def env(self) -> dict[str, str]:
        return {key: self.fill(value) for key, value in self.spec.env}

    def stdio_params(self) -> StdioServerParameters:
        command, *args = (self.fill(a) for a in self.spec.argv("stdio"))
        return StdioServerParameters(command=command, args=args, env={**os.environ, **self.env()})

    def direct(self, transport: str) -> tuple[str | StdioServerParameters, Naming]:
        """Where a client reaches the server itself over ``transport``, and its naming."""
        if transport in self.http_urls:
            return self.http_urls[transport], DIRECT
        return self.stdio_params(), DIRECT

    def through(self, transport: str) -> tuple[str, Naming]:
        """Only1MCP's URL, and how it names this transport's backend."""
        naming = Naming(self.prefixes[transport], others=self.prefixes.values())
        return self.aggregator.url, naming

    def stop(self) -> list[str]:
        problems = self.aggregator.stop()
        for proc in self.http_procs:
            stop_server(proc)
        return problems


def start_served(spec: ServerSpec, workdir: Path) -> Served:
    """Start ``spec``'s HTTP transports and an ``only1mcp start`` in front of every transport."""
    logs = workdir / "logs" / spec.name
    logs.mkdir(parents=True, exist_ok=True)
    served = Served(spec, workdir, {}, [], aggregator=None)  # type: ignore[arg-type]
    backends: dict[str, dict[str, Any]] = {}
    waits: list[tuple[subprocess.Popen[bytes], int, Path]] = []
    for transport in spec.transports:
        name = backend_name(spec, transport)
        if transport.startswith("http"):
            port = free_port()
            argv = [served.fill(a, port) for a in spec.argv(transport)]
            log = logs / f"{transport}.log"
            env = {**os.environ, **served.env(), "PORT": str(port)}
            proc = start_process(argv, log, env)
            served.http_procs.append(proc)
            waits.append((proc, port, log))  # started together, waited for together
            served.http_urls[transport] = f"http://127.0.0.1:{port}{spec.http_path}"
            backends[name] = {"url": served.http_urls[transport], "timeout": 30}
        else:
            params = served.stdio_params()
            backends[name] = {
                "command": params.command,
                "args": list(params.args),
                "env": served.env(),
                "timeout": 30,
            }
        if transport == "stdio-bare":
            backends[name]["prefix"] = ""
        served.prefixes[transport] = backends[name].get("prefix", name)
    for proc, port, log in waits:
        wait_listening(proc, port, log)
    config = write_config(logs / "only1mcp.yaml", backends)
    served.aggregator = HttpAggregator(config, logs / "only1mcp.log")
    served.aggregator.wait_healthy()
    return served


class Matrix:
    """The session's servers, started on demand, one at a time, and their observations."""

    def __init__(self, workdir: Path, page_url: str) -> None:
        self.workdir = workdir
        self.page_url = page_url
        self.specs = {spec.name: spec for spec in SERVERS}
        self.live: Served | None = None
        self.live_key: tuple[str, str] = ("", "")
        self.problems: list[str] = []
        self.observed: dict[tuple[str, ...], Any] = {}

    def served(self, name: str, mode: str) -> Served:
        """The live processes of server ``name`` for client mode ``mode``: each mode gets fresh
        ones, so what one mode's sessions left in a server cannot change the other's answers."""
        if self.live is not None and self.live_key != (name, mode):
            self.problems += self.live.stop()
            self.live = None
        if self.live is None:
            self.live = start_served(self.specs[name], self.workdir)
            self.live_key = (name, mode)
        return self.live

    def close(self) -> list[str]:
        if self.live is not None:
            self.problems += self.live.stop()
            self.live = None
        return self.problems


@pytest.fixture(scope="session")
def page_url() -> Iterator[str]:
    """A loopback HTTP server with one HTML page (what mcp-server-fetch fetches)."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = PAGE_HTML.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/page.html"
    finally:
        server.shutdown()
        server.server_close()


def make_workdir(root: Path) -> Path:
    """Files for the published servers: a directory tree, a git repository."""
    files = root / "files"
    (files / "sub").mkdir(parents=True)
    (files / "hello.txt").write_text("hello differential\n")
    (files / "sub" / "data.json").write_text('{"answer": 42}\n')
    repo = root / "repo"
    git = ["git", "-C", str(repo), "-c", "user.name=diff", "-c", "user.email=diff@example.invalid"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "README.md").write_text("differential repository\n")
    subprocess.run([*git, "add", "README.md"], check=True)
    env = {**os.environ, "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z"}
    env["GIT_COMMITTER_DATE"] = env["GIT_AUTHOR_DATE"]  # a fixed hash, run after run
    subprocess.run([*git, "commit", "-q", "-m", "initial commit"], check=True, env=env)
    (repo / "README.md").write_text("differential repository, edited\n")  # an unstaged diff
    return root


@pytest.fixture(scope="session")
def matrix(tmp_path_factory: pytest.TempPathFactory, page_url: str) -> Iterator[Matrix]:
    """The server matrix of this session; at the end every process must have exited cleanly."""
    workdir = make_workdir(tmp_path_factory.mktemp("differential"))
    mx = Matrix(workdir, page_url)
    try:
        yield mx
    finally:
        problems = mx.close()
    assert not problems, "\n".join(problems)
