"""What a front calls around each request it serves: metrics and (optionally) a span.

The front calls :meth:`Observer.begin` when a request arrives and :meth:`Observer.end` with its
answer; with neither metrics nor tracing on there is no observer, and the front skips both.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from only1mcp.errors import RpcError
from only1mcp.protocol import jsonrpc
from only1mcp.telemetry.metrics import (
    KNOWN_METHODS,
    KNOWN_VERSIONS,
    OTHER,
    UNKNOWN,
    Metrics,
    error_type,
)
from only1mcp.telemetry.tracing import Tracing
from only1mcp.types import JsonObject

log = logging.getLogger("only1mcp.requests")

# Whether (catalog kind, exposed name) is in the catalog: a name that is not is no label value.
Known = Callable[[str, str], bool]
# The catalog kind a method names its item of in params.name.
NAMED = {"tools/call": "tools", "prompts/get": "prompts"}


class Observer:
    def __init__(self, metrics: Metrics | None, tracing: Tracing | None, known: Known) -> None:
        self.metrics = metrics
        self.tracing = tracing
        self._known = known

    async def observed(
        self,
        msg: JsonObject,
        work: Awaitable[bytes | None],
        version: Callable[[], str | None],
        traceparent: str | None = None,
    ) -> bytes | None:
        """Await ``work``, the answer to request ``msg``, between :meth:`begin` and
        :meth:`end` (``version``: the protocol version it was served in, asked at the end)."""
        begun = self.begin(msg, traceparent)
        answer = None
        try:
            answer = await work
            return answer
        finally:
            self.end(begun, msg, answer, version())

    def begin(self, msg: JsonObject, traceparent: str | None = None) -> Any:
        """A request arrived (``traceparent``: the HTTP header's, if any); hand the result
        to :meth:`end`."""
        started = time.perf_counter()
        if self.tracing is None:
            return started
        return started, self.tracing.start(msg, self._target(msg), traceparent)

    def refused(self, msg: JsonObject, error: RpcError, version: str | None) -> None:
        """Request ``msg`` was refused before it was served (access policy, rate limit)."""
        self.end(self.begin(msg), msg, jsonrpc.error(msg.get("id"), error), version)

    def end(self, begun: Any, msg: JsonObject, answer: bytes | None, version: str | None) -> None:
        """The request was answered with ``answer`` (None: it was not, e.g. cut short)."""
        seconds = time.perf_counter() - (begun if self.tracing is None else begun[0])
        error = "cancelled" if answer is None else error_type(answer)
        if self.tracing is not None:
            self.tracing.finish(begun[1], error)
        if self.metrics is not None and answer is not None:
            self.metrics.server_op(self._labels(msg, error, version), seconds)
        if log.isEnabledFor(logging.DEBUG):  # one event per request, when asked for
            self._log(msg, error, seconds)

    def _labels(
        self, msg: JsonObject, error: str, version: str | None
    ) -> tuple[str, str, str, str, str]:
        method = msg["method"]
        if version not in KNOWN_VERSIONS:
            version = OTHER
        kind = NAMED.get(method)
        if kind is None:
            return method if method in KNOWN_METHODS else OTHER, "", "", error, version
        params = msg.get("params")
        name = params.get("name") if isinstance(params, dict) else None
        if not isinstance(name, str) or not self._known(kind, name):
            name = UNKNOWN
        if kind == "tools":
            return method, name, "", error, version
        return method, "", name, error, version

    def _log(self, msg: JsonObject, error: str, seconds: float) -> None:
        target = self._target(msg)
        log.debug(
            "%s%s answered in %.2f ms%s",
            msg["method"],
            f" {target}" if target else "",
            seconds * 1000,
            f": {error}" if error else "",
        )

    @staticmethod
    def _target(msg: JsonObject) -> str | None:
        """What the request names: a tool or prompt name, a resource URI."""
        params = msg.get("params")
        if not isinstance(params, dict):
            return None
        target = params.get("name")
        if target is None:
            target = params.get("uri")
        return target if isinstance(target, str) else None
