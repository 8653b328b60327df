"""Raw-wire tools for the hostile e2e tests: bytes no SDK would send, answers checked as bytes.

* :func:`frame_ok` — a response body is one well-formed JSON-RPC 2.0 answer (no traceback text).
* :func:`raw_http` — one HTTP/1.1 request written on a socket as given (duplicate headers,
  control characters, bytes httpx refuses to send), the response read back with a deadline.
* :class:`RawStdio` — ``only1mcp stdio`` fed arbitrary lines; every stdout line must be a JSON
  object; on close stdin ends, the process must exit by itself and leave no descendant.
"""

from __future__ import annotations

import contextlib
import json
import queue
import re
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from .conftest import EXIT_DEADLINE, STARTUP_DEADLINE, ProcessTracker, log_tail, venv_bin

ANSWER_DEADLINE = 15.0
"""How long any single answer may take (the slowest backend timeout in these configs is 20 s,
but nothing the hostile tests send should get near it)."""


def encode(msg: object) -> bytes:
    """``msg`` as JSON bytes; not orjson, which refuses to encode past 254 levels of nesting
    (some tests send deeper ones)."""
    return json.dumps(msg, separators=(",", ":")).encode()


def frame_ok(body: bytes) -> dict[str, Any]:
    """``body`` as one JSON-RPC 2.0 response: a result or an error with an integer code and a
    string message, an id that is a string, an integer or null."""
    assert b"Traceback" not in body, body[:2000]
    msg = orjson.loads(body)
    assert isinstance(msg, dict) and msg.get("jsonrpc") == "2.0", msg
    assert ("result" in msg) != ("error" in msg), msg
    req_id = msg.get("id")
    assert req_id is None or (isinstance(req_id, str | int) and not isinstance(req_id, bool)), msg
    if "error" in msg:
        error = msg["error"]
        assert isinstance(error.get("code"), int) and isinstance(error.get("message"), str), msg
    return msg


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def raw_http(port: int, head: bytes, body: bytes = b"") -> RawResponse:
    """Send ``POST /mcp`` with the header lines in ``head`` (CRLF-terminated) and ``body``."""
    request = (
        b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        + b"Content-Length: %d\r\n" % len(body)
        + head
        + b"\r\n"
        + body
    )
    with socket.create_connection(("127.0.0.1", port), timeout=ANSWER_DEADLINE) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head_bytes, _, rest = data.partition(b"\r\n\r\n")
    status_line, *lines = head_bytes.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    status = int(status_line.split()[1])
    return RawResponse(status, headers, rest)


class RawStdio:
    """``only1mcp stdio --config CONFIG`` driven line by line."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log = log
        with log.open("ab") as err:
            self.proc = subprocess.Popen(
                [venv_bin("only1mcp"), "stdio", "--config", str(config)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                cwd=config.parent,
                start_new_session=True,
            )
        self.tracker = ProcessTracker(self.proc.pid)
        self._lines: queue.Queue[bytes] = queue.Queue()
        self._stray: list[dict[str, Any]] = []
        # The first answer waits for the aggregator to start its servers, as an HTTP one's
        # /healthz does (STARTUP_DEADLINE); each later one gets ANSWER_DEADLINE.
        self._started = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)

    def send(self, line: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + b"\n")
        self.proc.stdin.flush()

    def next(self, deadline: float = ANSWER_DEADLINE) -> dict[str, Any]:
        """The next message the aggregator writes (each must be a JSON object)."""
        try:
            line = self._lines.get(timeout=deadline)
        except queue.Empty:
            raise AssertionError(
                f"no stdout line within {deadline}s\n{log_tail(self.log)}"
            ) from None
        msg = orjson.loads(line)
        assert isinstance(msg, dict) and msg.get("jsonrpc") == "2.0", line[:500]
        return msg

    def answer(self, req_id: object, deadline: float = ANSWER_DEADLINE) -> dict[str, Any]:
        """The response to ``req_id`` (id null: the next id-less error); other messages that
        arrive meanwhile are kept for :meth:`stray`."""
        if not self._started:
            deadline, self._started = max(deadline, STARTUP_DEADLINE), True
        end = time.monotonic() + deadline
        for i, msg in enumerate(self._stray):
            if "method" not in msg and msg.get("id") == req_id:
                return self._stray.pop(i)
        while True:
            msg = self.next(max(0.01, end - time.monotonic()))
            if "method" not in msg and msg.get("id") == req_id:
                frame_ok(encode(msg))
                return msg
            self._stray.append(msg)

    def request(self, msg: dict[str, Any]) -> dict[str, Any]:
        self.send(encode(msg))
        return self.answer(msg["id"])

    def quiet(self, seconds: float) -> list[dict[str, Any]]:
        """Everything written within ``seconds`` (and not yet claimed)."""
        got, self._stray = self._stray, []
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            with contextlib.suppress(AssertionError):
                got.append(self.next(left))
        return got

    def close(self) -> list[str]:
        """End stdin; return the problems seen (no exit, leaked descendants)."""
        problems: list[str] = []
        self.tracker.snapshot()
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=EXIT_DEADLINE)
        except subprocess.TimeoutExpired:
            problems.append(f"only1mcp stdio did not exit within {EXIT_DEADLINE}s of stdin closing")
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            self.proc.wait(timeout=10)
        self._reader.join(timeout=5)  # stdout ends with the process
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self.tracker.stop()
        problems += self.tracker.leak_report()
        if self.proc.returncode != 0:
            problems.append(f"only1mcp stdio exited with {self.proc.returncode}")
        if b"Traceback" in self.log.read_bytes():
            problems.append("a traceback was logged")
        return [f"{p}\n{log_tail(self.log)}" for p in problems]


def no_traceback_in(log: Path) -> None:
    """An HTTP aggregator's log shows no unhandled exception (a 500, a lost task)."""
    text = log.read_text(errors="replace")
    found = re.search(r"Traceback|Task exception was never retrieved", text)
    assert found is None, log_tail(log)
