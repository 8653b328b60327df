"""End-to-end harness: real ``only1mcp`` processes in front of real MCP servers.

Nothing here is mocked. The backends are two PyPI servers (``mcp-server-time``,
``mcp-server-git``) and the SDK-built fixture server (``tests/fixtures/fixture_server.py``),
once over stdio (prefix ``fx``) and once over Streamable HTTP (prefix ``web``). The aggregator
is driven with the official ``mcp`` SDK ``Client`` over both of its front transports:

* ``http``:  ``only1mcp start --config FILE --host 127.0.0.1 --port P``, ready once
  ``GET /healthz`` answers 200; stopped with SIGTERM.
* ``stdio``: ``only1mcp stdio --config FILE`` spawned per client session; stopped by closing
  its stdin.

Either way every descendant of the aggregator is recorded with psutil while it runs, and when
it stops the harness asserts that it exited by itself and that none of them remains. The
aggregator's stderr goes to a file, shown in the report of a failing test.

Executables are resolved from the directory of ``sys.executable`` (the venv running pytest).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import httpx
import mcp_types
import psutil
import pytest
import yaml
from mcp import Client
from mcp.client._transport import TransportStreams
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage

BIN_DIR = Path(sys.executable).parent
REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURE_SERVER = REPO_ROOT / "tests" / "fixtures" / "fixture_server.py"

FRONT_KINDS = ("http", "stdio")
FX_TIMEOUT = 5.0
"""The ``timeout`` configured for the ``fx`` backend (seconds)."""
STARTUP_DEADLINE = 45.0
"""How long the aggregator (or the HTTP fixture server) may take to become ready."""
EXIT_DEADLINE = 15.0
"""How long the aggregator may take to exit after SIGTERM / stdin close."""
CHILD_GRACE = 3.0
"""How long a descendant may outlive the aggregator's exit before it counts as leaked."""
CLIENT_READ_TIMEOUT = 60.0
"""The SDK client's own read timeout: a backstop only, tests bound their calls more tightly."""

_ACTIVE_LOGS: list[Path] = []
"""Log files of HTTP aggregators alive now, attached to failing reports."""
_TEST_LOGS: list[Path] = []
"""Log files of stdio aggregators spawned by the current test, attached to failing reports."""


def venv_bin(name: str) -> str:
    """Path of the console script ``name`` in the venv that runs pytest."""
    path = BIN_DIR / name
    if not path.exists():
        pytest.fail(
            f"{name!r} is not installed in {BIN_DIR} (install the project with its [dev] extra)"
        )
    return str(path)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def log_tail(path: Path, limit: int = 12_000) -> str:
    """The last ``limit`` characters of a log file (or a note that it is missing)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    text = data[-limit:].decode("utf-8", "replace")
    return text if len(data) <= limit else f"...<{len(data) - limit} bytes cut>...\n{text}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the stderr of every live aggregator to the report of a failing test."""
    report = yield
    if report.failed:
        for path in [*_ACTIVE_LOGS, *_TEST_LOGS]:
            report.sections.append((f"only1mcp log {path}", log_tail(path)))
    return report


@pytest.fixture(autouse=True)
def _forget_stdio_logs() -> Iterator[None]:
    """Scope the stdio aggregator logs shown on failure to the test that spawned them."""
    yield
    _TEST_LOGS.clear()


# --------------------------------------------------------------------------- processes


@dataclass(frozen=True)
class ProcInfo:
    """One descendant process seen while the aggregator ran."""

    pid: int
    create_time: float
    cmdline: str

    def alive(self) -> bool:
        """Whether this very process (not a reuse of its pid) still runs (zombies count dead)."""
        try:
            proc = psutil.Process(self.pid)
            if abs(proc.create_time() - self.create_time) > 0.01:
                return False
            return proc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False


class ProcessTracker:
    """Records every descendant (children, grandchildren, ...) of a process while it runs."""

    def __init__(self, root_pid: int, interval: float = 0.1) -> None:
        self.root_pid = root_pid
        self._interval = interval
        self._seen: dict[tuple[int, float], ProcInfo] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"proc-tracker-{root_pid}", daemon=True
        )
        self._thread.start()

    def snapshot(self) -> None:
        """Record the current descendants of the root process."""
        try:
            children = psutil.Process(self.root_pid).children(recursive=True)
        except psutil.Error:
            return
        for child in children:
            try:
                info = ProcInfo(child.pid, child.create_time(), " ".join(child.cmdline()))
            except psutil.Error:
                continue
            with self._lock:  # the latest cmdline wins: a fork is seen before its exec
                self._seen[(info.pid, info.create_time)] = info

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.snapshot()

    def stop(self) -> None:
        """Stop polling (the record is kept)."""
        self._stop.set()
        self._thread.join(timeout=5)

    @property
    def seen(self) -> list[ProcInfo]:
        """Every descendant recorded so far."""
        with self._lock:
            return list(self._seen.values())

    def survivors(self, grace: float = CHILD_GRACE) -> list[ProcInfo]:
        """Recorded descendants still alive after waiting up to ``grace`` seconds."""
        deadline = time.monotonic() + grace
        while True:
            alive = [info for info in self.seen if info.alive()]
            if not alive or time.monotonic() >= deadline:
                return alive
            time.sleep(0.05)

    def leak_report(self) -> list[str]:
        """Problems found (leaked descendants, which are then killed so they do not pile up)."""
        leaked = self.survivors()
        for info in leaked:
            with contextlib.suppress(psutil.Error):
                psutil.Process(info.pid).kill()
        return [f"descendant left running: pid {i.pid}: {i.cmdline}" for i in leaked]


# What uvicorn logs when a request escaped the application as an exception (the client got a
# 500), or when it had to cancel a request still running at shutdown (the response was cut).
SERVER_ERROR_MARK = b"Exception in ASGI application"


def server_errors(log: Path) -> list[str]:
    """A problem for each request the aggregator answered with a 500 (an escaped exception)."""
    with contextlib.suppress(FileNotFoundError):
        text = log.read_bytes()
        count = text.count(SERVER_ERROR_MARK)
        if count > 0:
            return [f"{count} request(s) ended in a 500 (an exception escaped): see the log"]
    return []


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


class HttpAggregator:
    """``only1mcp start`` as a subprocess on a free port, ready once ``/healthz`` says ok."""

    def __init__(
        self,
        config: Path,
        log: Path,
        port: int | None = None,
        *,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        args: Sequence[str] = (),
    ) -> None:
        """``args``: more options of ``only1mcp start`` (``--workers 2``)."""
        self.config = config
        self.log = log
        self.port = free_port() if port is None else port
        self.base = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.base}/mcp"
        argv = [
            venv_bin("only1mcp"),
            "start",
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *args,
        ]
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=config.parent if cwd is None else cwd,
                env=env,
                start_new_session=True,
            )
        self.tracker = ProcessTracker(self.proc.pid)
        _ACTIVE_LOGS.append(log)

    def wait_healthy(self, deadline: float = STARTUP_DEADLINE) -> dict[str, Any]:
        """Poll ``GET /healthz`` until it answers 200 ``{"status": "ok"}`` and no capability
        probe is left running (a test that counts processes starts from the settled ones);
        return its body."""
        end = time.monotonic() + deadline
        last = "no answer"
        with httpx.Client(timeout=2.0) as http:
            while time.monotonic() < end:
                code = self.proc.poll()
                if code is not None:
                    self.stop()
                    pytest.fail(
                        f"only1mcp start exited with {code} before /healthz was ok:\n"
                        f"{log_tail(self.log)}"
                    )
                try:
                    resp = http.get(f"{self.base}/healthz")
                    last = f"{resp.status_code} {resp.text[:300]}"
                    body: dict[str, Any] = resp.json()
                    if (
                        resp.status_code == 200
                        and body.get("status") == "ok"
                        and not body.get("probing")
                    ):
                        return body
                except (httpx.HTTPError, ValueError) as exc:
                    last = repr(exc)
                time.sleep(0.1)
        self.stop()
        pytest.fail(f"/healthz not ok after {deadline}s (last: {last}):\n{log_tail(self.log)}")

    @contextlib.contextmanager
    def healthy(self) -> Iterator[HttpAggregator]:
        """Healthy for the ``with`` block; stopped after it, and failing on any problem the
        stop saw (see :meth:`stop`)."""
        try:
            self.wait_healthy()
            yield self
        finally:
            problems = self.stop()
        assert not problems, problems

    def stop(self) -> list[str]:
        """SIGTERM the aggregator; return the problems seen (slow exit, an exit status other
        than 0, leaked children, 500s)."""
        problems: list[str] = []
        self.tracker.snapshot()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=EXIT_DEADLINE)
            except subprocess.TimeoutExpired:
                problems.append(f"only1mcp start did not exit within {EXIT_DEADLINE}s of SIGTERM")
                _kill_group(self.proc.pid)
                self.proc.wait(timeout=10)
        if self.proc.returncode != 0:
            problems.append(f"only1mcp start exited with {self.proc.returncode}, not 0")
        self.tracker.stop()
        problems += self.tracker.leak_report()
        problems += server_errors(self.log)
        with contextlib.suppress(ValueError):
            _ACTIVE_LOGS.remove(self.log)
        return problems


class _ReadyStreams(contextlib.AbstractAsyncContextManager[TransportStreams]):
    """A ``Transport`` handing the SDK ``Client`` streams that already exist."""

    def __init__(self, streams: TransportStreams) -> None:
        self._streams = streams

    async def __aenter__(self) -> TransportStreams:
        return self._streams

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


@dataclass
class StdioRun:
    """What the harness learnt about one ``only1mcp stdio`` process."""

    pid: int = 0
    returncode: int | None = None
    tracker: ProcessTracker | None = None


@contextlib.asynccontextmanager
async def stdio_aggregator(
    argv: list[str], log: Path, run: StdioRun
) -> AsyncIterator[TransportStreams]:
    """Spawn ``argv`` (an MCP server on stdio) and carry newline-delimited JSON-RPC to it.

    On exit stdin is closed and the process must exit by itself within ``EXIT_DEADLINE``
    leaving no descendant alive; otherwise it is killed and ``AssertionError`` is raised.
    """
    problems: list[str] = []
    to_client, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_stream, from_client = anyio.create_memory_object_stream[SessionMessage](0)
    with log.open("ab") as err:
        process = await anyio.open_process(argv, stderr=err, cwd=log.parent, start_new_session=True)
    run.pid = process.pid
    run.tracker = tracker = ProcessTracker(process.pid)
    _TEST_LOGS.append(log)

    async def reader() -> None:
        assert process.stdout is not None
        buffer = b""
        delivering = True
        async with to_client:
            async for chunk in process.stdout:
                *lines, buffer = (buffer + chunk).split(b"\n")
                for line in lines:
                    if not line.strip() or not delivering:
                        continue
                    item: SessionMessage | Exception
                    try:
                        item = SessionMessage(
                            mcp_types.jsonrpc_message_adapter.validate_json(line, by_name=False)
                        )
                    except ValueError as exc:
                        problems.append(f"stdout line is not JSON-RPC: {line[:300]!r}")
                        item = exc
                    try:
                        await to_client.send(item)
                    except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                        delivering = False  # keep draining so the process never blocks

    async def writer() -> None:
        assert process.stdin is not None
        try:
            async with from_client:
                async for message in from_client:
                    data = message.message.model_dump_json(by_alias=True, exclude_unset=True)
                    await process.stdin.send(data.encode() + b"\n")
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            await to_client.aclose()
        finally:
            with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
                await process.stdin.aclose()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(reader)
            tg.start_soon(writer)
            try:
                yield read_stream, write_stream
            finally:
                with anyio.CancelScope(shield=True):
                    tracker.snapshot()
                    read_stream.close()  # the reader keeps draining stdout, delivering nothing
                    write_stream.close()  # the writer ends, then closes the child's stdin
                    with anyio.move_on_after(EXIT_DEADLINE):
                        await process.wait()
                    if process.returncode is None:
                        problems.append(
                            f"only1mcp stdio did not exit within {EXIT_DEADLINE}s of stdin closing"
                        )
                        _kill_group(process.pid)
                        with anyio.move_on_after(10):
                            await process.wait()
                    tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await process.aclose()
        run.returncode = process.returncode
        tracker.stop()
        problems += tracker.leak_report()
    if problems:
        raise AssertionError("\n".join(problems) + f"\n--- only1mcp stderr ---\n{log_tail(log)}")


# --------------------------------------------------------------------------- fronts


@dataclass
class Front:
    """One way to reach the aggregator: ``kind`` is ``"http"`` or ``"stdio"``."""

    kind: str
    config: Path
    workdir: Path
    http: HttpAggregator | None = None
    last_stdio: StdioRun | None = None

    @property
    def stdio_argv(self) -> list[str]:
        """The command line of the stdio front."""
        return [venv_bin("only1mcp"), "stdio", "--config", str(self.config)]

    @contextlib.asynccontextmanager
    async def client(self, *, mode: str = "legacy", **options: Any) -> AsyncIterator[Client]:
        """An SDK ``Client`` session through this front (``mode`` and ``options`` (callbacks…)
        as in ``mcp.Client``).

        Over stdio each session is its own aggregator process, checked for a clean exit.
        """
        if self.http is not None:
            async with Client(
                self.http.url,
                mode=mode,
                cache=None,
                read_timeout_seconds=CLIENT_READ_TIMEOUT,
                **options,
            ) as client:
                yield client
            return
        run = self.last_stdio = StdioRun()
        log = self.workdir / f"only1mcp-stdio-{time.monotonic_ns()}.log"
        async with (
            stdio_aggregator(self.stdio_argv, log, run) as streams,
            Client(
                _ReadyStreams(streams),
                mode=mode,
                cache=None,
                read_timeout_seconds=CLIENT_READ_TIMEOUT,
                **options,
            ) as client,
        ):
            yield client

    def close(self) -> list[str]:
        """Stop what this front started; return the problems seen."""
        return self.http.stop() if self.http is not None else []


@contextlib.contextmanager
def open_front(kind: str, config: Path, workdir: Path) -> Iterator[Front]:
    """Start a front of ``kind`` over ``config``; on exit stop it and check it left nothing."""
    workdir.mkdir(parents=True, exist_ok=True)
    front = Front(kind=kind, config=config, workdir=workdir)
    if kind == "http":
        front.http = HttpAggregator(config, workdir / "only1mcp-http.log")
        front.http.wait_healthy()
    try:
        yield front
    finally:
        problems = front.close()
    if problems:
        log_text = log_tail(front.http.log) if front.http else ""
        raise AssertionError("\n".join(problems) + f"\n--- only1mcp log ---\n{log_text}")


# --------------------------------------------------------------------------- configs


def write_config(path: Path, servers: dict[str, dict[str, Any]]) -> Path:
    """Write an only1mcp YAML config with ``servers`` to ``path``."""
    path.write_text(yaml.safe_dump({"servers": servers}, sort_keys=False))
    return path


def write_claude_config(path: Path, servers: dict[str, dict[str, Any]]) -> Path:
    """Write a Claude-Desktop ``{"mcpServers": {...}}`` JSON config to ``path``."""
    path.write_text(json.dumps({"mcpServers": servers}, indent=2))
    return path


def fx_stdio_server(name: str = "fx", timeout: float = FX_TIMEOUT) -> dict[str, Any]:
    """Config entry: the fixture server over stdio, prefix ``fx``."""
    return {
        "command": sys.executable,
        "args": [str(FIXTURE_SERVER), "--transport", "stdio", "--name", name],
        "env": {"PYTHONUNBUFFERED": "1"},
        "prefix": "fx",
        "timeout": timeout,
    }


def standard_servers(git_repo: Path, web_url: str) -> dict[str, dict[str, Any]]:
    """The four backends: time and git (PyPI, stdio), fx (stdio), web (Streamable HTTP)."""
    return {
        "time": {
            "command": venv_bin("mcp-server-time"),
            "args": ["--local-timezone", "UTC"],
            "timeout": 20,
        },
        "git": {
            "command": venv_bin("mcp-server-git"),
            "args": ["--repository", str(git_repo)],
            "timeout": 20,
        },
        "fx": fx_stdio_server(),
        "web": {"url": web_url, "prefix": "web", "timeout": 20},
    }


@pytest.fixture(scope="session")
def git_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temporary git repository with one commit."""
    repo = tmp_path_factory.mktemp("repo")
    (repo / "README.md").write_text("fixture repository\n")
    git = ["git", "-C", str(repo), "-c", "user.name=e2e", "-c", "user.email=e2e@example.invalid"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "README.md"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "initial commit"], check=True)
    return repo


@contextlib.contextmanager
def running_aggregator(config: Path, log: Path) -> Iterator[HttpAggregator]:
    """``only1mcp start`` with ``config``, once healthy; on exit it must stop cleanly."""
    agg = HttpAggregator(config, log)
    try:
        agg.wait_healthy()
        yield agg
    finally:
        problems = agg.stop()
    assert not problems, problems


def start_process(
    argv: list[str], log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``argv`` in a process group of its own (so :func:`stop_server` can end its children),
    its output appended to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


@contextlib.contextmanager
def http_server(argv: list[str], port: int, log: Path) -> Iterator[str]:
    """A server (``argv``) listening on ``port``: yields its ``/mcp`` URL; stopped on exit."""
    proc = start_process(argv, log)
    try:
        wait_listening(proc, port, log)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        stop_server(proc)


def spawn_fixture_server(
    transport: str, port: int, log: Path, name: str
) -> subprocess.Popen[bytes]:
    """The fixture server over HTTP (``transport`` ``http`` or ``sse``) on ``port``, once it
    listens; its output goes to ``log``. Stop it with :func:`stop_server`."""
    argv = [sys.executable, str(FIXTURE_SERVER), "--transport", transport, "--port", str(port)]
    proc = start_process([*argv, "--name", name], log)
    try:
        wait_listening(proc, port, log)
    except BaseException:
        stop_server(proc)
        raise
    return proc


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL to the group when it lingers."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The fixture server over Streamable HTTP on a free port; yields its ``/mcp`` URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("web") / "fixture-web.log"
    proc = spawn_fixture_server("http", port, log, "web")
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        stop_server(proc)


def wait_listening(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    end = time.monotonic() + STARTUP_DEADLINE
    while time.monotonic() < end:
        if proc.poll() is not None:
            pytest.fail(f"fixture server exited with {proc.returncode}:\n{log_tail(log)}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    pytest.fail(f"fixture server not listening on {port}:\n{log_tail(log)}")


@pytest.fixture(scope="session")
def standard_config(
    tmp_path_factory: pytest.TempPathFactory, git_repo: Path, web_server: str
) -> Path:
    """A YAML config with the four standard backends."""
    path = tmp_path_factory.mktemp("config") / "only1mcp.yaml"
    return write_config(path, standard_servers(git_repo, web_server))


@pytest.fixture(scope="module", params=FRONT_KINDS)
def front(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    standard_config: Path,
) -> Iterator[Front]:
    """The aggregator over the standard config, once per front transport (module-shared)."""
    kind: str = request.param
    with open_front(kind, standard_config, tmp_path_factory.mktemp(f"front-{kind}")) as f:
        yield f


@pytest.fixture(params=FRONT_KINDS)
def front_kind(request: pytest.FixtureRequest) -> str:
    """Each front transport in turn, for tests that launch their own aggregator."""
    kind: str = request.param
    return kind


@pytest.fixture
def launch(front_kind: str, tmp_path: Path) -> Iterator[Callable[[Path], Front]]:
    """Factory: ``launch(config)`` starts a private aggregator of ``front_kind`` over it."""
    with contextlib.ExitStack() as stack:
        count = iter(range(1_000))

        def start(config: Path) -> Front:
            workdir = tmp_path / f"front-{front_kind}-{next(count)}"
            return stack.enter_context(open_front(front_kind, config, workdir))

        yield start


# --------------------------------------------------------------------------- helpers for tests


async def run_watched(
    watch: Callable[[], Awaitable[None]],
    workers: list[Callable[[], Awaitable[None]]],
    deadline: float,
) -> None:
    """Run ``workers`` concurrently (within ``deadline`` seconds) with ``watch`` beside them,
    cancelled once they are done (it samples what they cause, e.g. the processes)."""
    with anyio.fail_after(deadline):
        async with anyio.create_task_group() as watching:
            watching.start_soon(watch)
            async with anyio.create_task_group() as calls:
                for worker in workers:
                    calls.start_soon(worker)
            watching.cancel_scope.cancel()


async def list_all_tools(client: Client) -> tuple[list[mcp_types.Tool], list[dict[str, Any]]]:
    """Every tool over all pages, and the ``_meta`` of each page (in order)."""
    tools: list[mcp_types.Tool] = []
    metas: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(100):
        page = await client.list_tools(cursor=cursor)
        tools += page.tools
        metas.append(dict(page.meta or {}))
        cursor = page.next_cursor
        if cursor is None:
            return tools, metas
    raise AssertionError("tools/list pagination did not end within 100 pages")


def prompt_of(params: mcp_types.CreateMessageRequestParams) -> str:
    """The text of a sampling request's first message (``?`` when it is not text)."""
    content = params.messages[0].content
    return content.text if isinstance(content, mcp_types.TextContent) else "?"


def sampled(text: str, model: str = "test-model") -> mcp_types.CreateMessageResult:
    """What a test client's sampling callback answers: ``text`` from the assistant."""
    return mcp_types.CreateMessageResult(
        role="assistant",
        content=mcp_types.TextContent(type="text", text=text),
        model=model,
        stop_reason="endTurn",
    )


def text_of(result: mcp_types.CallToolResult) -> str:
    """The text content of a tool result, joined by newlines."""
    return "\n".join(c.text for c in result.content if isinstance(c, mcp_types.TextContent))


async def call_outcome(client: Client, name: str, arguments: dict[str, Any]) -> tuple[bool, str]:
    """Call a tool; ``(True, text)`` on success, ``(False, message)`` on any kind of error.

    Both a JSON-RPC error and a result with ``isError`` count as errors.
    """
    try:
        result = await client.call_tool(name, arguments)
    except MCPError as exc:
        return False, f"JSON-RPC error {exc.code}: {exc.message}"
    return (not result.is_error), text_of(result)


@dataclass
class CliRun:
    """A finished ``only1mcp`` CLI run."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    leaks: list[str]

    def describe(self) -> str:
        """Everything about the run, for assertion messages."""
        return (
            f"$ {' '.join(self.argv)}\nexit {self.returncode}\n--- stdout ---\n{self.stdout}"
            f"\n--- stderr ---\n{self.stderr}"
        )


def run_cli(args: list[str], cwd: Path, timeout: float = 60.0) -> CliRun:
    """Run ``only1mcp ARGS`` to completion, recording (and checking) its descendants."""
    argv = [venv_bin("only1mcp"), *args]
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        start_new_session=True,
    )
    tracker = ProcessTracker(proc.pid, interval=0.05)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        tracker.snapshot()
        _kill_group(proc.pid)
        out, err = proc.communicate(timeout=10)
        tracker.stop()
        tracker.leak_report()
        raise AssertionError(
            f"$ {' '.join(argv)} did not finish within {timeout}s\n--- stdout ---\n"
            f"{out.decode(errors='replace')}\n--- stderr ---\n{err.decode(errors='replace')}"
        ) from None
    tracker.stop()
    return CliRun(
        argv,
        proc.returncode,
        out.decode(errors="replace"),
        err.decode(errors="replace"),
        tracker.leak_report(),
    )
