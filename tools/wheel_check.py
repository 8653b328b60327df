"""Prove that a built wheel installs and serves on a machine without a Rust toolchain.

    python tools/wheel_check.py                     # build with maturin, then check
    python tools/wheel_check.py --wheel-dir dist -- mcp-server-time --local-timezone UTC

Steps, each timed: build the abi3 wheel (``maturin build --release``, reusing cargo's
``target/`` cache), create a fresh venv, install the wheel there with a PATH that holds no
``cargo``/``rustc`` and with ``--only-binary :all:`` (nothing may compile), run
``only1mcp --version``, start ``only1mcp start`` on a small config with one real stdio server
(``mcp-server-time`` by default), make real MCP calls over HTTP (``initialize``, ``tools/list``,
``tools/call``), scrape the admin listener's ``/metrics``, and stop the server with SIGTERM.

Only the standard library is used, so the script runs under any Python >= 3.11 on Linux,
macOS and Windows (the wheels workflow runs it on each).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
WINDOWS = os.name == "nt"
RUST_TOOLS = ("cargo", "rustc", "rustup")
PROTOCOL_VERSION = "2025-11-25"
STARTUP_DEADLINE = 60.0
EXIT_DEADLINE = 20.0


class CheckFailed(Exception):
    """One step of the check did not do what it must; the message says what was seen."""


@dataclass
class Report:
    """Seconds per step, printed as the check goes."""

    steps: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        print(f"wheel-check: {name} ...", flush=True)
        yield
        self.steps[name] = time.perf_counter() - start
        print(f"wheel-check: {name}: ok ({self.steps[name]:.1f}s)", flush=True)


def sibling_tool(name: str) -> str | None:
    """``name`` next to the running interpreter (a venv's scripts), else on PATH."""
    folder = Path(sys.executable).parent
    for candidate in (folder / name, folder / f"{name}.exe"):
        if candidate.exists():
            return str(candidate)
    return shutil.which(name)


def run(argv: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    """Run ``argv``; its output, or :class:`CheckFailed` with that output when it fails."""
    done = subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        raise CheckFailed(
            f"{' '.join(argv)} exited with {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    return done.stdout


def build_wheel(out: Path) -> None:
    maturin = sibling_tool("maturin")
    if maturin is None:
        raise CheckFailed("maturin is not installed: install the project's [dev] extra")
    run([maturin, "build", "--release", "--out", str(out)], cwd=REPO_ROOT)


def wheel_names(folder: Path) -> str:
    wheels = sorted(path.name for path in folder.glob("only1mcp-*.whl"))
    if not wheels:
        raise CheckFailed(f"no only1mcp-*.whl in {folder}")
    return ", ".join(wheels)


def rustless_env(venv_bin: Path) -> dict[str, str]:
    """The environment with the venv first on PATH and every folder holding a Rust tool gone,
    so an install that tried to compile the extension would fail here."""
    folders = [
        part
        for part in os.environ.get("PATH", "").split(os.pathsep)
        if part and not any(shutil.which(tool, path=part) for tool in RUST_TOOLS)
    ]
    path = os.pathsep.join([str(venv_bin), *folders])
    for tool in RUST_TOOLS:
        if shutil.which(tool, path=path):
            raise CheckFailed(f"{tool} is still on the scrubbed PATH {path}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CARGO", "RUSTUP", "VIRTUAL"))}
    env["PATH"] = path
    env.pop("PYTHONPATH", None)  # the source tree must not stand in for the installed wheel
    return env


def scripts_dir(venv: Path) -> Path:
    return venv / ("Scripts" if WINDOWS else "bin")


def executable(folder: Path, name: str) -> str:
    return str(folder / (f"{name}.exe" if WINDOWS else name))


def install(wheel_dir: Path, venv: Path, env: dict[str, str]) -> None:
    """A fresh venv with the wheel; its dependencies from the index, as wheels only."""
    run([sys.executable, "-m", "venv", str(venv)], env=env)
    python = executable(scripts_dir(venv), "python")
    # --no-compile: byte-compiling every dependency is most of an install's CPU, and proves
    # nothing about the wheel.
    pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile"]
    # Pick the wheel that fits this platform from the folder alone (a CI artifact folder may
    # hold several), then resolve its dependencies from the index.
    run([*pip, "--no-index", "--find-links", str(wheel_dir), "--no-deps", "only1mcp"], env=env)
    run([*pip, "--only-binary", ":all:", "--find-links", str(wheel_dir), "only1mcp"], env=env)


def check_installed(venv: Path, env: dict[str, str], work: Path) -> str:
    """``only1mcp --version``, and the package (with its Rust extension) imported from the
    venv, not from a source tree."""
    version = run([executable(scripts_dir(venv), "only1mcp"), "--version"], env=env).strip()
    if not version.startswith("only1mcp "):
        raise CheckFailed(f"only1mcp --version printed {version!r}")
    probe = "import only1mcp, only1mcp._core as c; print(only1mcp.__file__); print(c.__file__)"
    python = executable(scripts_dir(venv), "python")
    for line in run([python, "-c", probe], env=env, cwd=work).split():
        if not Path(line).resolve().is_relative_to(venv.resolve()):
            raise CheckFailed(f"only1mcp was imported from {line}, not from the fresh venv")
    return version


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_config(path: Path, port: int, admin_port: int, server: list[str]) -> None:
    # JSON is YAML too: no YAML writer is needed here.
    config = {
        "front": {"host": "127.0.0.1", "port": port},
        "admin": {"host": "127.0.0.1", "port": admin_port},
        "servers": {"time": {"command": server[0], "args": server[1:], "timeout": 30}},
    }
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")


def http(url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[Any, str]:
    """One HTTP exchange: (the response's headers, its text)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers or {})
    if data is not None:
        request.add_header("content-type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.headers, answer.read().decode("utf-8")


def rpc_result(text: str, wanted_id: int) -> dict[str, Any]:
    """The result of request ``wanted_id`` from a JSON body or an SSE stream."""
    bodies = [text] if text.lstrip().startswith("{") else _sse_data(text)
    for raw in bodies:
        message = json.loads(raw)
        if message.get("id") == wanted_id:
            if "result" not in message:
                raise CheckFailed(f"request {wanted_id} failed: {message}")
            result: dict[str, Any] = message["result"]
            return result
    raise CheckFailed(f"no answer to request {wanted_id} in {text[:500]!r}")


def _sse_data(text: str) -> list[str]:
    return [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]


class McpClient:
    """Just enough of a Streamable HTTP client (handshake era) for the check."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.headers = {"accept": "application/json, text/event-stream"}
        self.next_id = 0

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.next_id += 1
        body = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}
        headers, text = http(self.url, body, self.headers)
        if method == "initialize":
            self.headers["mcp-session-id"] = headers["mcp-session-id"]
            self.headers["mcp-protocol-version"] = PROTOCOL_VERSION
            note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
            http(self.url, note, self.headers)
        return rpc_result(text, self.next_id)


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    log: Path
    base: str
    admin: str

    def log_tail(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-6000:]

    def wait_ready(self) -> None:
        end = time.monotonic() + STARTUP_DEADLINE
        last = "no answer"
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise CheckFailed(f"only1mcp start exited with {self.proc.returncode}")
            try:
                health = json.loads(http(f"{self.base}/healthz")[1])
                if health.get("status") == "ok":
                    return
                last = str(health)
            except (OSError, ValueError) as exc:
                last = repr(exc)
            time.sleep(0.2)
        raise CheckFailed(f"/healthz not ok after {STARTUP_DEADLINE}s (last: {last})")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=EXIT_DEADLINE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise CheckFailed(f"only1mcp did not exit {EXIT_DEADLINE}s after SIGTERM") from None
        return self.proc.returncode


def start(venv: Path, env: dict[str, str], work: Path, server: list[str]) -> Server:
    port, admin_port = free_port(), free_port()
    config = work / "only1mcp.json"
    write_config(config, port, admin_port, server)
    log = work / "only1mcp.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [executable(scripts_dir(venv), "only1mcp"), "start", "--config", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=work,
        )
    return Server(proc, log, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin_port}")


def serve_and_call(server: Server, tool: str, arguments: dict[str, Any]) -> str:
    """Real MCP calls through the installed aggregator; the tool's first text."""
    client = McpClient(f"{server.base}/mcp")
    init = client.request(
        "initialize",
        {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "wheel-check", "version": "1"},
        },
    )
    if init.get("serverInfo", {}).get("name") is None:
        raise CheckFailed(f"initialize answered {init}")
    names = [item["name"] for item in client.request("tools/list", {})["tools"]]
    if tool not in names:
        raise CheckFailed(f"{tool} is not among the tools {names}")
    result = client.request("tools/call", {"name": tool, "arguments": arguments})
    texts = [str(part.get("text", "")) for part in result.get("content", [])]
    if result.get("isError") or not texts or not texts[0]:
        raise CheckFailed(f"tools/call {tool} answered {result}")
    return texts[0]


def scrape(server: Server) -> None:
    text = http(f"{server.admin}/metrics")[1]
    wanted = "mcp_server_operation_duration_seconds_count{"
    calls = [line for line in text.splitlines() if line.startswith(wanted) and "tools/call" in line]
    if not calls:
        raise CheckFailed(f"/metrics of the admin listener counts no tools/call:\n{text[:2000]}")


def check(args: argparse.Namespace, work: Path) -> Report:
    report = Report()
    wheel_dir = args.wheel_dir or work / "dist"
    if args.wheel_dir is None:
        with report.step("build the wheel (maturin build --release)"):
            build_wheel(wheel_dir)
    print(f"wheel-check: wheels: {wheel_names(wheel_dir)}")
    venv = work / "venv"
    env = rustless_env(scripts_dir(venv))
    with report.step("install into a fresh venv, no cargo/rustc on PATH"):
        install(wheel_dir, venv, env)
    with report.step("only1mcp --version"):
        print(f"wheel-check: version: {check_installed(venv, env, work)}")
    server = start(venv, env, work, args.server)
    try:
        with report.step("only1mcp start, until /healthz is ok"):
            server.wait_ready()
        with report.step(f"MCP initialize, tools/list, tools/call {args.tool}"):
            print(f"wheel-check: answer: {serve_and_call(server, args.tool, args.arguments)}")
        with report.step("admin /metrics"):
            scrape(server)
    except (CheckFailed, OSError) as exc:
        server.stop()
        raise CheckFailed(f"{exc}\n--- only1mcp log ---\n{server.log_tail()}") from exc
    with report.step("SIGTERM"):
        code = server.stop()
        if code != 0 and not WINDOWS:  # Windows has no SIGTERM: terminate() is a kill
            raise CheckFailed(f"only1mcp exited with {code}:\n{server.log_tail()}")
    return report


def default_server() -> list[str]:
    time_server = sibling_tool("mcp-server-time")
    return [time_server or "mcp-server-time", "--local-timezone", "UTC"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--wheel-dir", type=Path, help="check a wheel from this folder instead of building one"
    )
    parser.add_argument(
        "server",
        nargs="*",
        help="after --: the stdio server's command and arguments (default: mcp-server-time next "
        "to this Python, --local-timezone UTC)",
    )
    parser.add_argument("--tool", default="time__get_current_time", help="the tool to call")
    parser.add_argument(
        "--arguments", type=json.loads, default={"timezone": "UTC"}, help="its arguments (JSON)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    if not args.server:
        args.server = default_server()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="only1mcp-wheel-check-"))
    try:
        report = check(args, work)
    except CheckFailed as exc:
        print(f"wheel-check: FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"wheel-check: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"wheel-check: passed in {sum(report.steps.values()):.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
