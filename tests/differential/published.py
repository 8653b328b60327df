"""Scenarios of the published servers (everything, filesystem, memory, time, git, fetch)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .scenarios import Run

PUBLISHED_SCENARIOS: dict[str, Callable[[Run], Awaitable[Any]]] = {}
