"""Shared machinery of the load tests: the targets as subprocesses, sessions, wrk, CPU and RSS.

Every target listens on a free port of 127.0.0.1 and is driven by ``wrk`` with
``loadtests/mcp.lua``; nothing here talks to any other address. Each ``wrk`` run is bounded by
its ``-d`` duration (and a hard subprocess timeout on top).

Used by ``run_load.py`` (the full matrix, the report) and ``gate.py`` (``make bench-gate``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
LOADTESTS = REPO / "loadtests"
BENCH = REPO / ".bench"  # scratch: built binaries, venvs, logs, configs (not committed)
LUA = LOADTESTS / "mcp.lua"
PROJECT_BIN = REPO / ".venv" / "bin"
PROJECT_PY = PROJECT_BIN / "python"
PROXY_VENV = BENCH / "mcp-proxy-venv"
TOOLS_VENV = BENCH / "tools-venv"
PROTOCOL = "2025-11-25"
STATELESS = "2026-07-28"  # the stateless revision: a Target with this era opens no session
HOST = "127.0.0.1"
ECHO_ARGUMENTS = {"text": "hello", "n": 42}  # what mcp.lua sends the echo backend's tool
TOOLS_PACKAGES = ["matplotlib>=3.8", "locust>=2.20", "py-spy>=0.3.14"]
PROXY_PACKAGES = ["mcp-proxy>=0.8", "mcp>=1.8,<2"]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def target_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every process under test.

    Bytecode is cached (under .bench/pycache, so the source tree is not touched) even where
    PYTHONDONTWRITEBYTECODE is set, as this sandbox does: an installed product has its .pyc
    files, and compiling the package on every start would inflate cold start and RSS.
    """
    env = {**os.environ, **(extra or {})}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(BENCH / "pycache")
    return env


def project_python() -> str:
    return str(PROJECT_PY if PROJECT_PY.exists() else sys.executable)


# ----------------------------------------------------------------------------- tools


def ensure_wrk() -> str:
    """The wrk binary; installed with apt-get when missing and running as root."""
    path = shutil.which("wrk")
    if path:
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk is missing: apt-get install -y wrk")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], env=env).returncode:
            subprocess.run(["apt-get", "update", "-q"], env=env, check=False)
            subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], env=env, check=False)
        path = shutil.which("wrk")
        if path:
            return path
    raise SystemExit(
        "wrk is not installed. Install it with `sudo apt-get install -y wrk` (Debian/Ubuntu) "
        "or `brew install wrk` (macOS), then run this again."
    )


def build_c_backend() -> Path | None:
    """Compile loadtests/echo_backend.c into .bench/echo_backend (None without a C compiler)."""
    src, exe = LOADTESTS / "echo_backend.c", BENCH / "echo_backend"
    if exe.exists() and exe.stat().st_mtime >= src.stat().st_mtime:
        return exe
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        log("no C compiler: the C echo backend is not available")
        return None
    BENCH.mkdir(exist_ok=True)
    done = subprocess.run([cc, "-O2", "-o", str(exe), str(src)], capture_output=True, text=True)
    if done.returncode:
        log(f"building the C echo backend failed:\n{done.stderr}")
        return None
    return exe


def backend_command(kind: str) -> list[str]:
    if kind == "c":
        exe = build_c_backend()
        if exe is None:
            raise SystemExit("--backend c needs gcc or cc")
        return [str(exe)]
    return [project_python(), str(LOADTESTS / "echo_backend.py")]


def backend_selftest(kind: str, seconds: float = 1.5) -> dict[str, float]:
    """Standalone rates of one echo backend (see echo_backend.py --selftest)."""
    cmd = [project_python(), str(LOADTESTS / "echo_backend.py"), "--selftest"]
    out = subprocess.run(
        [*cmd, *backend_command(kind)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=target_env(),
    )
    rates: dict[str, float] = json.loads(out.stdout)
    return rates


def ensure_venv(path: Path, packages: list[str], probe: str) -> Path:
    """A venv at ``path`` with ``packages`` (created on first use); returns its bin dir."""
    bin_dir = path / "bin"
    if (bin_dir / probe).exists():
        return bin_dir
    log(f"creating {path.relative_to(REPO)}: pip install {' '.join(packages)}")
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    pip = [str(bin_dir / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, *packages], check=True)
    return bin_dir


def tools_bin() -> Path:
    return ensure_venv(TOOLS_VENV, TOOLS_PACKAGES, "locust")


def proxy_bin() -> Path:
    return ensure_venv(PROXY_VENV, PROXY_PACKAGES, "mcp-proxy")


def machine_facts() -> dict[str, Any]:
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    facts: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "os": _os_name(),
        "python": platform.python_version(),
        "wrk": wrk.strip(),
        "load_avg_before": [round(x, 2) for x in os.getloadavg()],
        "git_rev": _git_rev(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }
    with contextlib.suppress(OSError):
        facts["cpuidle_driver"] = (
            Path("/sys/devices/system/cpu/cpuidle/current_driver").read_text().strip()
        )
    return facts


def _os_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    return platform.system()


def _git_rev() -> str:
    out = subprocess.run(
        ["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True, text=True
    )
    return out.stdout.strip()


def cpu_ticks() -> tuple[int, int]:
    """(busy, steal) cumulative ticks of the whole machine from /proc/stat, (0, 0) if unknown."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields[:8]) - idle - fields[7], fields[7]
    return 0, 0


# --------------------------------------------------------------------------- targets


@dataclass
class Target:
    """One HTTP endpoint under test, run as a subprocess on a free port."""

    name: str
    cmd: list[str]
    port: int
    path: str = "/mcp"
    tool: str = "bench__echo"
    ready_path: str | None = "/healthz"
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    session: str | None = None
    version: str = PROTOCOL
    era: str = "handshake"  # or STATELESS: no session, every request carries the 2026 envelope
    log_path: Path | None = None
    started_at: float = 0.0
    ready_after: float = 0.0
    origin: Target | None = None  # the target this one is a view of (see view())
    #: Sent with every request (an Authorization header when the target has auth on).
    headers: dict[str, str] = field(default_factory=dict)
    #: The tool's arguments; None: the echo backend's, whose answer is checked to echo them.
    arguments: dict[str, Any] | None = None
    #: A server of the run's own that this one forwards to and is not its child (an HTTP
    #: backend): its CPU is counted as the run's (``upstream_cpu_us``), not as other users'.
    upstream: Target | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}{self.path}"

    @property
    def pid(self) -> int:
        proc = self.proc if self.origin is None else self.origin.proc
        assert proc is not None
        return proc.pid

    def start(self, timeout: float = 60.0) -> Target:
        logs = BENCH / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.log_path = logs / f"{self.name.replace('/', '-').replace(' ', '_')}.log"
        out = self.log_path.open("wb")
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(
            self.cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=target_env(self.env),
            cwd=REPO,
            start_new_session=True,  # its own process group: stop() reaches the backends too
        )
        out.close()
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        self.ready_after = time.perf_counter() - self.started_at
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {self.tail()}")
            if self.ready_path is None:
                if _port_open(self.port):
                    return
            elif self._ready():
                return
            time.sleep(0.02)
        raise RuntimeError(f"{self.name} not ready after {timeout}s: {self.tail()}")

    def _ready(self) -> bool:
        """The ready path answers 200; an Only1MCP's ``/healthz`` also with no capability probe
        left running (each a second backend process, stopped once its server is decided):
        a run counts the settled processes."""
        assert self.ready_path is not None
        status, body = http_get_body(self.port, self.ready_path)
        if status != 200:
            return False
        try:
            health = json.loads(body)
        except ValueError:
            return True  # not an Only1MCP's health
        return not (isinstance(health, dict) and health.get("probing"))

    def tail(self, lines: int = 20) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def view(self, name: str, era: str) -> Target:
        """The same running server as another target (its own name, era and session): one
        HTTP backend is measured directly by both client eras. Only the original is stopped."""
        return dataclasses.replace(self, name=name, era=era, session=None, origin=self)

    def open_session(self) -> str | None:
        """initialize + notifications/initialized; keeps the session id and negotiated version.
        A 2026-era target has no session: one checked call with the envelope instead."""
        headers = {"accept": "application/json, text/event-stream", **self.headers}
        if self.era == STATELESS:
            self.session, self.version = None, STATELESS
            with httpx.Client(timeout=30, trust_env=False) as client:
                self.check_call(client, headers | stateless_headers(self.tool))
            return None
        init = {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL,
                "capabilities": {},
                "clientInfo": {"name": "only1mcp-loadtest", "version": "1.0"},
            },
        }
        with httpx.Client(timeout=30, trust_env=False) as client:
            resp = client.post(self.url, json=init, headers=headers)
            resp.raise_for_status()
            self.session = resp.headers["mcp-session-id"]
            answer = decode_answer(resp.headers.get("content-type", ""), resp.content)
            self.version = answer["result"]["protocolVersion"]
            headers |= {"mcp-session-id": self.session, "mcp-protocol-version": self.version}
            note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
            client.post(self.url, json=note, headers=headers).raise_for_status()
            self.check_call(client, headers)
        return self.session

    def check_call(self, client: httpx.Client, headers: dict[str, str]) -> None:
        arguments = ECHO_ARGUMENTS if self.arguments is None else self.arguments
        params: dict[str, Any] = {"name": self.tool, "arguments": arguments}
        if self.era == STATELESS:
            params["_meta"] = stateless_meta()
        call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
        resp = client.post(self.url, json=call, headers=headers)
        resp.raise_for_status()
        body = decode_answer(resp.headers.get("content-type", ""), resp.content)
        if self.arguments is not None:  # another server: any answer that is no error
            if "result" not in body or body["result"].get("isError"):
                raise RuntimeError(f"{self.name}: tools/call answered {body!r}")
            return
        if "result" not in body:
            raise RuntimeError(f"{self.name}: tools/call answered {body!r}")
        text = body["result"]["content"][0]["text"]
        if json.loads(text) != ECHO_ARGUMENTS:
            raise RuntimeError(f"{self.name}: tools/call answered {body!r}")

    def processes(self) -> tuple[psutil.Process | None, list[psutil.Process]]:
        """The server process and its descendants (the backends)."""
        try:
            main = psutil.Process(self.pid)
            return main, main.children(recursive=True)
        except psutil.Error:
            return None, []

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        # Whatever is left in its group (a backend that ignored SIGTERM).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc = None


def stateless_meta() -> dict[str, Any]:
    """The 2026 envelope a request carries in params._meta (what mcp.lua sends too)."""
    return {
        "io.modelcontextprotocol/protocolVersion": STATELESS,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "only1mcp-loadtest", "version": "1.0"},
    }


def stateless_headers(tool: str) -> dict[str, str]:
    return {"mcp-protocol-version": STATELESS, "mcp-method": "tools/call", "mcp-name": tool}


def decode_answer(content_type: str, body: bytes) -> Any:
    """The JSON-RPC message of an answer: a JSON body, or the last SSE event's data."""
    if not content_type.startswith("text/event-stream"):
        return json.loads(body)
    data = [ln[5:].strip() for ln in body.decode().splitlines() if ln.startswith("data:")]
    return json.loads(data[-1])


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((HOST, port)) == 0


def http_get(port: int, path: str, timeout: float = 1.0) -> int | None:
    """Status of GET path (a raw socket: cheap enough to poll every few ms), None if refused."""
    return http_get_body(port, path, timeout)[0]


def http_get_body(port: int, path: str, timeout: float = 1.0) -> tuple[int | None, bytes]:
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall(
                f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode()
            )
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
    except OSError:
        return None, b""
    try:
        status = int(data.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None, data
    return status, data.partition(b"\r\n\r\n")[2]


def only1mcp_target(name: str, config: Path, port: int | None = None) -> Target:
    port = port or free_port()
    exe = PROJECT_BIN / "only1mcp"
    return Target(name, [str(exe), "start", "--config", str(config), "--port", str(port)], port)


AUTH_SECRET = "only1mcp-loadtest-secret-0123456789abcdef"
AUTH_RESOURCE = "http://only1mcp.loadtest/mcp"
AUTH_CONFIG = [
    "auth:",
    "  modes: [jwt]",
    f"  resource: {AUTH_RESOURCE}",
    "  jwt:",
    "    issuer: loadtest",
    f"    secret: {AUTH_SECRET}",
    "    algorithms: [HS256]",
    "access:",  # deny by default once auth is on: the token's role may call everything
    "  roles:",
    '    bench: {tools: ["*"]}',
]


def auth_headers() -> dict[str, str]:
    """A bearer JWT for a config written with ``auth=True``, valid for two hours."""
    import jwt  # the project's dependency: the load test runs in the project's venv

    now = int(time.time())
    claims = {
        "iss": "loadtest",
        "sub": "bench",
        "aud": AUTH_RESOURCE,
        "exp": now + 7200,
        "roles": ["bench"],
    }
    return {"Authorization": "Bearer " + jwt.encode(claims, AUTH_SECRET, "HS256")}


def write_config(path: Path, backend: list[str], servers: int = 1, auth: bool = False) -> Path:
    """An Only1MCP config: ``bench`` (1 server) or ``s000`` … (many), all the echo backend;
    with ``auth``, JWT bearer authentication on (see :func:`auth_headers`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    names = ["bench"] if servers == 1 else [f"s{i:03d}" for i in range(servers)]
    lines = ["log_level: warning", "servers:"]
    for name in names:
        lines += [
            f"  {name}:",
            f"    command: {json.dumps(backend[0])}",
            f"    args: {json.dumps(backend[1:])}",
            "    timeout: 10",
        ]
    if auth:
        lines += AUTH_CONFIG
    path.write_text("\n".join(lines) + "\n")
    return path


def write_http_config(path: Path, url: str, protocol: str) -> Path:
    """An Only1MCP config with one Streamable HTTP server ``bench`` at ``url``, spoken to in
    ``protocol`` (``handshake`` or ``2026-07-28``: pinned, so each row measures one era)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["log_level: warning", "servers:", "  bench:", f"    url: {json.dumps(url)}"]
    lines += [f"    protocol: {json.dumps(protocol)}", "    timeout: 10"]
    path.write_text("\n".join(lines) + "\n")
    return path


def http_backend_target(name: str, sse: bool) -> Target:
    """loadtests/http_echo_backend.py (JSON answers, or with ``sse`` SSE streams)."""
    port = free_port()
    cmd = [project_python(), str(LOADTESTS / "http_echo_backend.py"), "--port", str(port)]
    return Target(name, [*cmd, *(["--sse"] if sse else [])], port, tool="echo")


def ceiling_target() -> Target:
    port = free_port()
    cmd = [project_python(), str(LOADTESTS / "ceiling_app.py"), "--port", str(port)]
    return Target("ceiling", cmd, port)


def relay_target(backend: list[str]) -> Target:
    port = free_port()
    cmd = [project_python(), str(LOADTESTS / "bare_relay.py"), "--port", str(port), "--", *backend]
    return Target("bare-relay", cmd, port, tool="echo")


def null_target() -> Target:
    port = free_port()
    cmd = [project_python(), str(LOADTESTS / "null_server.py"), "--port", str(port)]
    return Target("null", cmd, port, ready_path=None)


def proxy_target(backend: list[str]) -> Target:
    port = free_port()
    exe = proxy_bin() / "mcp-proxy"
    cmd = [str(exe), "--host", HOST, "--port", str(port), "--log-level", "WARNING", "--", *backend]
    return Target("mcp-proxy", cmd, port, tool="echo", ready_path="/status")


# ------------------------------------------------------------------------------- wrk


@dataclass
class Run:
    """One wrk run against one target: throughput, latency, errors, CPU, RSS."""

    target: str
    method: str
    conns: int
    threads: int
    duration_s: float
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    mean_ms: float
    max_ms: float
    errors: int
    first_error: str
    server_cpu_us: float  # CPU time of the server process per request
    backend_cpu_us: float  # CPU time of its descendants (the backends) per request
    wrk_cpu_us: float  # CPU time of wrk itself per request
    rss_mb: float  # peak RSS of the server process (not its children) during the run
    steal_pct: float  # hypervisor steal, % of the machine's CPU time during the run
    foreign_cpu_pct: float  # CPU used by processes other than these (other users), % of machine
    upstream_cpu_us: float = 0.0  # CPU time of the upstream server (an HTTP backend) per request

    def row(self) -> str:
        return (
            f"{self.target:<12} {self.method:<10} c={self.conns:<3} {self.rps:>9.0f} rps  "
            f"p50 {self.p50_ms:6.3f}  p99 {self.p99_ms:7.3f} ms  err {self.errors}  "
            f"cpu/call {self.server_cpu_us:5.1f}+{self.backend_cpu_us:4.1f} us  "
            f"rss {self.rss_mb:5.1f} MB  other load {self.foreign_cpu_pct:3.0f}%"
        )


def _cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


class RssSampler(threading.Thread):
    def __init__(self, proc: psutil.Process | None, every: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.proc, self.every, self.peak = proc, every, 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            with contextlib.suppress(psutil.Error, AttributeError):
                self.peak = max(self.peak, self.proc.memory_info().rss)  # type: ignore[union-attr]
            self.stopped.wait(self.every)


def wrk(
    target: Target,
    conns: int,
    duration: int,
    method: str = "tools/call",
    threads: int | None = None,
    cpu: int | None = None,
) -> Run:
    """Drive ``target`` with wrk for ``duration`` seconds at ``conns`` connections (wrk bound
    to vCPU ``cpu`` if given)."""
    threads = threads or (1 if conns <= 4 else 2)
    pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
    cmd = [
        *pin,
        "wrk",
        f"-t{threads}",
        f"-c{conns}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        target.url,
        "--",
        target.session or "-",
        target.version or "-",
        method,
        target.tool,
        "stateless" if target.era == STATELESS else "handshake",
        *(f"{name}: {value}" for name, value in target.headers.items()),
    ]
    main, children = target.processes()
    upstream = _upstream_processes(target)
    sampler = RssSampler(main)
    sampler.start()
    cpu_main, cpu_children = _cpu_seconds([main] if main else []), _cpu_seconds(children)
    cpu_upstream = _cpu_seconds(upstream)
    rusage = resource.getrusage(resource.RUSAGE_CHILDREN)
    (busy, steal), wall = cpu_ticks(), time.monotonic()
    own = time.process_time()
    env = None
    if target.arguments is not None:
        env = {**os.environ, "MCP_TOOL_ARGUMENTS": json.dumps(target.arguments)}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, env=env)
    (busy_after, steal_after), wall = cpu_ticks(), time.monotonic() - wall
    own = time.process_time() - own
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    sampler.stopped.set()
    sampler.join()
    cpu_main = _cpu_seconds([main] if main else []) - cpu_main
    # A child that exited during the run (a restarted backend) takes its CPU time with it.
    cpu_children = max(0.0, _cpu_seconds(children) - cpu_children)
    cpu_upstream = max(0.0, _cpu_seconds(upstream) - cpu_upstream)
    wrk_cpu = (after.ru_utime - rusage.ru_utime) + (after.ru_stime - rusage.ru_stime)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    data = json.loads(line[8:])
    n = max(1, data["requests"])
    errors = (
        data["bad_responses"]
        + data["connect_errors"]
        + data["read_errors"]
        + data["write_errors"]
        + data["timeouts"]
    )
    hz = os.sysconf("SC_CLK_TCK")
    capacity = wall * (os.cpu_count() or 1)  # CPU seconds the machine had during the run
    ours = cpu_main + cpu_children + cpu_upstream + wrk_cpu + own
    foreign = max(0.0, (busy_after - busy) / hz - ours)
    return Run(
        target=target.name,
        method=method,
        conns=conns,
        threads=threads,
        duration_s=data["duration_us"] / 1e6,
        requests=data["requests"],
        rps=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1e3,
        p90_ms=data["p90_us"] / 1e3,
        p99_ms=data["p99_us"] / 1e3,
        p999_ms=data["p999_us"] / 1e3,
        mean_ms=data["lat_mean_us"] / 1e3,
        max_ms=data["lat_max_us"] / 1e3,
        errors=errors,
        first_error=data["first_error"],
        server_cpu_us=cpu_main / n * 1e6,
        backend_cpu_us=cpu_children / n * 1e6,
        wrk_cpu_us=wrk_cpu / n * 1e6,
        rss_mb=sampler.peak / 2**20,
        steal_pct=100.0 * (steal_after - steal) / hz / capacity,
        foreign_cpu_pct=100.0 * foreign / capacity,
        upstream_cpu_us=cpu_upstream / n * 1e6,
    )


def _upstream_processes(target: Target) -> list[psutil.Process]:
    if target.upstream is None:
        return []
    main, children = target.upstream.processes()
    return [main, *children] if main is not None else children


BUSY_PCT = 20.0  # a run during which other processes used more of the machine is "disturbed"


def wrk_quiet(
    target: Target,
    conns: int,
    duration: int,
    method: str = "tools/call",
    retries: int = 2,
    busy_pct: float = BUSY_PCT,
    cpu: int | None = None,
    threads: int | None = None,
) -> list[Run]:
    """wrk, repeated (up to ``retries`` times) while other users' load disturbed the run.

    Returns every run made; the last one is the quiet one unless the retries ran out.
    """
    runs = [wrk(target, conns, duration, method, threads, cpu)]
    while runs[-1].foreign_cpu_pct > busy_pct and len(runs) <= retries:
        log(f"  disturbed ({runs[-1].foreign_cpu_pct:.0f}% other load): measuring again")
        runs.append(wrk(target, conns, duration, method, threads, cpu))
    return runs


@contextlib.contextmanager
def pinned(targets: list[Target], cpu: int = 0) -> Iterator[int | None]:
    """Bind each target's process tree to vCPU ``cpu`` for the block; yields the vCPU left for
    wrk (None on a one-CPU machine or where affinity cannot be set, and nothing is pinned).

    On a VM a wake-up across vCPUs costs far more than one on the same vCPU, and where the
    scheduler puts the server, its backend and wrk decides a sequential latency by 3x from one
    run to the next. Pinning takes that lottery out of a comparison between two targets.
    """
    cpus = os.cpu_count() or 1
    procs: list[psutil.Process] = []
    for target in targets:
        main, children = target.processes()
        procs += [p for p in [main, *children] if p is not None]
    if cpus < 2 or not hasattr(psutil.Process, "cpu_affinity"):
        yield None
        return
    try:
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                proc.cpu_affinity([cpu])
        yield cpus - 1 if cpu != cpus - 1 else 0
    finally:
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                proc.cpu_affinity(list(range(cpus)))


def rss_mb(target: Target) -> float:
    main, _ = target.processes()
    return main.memory_info().rss / 2**20 if main else 0.0


@contextlib.contextmanager
def running(*targets: Target) -> Iterator[list[Target]]:
    """Start every target (and open its session); stop them all on the way out."""
    started: list[Target] = []
    try:
        for target in targets:
            log(f"starting {target.name} on :{target.port}")
            started.append(target)
            target.start()
            if target.name != "null":
                target.open_session()
        yield started
    finally:
        for target in reversed(started):
            target.stop()


def scratch_dir(keep: int = 3) -> Path:
    """A fresh .bench/run-* directory (configs, locust CSVs); only the newest ``keep`` stay."""
    BENCH.mkdir(exist_ok=True)
    old = sorted(BENCH.glob("run-*"), key=lambda p: p.stat().st_mtime)
    for path in old[: max(0, len(old) - keep + 1)]:
        shutil.rmtree(path, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix="run-", dir=BENCH))
