"""The ``cluster:`` section: several Only1MCP processes sharing state through Redis."""

from __future__ import annotations

from pydantic import Field

from .policies import Strict


class ClusterConfig(Strict):
    """Shared state for workers and replicas (see docs/scaling.md). Off without ``redis_url``."""

    #: ``redis://host:port/db`` (or ``rediss://``); ``${VAR}`` for a password in the URL.
    redis_url: str | None = None
    #: Every key and channel starts with it, so several clusters can share one Redis.
    key_prefix: str = Field(default="only1mcp:", min_length=1)
    #: Seconds a handshake session's record outlives its last request.
    session_ttl: float = Field(default=3600.0, gt=0)
    #: Seconds one Redis command may take before the process treats Redis as down.
    timeout: float = Field(default=0.5, gt=0)

    @property
    def enabled(self) -> bool:
        return self.redis_url is not None
