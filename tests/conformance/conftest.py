"""Harness for the official MCP conformance suite (npm ``@modelcontextprotocol/conformance``).

The suite is an npm project pinned in ``tools/conformance`` (``make conformance-deps`` runs
``npm ci --prefix tools/conformance`` once): two versions of one package under npm aliases,
``conformance-stable`` (0.1.16) and ``conformance-next`` (0.2.0-alpha.12), and the npm package
``node`` (a Node 22 binary; the suite needs Node >= 22, the machine may have an older one).

Targets, each a real process on 127.0.0.1 with a free port, started once per session:

* ``direct``:   ``tests/fixtures/conformance_server.py --port P`` (official SDK, Streamable HTTP);
* ``only1mcp``: ``only1mcp start`` with that fixture (its own instance) as an HTTP backend with
  ``prefix: ""``, so the tool/prompt names the suite calls pass through unchanged;
* ``native``: ``tests/fixtures/conformance_server_native.py``, the same server speaking
  2026-07-28 natively (and the handshake era too: the SDK routes by header);
* ``only1mcp-native``: ``only1mcp start`` in front of its own instance of the native fixture,
  which Only1MCP probes as a 2026-07-28 server and speaks to statelessly, whatever era the
  suite's client uses (the direct pass-through and the reverse bridge);
* ``ts-direct``: ``tests/fixtures/conformance_server_ts.mjs --port P``, the same fixture on the
  official TypeScript SDK (``tools/mcp-js``, ``make js-deps``), both eras on one endpoint, run
  by the suite's Node 22;
* ``only1mcp-ts``: ``only1mcp start`` in front of its own instance of the TypeScript fixture.

Every process is started in its own process group and, at teardown, sent SIGTERM, waited for,
then SIGKILLed as a group; every suite run is bounded by ``SUITE_DEADLINE``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURE_SERVER = REPO_ROOT / "tests" / "fixtures" / "conformance_server.py"
NATIVE_SERVER = REPO_ROOT / "tests" / "fixtures" / "conformance_server_native.py"
TS_SERVER = REPO_ROOT / "tests" / "fixtures" / "conformance_server_ts.mjs"
TS_SDK = REPO_ROOT / "tools" / "mcp-js" / "node_modules" / "@modelcontextprotocol" / "sdk"
SUITE_DIR = REPO_ROOT / "tools" / "conformance"
NODE = SUITE_DIR / "node_modules" / ".bin" / "node"
BIN_DIR = Path(sys.executable).parent

STARTUP_DEADLINE = 45.0
"""How long the fixture server or the aggregator may take to become ready (seconds)."""
STOP_DEADLINE = 15.0
"""How long a process may take to exit after SIGTERM before its group is SIGKILLed."""
SUITE_DEADLINE = 240.0
"""Wall-clock bound of one whole suite run; a run still going then is killed and fails."""


@dataclass(frozen=True)
class SuiteConfig:
    """One way to run the suite: which package, which extra arguments."""

    id: str
    package: str
    args: tuple[str, ...]
    expected_passed: int
    """Checks the direct fixture passes (the pinned suite's full count for this config)."""


SUITE_CONFIGS: dict[str, SuiteConfig] = {
    "stable-default": SuiteConfig("stable-default", "conformance-stable", (), 40),
    "next-2025-11-25-all": SuiteConfig(
        "next-2025-11-25-all",
        "conformance-next",
        ("--spec-version", "2025-11-25", "--suite", "all"),
        84,
    ),
}

SUITE_2026 = SuiteConfig(
    "next-2026-07-28-all",
    "conformance-next",
    ("--spec-version", "2026-07-28", "--suite", "all"),
    152,
)
"""The stateless revision; 152 checks pass against the native fixtures (0 failed, one INFO)."""

ALL_CONFIGS = {**SUITE_CONFIGS, SUITE_2026.id: SUITE_2026}

_SCENARIO_LINE = re.compile(r"^([✓✗]) (\S+): (\d+) passed, (\d+) failed", re.MULTILINE)
_TOTAL_LINE = re.compile(r"^Total: (\d+) passed, (\d+) failed", re.MULTILINE)
_NOISE = re.compile(r"^(=== Running scenario: |Running client scenario |Results saved to )")
_RESULT_DIR = re.compile(r"^server-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$")


# --------------------------------------------------------------------------- suite runs


@dataclass
class Check:
    """One check from a scenario's ``checks.json``."""

    scenario: str
    id: str
    name: str
    status: str
    message: str

    def line(self) -> str:
        return f"[{self.status}] {self.scenario} / {self.id} ({self.name}): {self.message}"


@dataclass
class SuiteRun:
    """A finished (or killed) suite run and what it reported."""

    argv: list[str]
    returncode: int | None
    output: str
    timed_out: bool
    passed: int | None = None
    failed: int | None = None
    scenarios: dict[str, tuple[int, int]] = field(default_factory=dict)
    """scenario -> (passed, failed), from the summary lines."""
    checks: list[Check] = field(default_factory=list)
    """Every check of every scenario, from the ``-o`` result directory."""

    def failing_lines(self) -> list[str]:
        """The summary lines of scenarios with a failed check."""
        return [m.group(0) for m in _SCENARIO_LINE.finditer(self.output) if m.group(1) == "✗"]

    def bad_checks(self) -> list[Check]:
        """Checks that failed or warned."""
        return [c for c in self.checks if c.status in ("FAILURE", "WARNING")]

    def describe(self, limit: int = 6000) -> str:
        """The command, its exit, and its output less the per-scenario progress lines."""
        head = f"$ {' '.join(self.argv)}\nexit {self.returncode}"
        if self.timed_out:
            head += f" (killed after {SUITE_DEADLINE:.0f}s)"
        kept = [line for line in self.output.splitlines() if not _NOISE.match(line)]
        text = "\n".join(line for line in kept if line.strip())
        if len(text) > limit:
            text = "..." + text[-limit:]
        return f"{head}\n--- suite output (progress lines left out) ---\n{text}"


def suite_entry(package: str) -> Path:
    """``dist/index.js`` of an installed suite package, or a test failure saying how to get it."""
    entry = SUITE_DIR / "node_modules" / package / "dist" / "index.js"
    if not NODE.exists() or not entry.exists():
        pytest.fail(
            f"the conformance suite is not installed ({entry} / {NODE} missing): "
            "run `make conformance-deps` (npm ci --prefix tools/conformance)"
        )
    return entry


def _read_checks(results: Path) -> list[Check]:
    checks: list[Check] = []
    for path in sorted(results.glob("*/checks.json")):
        match = _RESULT_DIR.match(path.parent.name)
        scenario = match.group(1) if match else path.parent.name
        try:
            items: list[dict[str, Any]] = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            checks.append(Check(scenario, "<unreadable>", "", "FAILURE", repr(exc)))
            continue
        for item in items:
            details = item.get("details")
            note = details.get("message") if isinstance(details, dict) else None
            message = str(item.get("errorMessage") or note or item.get("description") or "")
            checks.append(
                Check(
                    scenario,
                    str(item.get("id")),
                    str(item.get("name")),
                    str(item.get("status")),
                    message.replace("\n", " ")[:400],
                )
            )
    return checks


def run_suite(config: SuiteConfig, url: str, results: Path) -> SuiteRun:
    """Run the suite ``config`` against ``url`` (bounded); results land in ``results``."""
    argv = [
        str(NODE),
        str(suite_entry(config.package)),
        "server",
        "--url",
        url,
        *config.args,
        "-o",
        str(results),
    ]
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    env.pop("NODE_OPTIONS", None)
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=SUITE_DIR,
        env=env,
        start_new_session=True,
    )
    timed_out = False
    try:
        out, _ = proc.communicate(timeout=SUITE_DEADLINE)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc)
        out, _ = proc.communicate(timeout=STOP_DEADLINE)
    run = SuiteRun(argv, proc.returncode, out.decode("utf-8", "replace"), timed_out)
    total = _TOTAL_LINE.search(run.output)
    if total:
        run.passed, run.failed = int(total.group(1)), int(total.group(2))
    for match in _SCENARIO_LINE.finditer(run.output):
        run.scenarios[match.group(2)] = (int(match.group(3)), int(match.group(4)))
    run.checks = _read_checks(results)
    return run


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def log_tail(path: Path, limit: int = 6000) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return data[-limit:].decode("utf-8", "replace")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, wait up to ``STOP_DEADLINE``, then SIGKILL the whole process group."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=STOP_DEADLINE)
    _kill_group(proc)  # stragglers in the group, if any
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STOP_DEADLINE)


@contextlib.contextmanager
def spawn(argv: list[str], log: Path, cwd: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``argv`` in its own process group with output to ``log``; stop it on exit."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        stop(proc)


def _http_status(url: str) -> int | None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=2) as resp:
            status: int = resp.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def wait_ready(proc: subprocess.Popen[bytes], log: Path, what: str, probe: str | int) -> None:
    """Wait until ``probe`` answers: a URL with 200, or a port that accepts connections."""
    end = time.monotonic() + STARTUP_DEADLINE
    while time.monotonic() < end:
        if proc.poll() is not None:
            pytest.fail(
                f"{what} exited with {proc.returncode} before it was ready:\n{log_tail(log)}"
            )
        if isinstance(probe, int):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                if sock.connect_ex(("127.0.0.1", probe)) == 0:
                    return
        elif _http_status(probe) == 200:
            return
        time.sleep(0.1)
    pytest.fail(f"{what} not ready after {STARTUP_DEADLINE}s:\n{log_tail(log)}")


def _interpreter(script: Path) -> list[str]:
    """What runs ``script``: this Python, or for a ``.mjs`` fixture the suite's Node 22."""
    if script.suffix != ".mjs":
        return [sys.executable]
    if not NODE.exists():
        pytest.fail(f"{NODE} is missing: run `make conformance-deps`")
    if not (TS_SDK / "package.json").exists():
        pytest.fail(f"the TypeScript SDK is not installed ({TS_SDK}): run `make js-deps`")
    return [str(NODE)]


@contextlib.contextmanager
def fixture_server(workdir: Path, script: Path = FIXTURE_SERVER) -> Iterator[str]:
    """A conformance fixture (``script``) over Streamable HTTP; yields its ``/mcp`` URL."""
    port = free_port()
    log = workdir / f"{script.stem}.log"
    argv = [*_interpreter(script), str(script), "--port", str(port)]
    with spawn(argv, log, workdir) as proc:
        wait_ready(proc, log, f"the conformance fixture {script.name}", port)
        yield f"http://127.0.0.1:{port}/mcp"


@contextlib.contextmanager
def only1mcp_front(backend_url: str, workdir: Path) -> Iterator[str]:
    """``only1mcp start`` with ``backend_url`` as its one (unprefixed) server; yields its URL."""
    config = workdir / "only1mcp.yaml"
    server = {"url": backend_url, "prefix": "", "timeout": 30}
    config.write_text(yaml.safe_dump({"servers": {"conformance": server}}, sort_keys=False))
    port = free_port()
    log = workdir / "only1mcp.log"
    exe = BIN_DIR / "only1mcp"
    if not exe.exists():
        pytest.fail(f"{exe} is missing: install the project into the venv running pytest")
    argv = [str(exe), "start", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    with spawn(argv, log, workdir) as proc:
        wait_ready(proc, log, "only1mcp start", f"http://127.0.0.1:{port}/healthz")
        yield f"http://127.0.0.1:{port}/mcp"


# --------------------------------------------------------------------------- fixtures


@dataclass
class Target:
    """Where the suite is pointed, and the log to show when a run fails."""

    name: str
    url: str
    logs: list[Path]


@contextlib.contextmanager
def _target(
    factory: pytest.TempPathFactory, name: str, script: Path, *, through_only1mcp: bool
) -> Iterator[Target]:
    """A fixture ``script`` alone, or Only1MCP in front of its own instance of it."""
    workdir = factory.mktemp(f"conformance-{name}")
    logs = [workdir / f"{script.stem}.log"]
    with fixture_server(workdir, script) as url:
        if not through_only1mcp:
            yield Target(name, url, logs)
            return
        with only1mcp_front(url, workdir) as front:
            yield Target(name, front, [workdir / "only1mcp.log", *logs])


@pytest.fixture(scope="session")
def direct_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    with _target(tmp_path_factory, "direct", FIXTURE_SERVER, through_only1mcp=False) as target:
        yield target


@pytest.fixture(scope="session")
def only1mcp_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    with _target(tmp_path_factory, "only1mcp", FIXTURE_SERVER, through_only1mcp=True) as target:
        yield target


@pytest.fixture(scope="session")
def native_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """The SDK fixture speaking 2026-07-28 natively, on a free loopback port."""
    with _target(tmp_path_factory, "native", NATIVE_SERVER, through_only1mcp=False) as target:
        yield target


@pytest.fixture(scope="session")
def only1mcp_native_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """Only1MCP in front of its own native fixture: a 2026-07-28 backend."""
    with _target(
        tmp_path_factory, "only1mcp-native", NATIVE_SERVER, through_only1mcp=True
    ) as target:
        yield target


@pytest.fixture(scope="session")
def ts_direct_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """The TypeScript-SDK fixture (both eras) alone, on a free loopback port."""
    with _target(tmp_path_factory, "ts-direct", TS_SERVER, through_only1mcp=False) as target:
        yield target


@pytest.fixture(scope="session")
def only1mcp_ts_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """Only1MCP in front of its own TypeScript-SDK fixture (a dual-era backend)."""
    with _target(tmp_path_factory, "only1mcp-ts", TS_SERVER, through_only1mcp=True) as target:
        yield target


class DirectRuns(dict[str, SuiteRun]):
    """Suite runs against a fixture alone, keyed by config id (``ALL_CONFIGS``), each run on
    first use."""

    def __init__(self, target: Target, factory: pytest.TempPathFactory) -> None:
        super().__init__()
        self._target = target
        self._factory = factory

    def __missing__(self, key: str) -> SuiteRun:
        results = self._factory.mktemp(f"results-{self._target.name}-{key}")
        run = self[key] = run_suite(ALL_CONFIGS[key], self._target.url, results)
        return run


@pytest.fixture(scope="session")
def direct_runs(direct_target: Target, tmp_path_factory: pytest.TempPathFactory) -> DirectRuns:
    """The direct runs, shared: the through-Only1MCP tests compare against them check by check."""
    return DirectRuns(direct_target, tmp_path_factory)


@pytest.fixture(scope="session")
def ts_direct_runs(
    ts_direct_target: Target, tmp_path_factory: pytest.TempPathFactory
) -> DirectRuns:
    """The runs against the TypeScript fixture alone: the baseline of ``only1mcp-ts``."""
    return DirectRuns(ts_direct_target, tmp_path_factory)
