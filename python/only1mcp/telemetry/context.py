"""The id of the request being served, carried by the task that serves it.

Each front sets it when a message arrives (:func:`begin_request`); log lines (``--log-format
json``) and audit lines read it, so one request's lines can be found in both. It is a counter
behind a per-process prefix: unique in a process, unguessable across restarts, and never a
metric label.
"""

from __future__ import annotations

import contextvars
import itertools
import secrets

_PREFIX = secrets.token_hex(4)
_numbers = itertools.count(1)
_current: contextvars.ContextVar[int] = contextvars.ContextVar("only1mcp_request", default=0)


def begin_request() -> None:
    """A message arrived: what is logged from here on (in this task) names it."""
    _current.set(next(_numbers))


def request_id() -> str | None:
    """The id of the request this task serves, or None outside of one."""
    number = _current.get()
    return f"{_PREFIX}-{number}" if number else None
