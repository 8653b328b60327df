"""The audit log: JSON lines, redaction, rotation by size."""

from __future__ import annotations

from pathlib import Path

import orjson

from only1mcp.audit import AuditLog
from only1mcp.auth.principal import ANONYMOUS, Principal
from only1mcp.config.audit import AuditConfig


def _lines(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_text().splitlines()]


def test_an_event_is_one_json_line_with_every_field(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    audit = AuditLog(AuditConfig(path=str(path)))
    alice = Principal("key:alice", frozenset({"dev"}))
    audit.record(
        "call",
        alice,
        session="s1",
        method="tools/call",
        name="git__status",
        server="git",
        decision="allow",
        reason="role dev",
        latency_ms=1.5,
        outcome="ok",
        arguments={"repo": "/x"},
    )
    audit.close()
    [line] = _lines(path)
    assert line["principal"] == "key:alice"
    assert line["name"] == "git__status"
    assert line["decision"] == "allow"
    assert "arguments" not in line  # opt-in only


def test_arguments_are_logged_only_when_asked_and_redacted(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    audit = AuditLog(AuditConfig(path=str(path), log_arguments=True, redact=["Password"]))
    audit.record("call", ANONYMOUS, arguments={"user": "bob", "password": "hunter2"})
    audit.close()
    [line] = _lines(path)
    assert line["arguments"] == {"user": "bob", "password": "***"}
    assert "hunter2" not in path.read_text()


def test_the_file_rotates_by_size(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    audit = AuditLog(AuditConfig(path=str(path), max_bytes=4096, backups=2))
    for n in range(200):
        audit.record("call", ANONYMOUS, reason="x" * 50, outcome=str(n))
    audit.close()
    assert path.stat().st_size <= 4096
    assert (tmp_path / "audit.log.1").exists()
    assert (tmp_path / "audit.log.2").exists()
    assert not (tmp_path / "audit.log.3").exists()


def test_without_a_path_nothing_is_written(tmp_path: Path) -> None:
    audit = AuditLog(AuditConfig())
    assert not audit.enabled
    audit.record("call", ANONYMOUS)
    audit.close()
