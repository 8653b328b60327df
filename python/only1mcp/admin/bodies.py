"""The admin API's request bodies: validated by the handlers, described by the OpenAPI
document (one model for both, so they cannot disagree)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class LogLevelBody(BaseModel):
    """``POST /api/log-level``."""

    model_config = ConfigDict(extra="forbid")

    level: Literal["debug", "info", "warning", "error"]


class ToolCallBody(BaseModel):
    """``POST /api/tools/call``: an exposed tool name and its arguments."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=256)
    arguments: dict[str, Any] = Field(default_factory=dict)
