"""What a front calls around each request it serves: metrics and (optionally) a span.

The front calls :meth:`Observer.begin` when a request arrives and :meth:`Observer.end` with its
answer; with neither metrics nor tracing on there is no observer, and the front skips both.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Mapping
from time import perf_counter
from typing import Any

from only1mcp.catalog import Catalog
from only1mcp.errors import RpcError
from only1mcp.protocol import jsonrpc
from only1mcp.telemetry.metrics import (
    KNOWN_METHODS,
    KNOWN_VERSIONS,
    OTHER,
    SEMCONV_BUCKETS,
    UNKNOWN,
    Metrics,
    error_type,
)
from only1mcp.telemetry.tracing import Tracing
from only1mcp.types import JsonObject

log = logging.getLogger("only1mcp.requests")

# A request's HTTP header lines by (lower-case) name.
Headers = Mapping[bytes, bytes]
# The catalog kind a method names its item of in params.name.
NAMED = {"tools/call": "tools", "prompts/get": "prompts"}


class Observer:
    def __init__(
        self, metrics: Metrics | None, tracing: Tracing | None, catalogs: Mapping[str, Catalog]
    ) -> None:
        """``catalogs``: by kind; a name a catalog does not have is no label value."""
        self.metrics = metrics
        self.tracing = tracing
        self._catalogs = catalogs
        self._ops = {} if metrics is None else metrics.server_ops.series

    async def observed(
        self,
        msg: JsonObject,
        work: Awaitable[bytes | None],
        version: Callable[[], str | None],
        headers: Headers | None = None,
    ) -> bytes | None:
        """Await ``work``, the answer to request ``msg``, between :meth:`begin` and
        :meth:`end` (``version``: the protocol version it was served in, asked at the end)."""
        begun = self.begin(msg, headers)
        answer = None
        try:
            answer = await work
            return answer
        finally:
            self.end(begun, msg, answer, version())

    def begin(self, msg: JsonObject, headers: Headers | None = None) -> Any:
        """A request arrived (``headers``: its HTTP header lines, where a span's parent may
        be); hand the result to :meth:`end`."""
        started = perf_counter()
        if self.tracing is None:
            return started
        header = None if headers is None else headers.get(b"traceparent")
        parent = None if header is None else header.decode("latin-1")
        return started, self.tracing.start(msg, self._target(msg), parent)

    def refused(self, msg: JsonObject, error: RpcError, version: str | None) -> None:
        """Request ``msg`` was refused before it was served (access policy, rate limit)."""
        self.end(self.begin(msg), msg, jsonrpc.error(msg.get("id"), error), version)

    def end(self, begun: Any, msg: JsonObject, answer: bytes | None, version: str | None) -> None:
        """The request was answered with ``answer`` (None: it was not, e.g. cut short)."""
        if self.tracing is not None:
            seconds = perf_counter() - begun[0]
            error = "cancelled" if answer is None else error_type(answer)
            self.tracing.finish(begun[1], error)
        else:
            seconds = perf_counter() - begun
            error = "cancelled" if answer is None else error_type(answer)
        if answer is not None and self.metrics is not None:
            # The labels, inline (this runs for every request): a method of the known set,
            # the name of a tool or prompt the catalog has, a known protocol version.
            method = msg["method"]
            if version not in KNOWN_VERSIONS:
                version = OTHER
            kind = NAMED.get(method)
            if kind is None:
                key = method if method in KNOWN_METHODS else OTHER, "", "", error, version
            else:
                params = msg.get("params")
                name = params.get("name") if isinstance(params, dict) else None
                if not isinstance(name, str) or self._catalogs[kind].lookup(name) is None:
                    name = UNKNOWN
                tool, prompt = (name, "") if kind == "tools" else ("", name)
                key = method, tool, prompt, error, version
            counts = self._ops.get(key) or self.metrics.server_ops.new(key)  # Histogram.observe
            counts[bisect_left(SEMCONV_BUCKETS, seconds)] += 1
            counts[-1] += seconds
            if error:
                self.metrics.failed(key)
        if log.isEnabledFor(logging.DEBUG):  # one event per request, when asked for
            self._log(msg, error, seconds)

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
