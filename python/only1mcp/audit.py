"""The audit log: one JSON line per security-relevant event, for the people who run Only1MCP.

Each line has the time, the principal, the session, the method, the exposed name, the server,
the decision and its reason, the latency and the outcome. Arguments only when
``audit.log_arguments`` is on, with the configured names redacted; never a credential (a
:class:`~only1mcp.auth.principal.Principal` carries none). Files rotate by size through the
standard library's ``RotatingFileHandler``, written from a background thread so a slow disk
never stalls a call.
"""

from __future__ import annotations

import logging
import logging.handlers
import queue
import time
from collections.abc import Mapping
from typing import Any

import orjson

from only1mcp.auth.principal import Principal
from only1mcp.config.audit import AuditConfig
from only1mcp.telemetry.context import request_id

MASK = "***"


class AuditLog:
    """Writes audit events; :meth:`record` is cheap and never raises into the caller."""

    def __init__(self, config: AuditConfig) -> None:
        self.config = config
        self._redact = frozenset(name.lower() for name in config.redact)
        self._listener: logging.handlers.QueueListener | None = None
        self._logger = logging.getLogger(f"only1mcp.audit.{id(self)}")
        self._logger.propagate = False
        self._logger.setLevel(logging.INFO)
        if config.path is not None:
            handler = logging.handlers.RotatingFileHandler(
                config.path, maxBytes=config.max_bytes, backupCount=config.backups
            )
            handler.setFormatter(logging.Formatter("%(message)s"))
            lines: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
            self._logger.addHandler(logging.handlers.QueueHandler(lines))
            self._listener = logging.handlers.QueueListener(lines, handler)
            self._listener.start()

    @property
    def enabled(self) -> bool:
        return self._listener is not None

    def session_mismatch(self, principal: Principal, session: str) -> None:
        """``principal`` named a session another principal opened (refused: 404)."""
        self.record(
            "session_mismatch",
            principal,
            session=session,
            decision="deny",
            reason="the session belongs to another principal",
        )

    def record(
        self,
        event: str,
        principal: Principal,
        *,
        session: str | None = None,
        method: str | None = None,
        name: str | None = None,
        server: str | None = None,
        decision: str | None = None,
        reason: str | None = None,
        latency_ms: float | None = None,
        outcome: str | None = None,
        arguments: Mapping[str, Any] | None = None,
        **extra: Any,
    ) -> None:
        """Log one event (``event``: what happened, e.g. ``call``, ``session_mismatch``)."""
        if self._listener is None:
            return
        line: dict[str, Any] = {
            "time": time.time(),
            "event": event,
            "principal": principal.id,
            "session": session,
            "method": method,
            "name": name,
            "server": server,
            "decision": decision,
            "reason": reason,
            "latency_ms": latency_ms,
            "outcome": outcome,
            "request_id": request_id(),  # the id the JSON log lines of this request carry
            **extra,
        }
        if arguments is not None and self.config.log_arguments:
            line["arguments"] = self._redacted(arguments)
        self._logger.info(orjson.dumps(line, default=str).decode())

    def _redacted(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        return {
            key: MASK if key.lower() in self._redact else value for key, value in arguments.items()
        }

    def close(self) -> None:
        """Flush what is queued and close the file."""
        if self._listener is not None:
            self._listener.stop()
            for handler in self._listener.handlers:
                handler.close()
            self._listener = None
