"""``only1mcp stdio --log-format json``: every stderr line is one JSON object, and a request's
lines carry the request id its audit line carries (a refused call and an allowed one)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from e2e.conftest import venv_bin

META_SERVER = Path(__file__).resolve().parent / "meta_server.py"


def _request(req_id: int, method: str, params: dict[str, Any]) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": req_id, "method": method, "params": params})


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[Any], list[Any]]]:
    """(the JSON log lines, the audit lines) of a stdio session: initialize, a call the roles
    refuse (``m__other``), one they allow (``m__meta``)."""
    work = tmp_path_factory.mktemp("json-logs")
    audit = work / "audit.log"
    config = {
        "log_level": "debug",
        "servers": {"m": {"command": sys.executable, "args": [str(META_SERVER)]}},
        "auth": {"modes": ["api_key"], "api_keys": [{"name": "k", "key": "k-key-0123456789abc"}]},
        "access": {"roles": {"viewer": {"tools": ["m__meta"]}}, "stdio_roles": ["viewer"]},
        "audit": {"path": str(audit)},
    }
    path = work / "only1mcp.yaml"
    path.write_text(yaml.safe_dump(config))
    stderr = work / "stderr.log"
    argv = [venv_bin("only1mcp"), "stdio", "--config", str(path), "--log-format", "json"]
    with (
        stderr.open("wb") as err,
        subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, cwd=work
        ) as proc,
    ):
        assert proc.stdin is not None and proc.stdout is not None
        hello = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t"}}
        frames = [
            _request(0, "initialize", hello),
            _request(1, "tools/call", {"name": "m__other", "arguments": {}}),
            _request(2, "tools/call", {"name": "m__meta", "arguments": {}}),
        ]
        answers = []
        for frame in frames:  # one at a time: each answered before the next is sent
            proc.stdin.write(frame + b"\n")
            proc.stdin.flush()
            answers.append(orjson.loads(proc.stdout.readline()))
        proc.stdin.close()
        assert proc.wait(30) == 0
    assert answers[1]["error"]["code"] == -32003 and "result" in answers[2]
    lines = [orjson.loads(line) for line in stderr.read_bytes().splitlines() if line.strip()]
    yield lines, [orjson.loads(line) for line in audit.read_bytes().splitlines()]


def test_every_line_is_a_json_object(session: tuple[list[Any], list[Any]]) -> None:
    lines, _ = session
    assert lines
    for line in lines:
        assert {"time", "level", "logger", "message"} <= set(line), line
        assert line["time"].endswith("Z")


def _request_line(lines: list[Any], text: str) -> dict[str, Any]:
    found = [
        line for line in lines if line["logger"] == "only1mcp.requests" and text in line["message"]
    ]
    assert len(found) == 1, [line["message"] for line in lines]
    return found[0]  # type: ignore[no-any-return]


def test_a_requests_log_line_and_its_audit_line_share_its_id(
    session: tuple[list[Any], list[Any]],
) -> None:
    lines, audit = session
    refused = _request_line(lines, "tools/call m__other")
    allowed = _request_line(lines, "tools/call m__meta")
    assert refused["message"].endswith(": -32003")
    assert refused["request_id"] != allowed["request_id"]
    by_name = {entry["name"]: entry for entry in audit if entry["event"] == "call"}
    assert by_name["m__other"]["decision"] == "deny"
    assert by_name["m__other"]["request_id"] == refused["request_id"]
    assert by_name["m__meta"]["decision"] == "allow"
    assert by_name["m__meta"]["request_id"] == allowed["request_id"]
