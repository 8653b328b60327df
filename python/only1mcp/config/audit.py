"""The ``audit:`` section: where the audit log goes and what it keeps."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from .policies import Count, Strict


class AuditConfig(Strict):
    """One JSON line per decision (see :mod:`only1mcp.audit`); off without a ``path``."""

    #: The log file; None: no audit log.
    path: str | None = None
    #: Rotate when the file would grow past this many bytes.
    max_bytes: Annotated[int, Field(ge=4096)] = 10 * 1024 * 1024
    #: Rotated files kept (``audit.log.1`` … ``.N``).
    backups: Count = 5
    #: Log each call's arguments (off: they may hold personal data).
    log_arguments: bool = False
    #: Argument names whose values are replaced by ``"***"`` when arguments are logged.
    redact: list[str] = Field(default_factory=lambda: ["password", "token", "secret", "key"])
