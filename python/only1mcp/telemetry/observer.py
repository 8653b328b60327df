"""What a front calls around each request it serves: metrics and (optionally) a span.

The front calls :meth:`Observer.begin` when a request arrives and :meth:`Observer.end` with its
answer; with neither metrics nor tracing on there is no observer, and the front skips both.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from time import perf_counter
from typing import Any

from only1mcp._core import BucketCounts
from only1mcp.catalog import Catalog
from only1mcp.errors import RpcError
from only1mcp.protocol import jsonrpc
from only1mcp.telemetry.metrics import (
    KNOWN_METHODS,
    KNOWN_VERSIONS,
    OTHER,
    TOOL_SUCCESS_END,
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
# Series resolved once: (protocol version →) method → tool or prompt name ("": the method
# names none) → the histogram's counts for a success with those labels.
Resolved = dict[str, dict[str, BucketCounts]]


class Observer:
    def __init__(
        self, metrics: Metrics | None, tracing: Tracing | None, catalogs: Mapping[str, Catalog]
    ) -> None:
        """``catalogs``: by kind; a name a catalog does not have is no label value."""
        self.metrics = metrics
        self.tracing = tracing
        self._catalogs = catalogs
        # Only raw values that are their own bounded label are keys here (a known version and
        # method, a name the catalog had): it grows no larger than the histogram.
        self._ok: dict[str | None, Resolved] = {}

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
            if answer is None:
                error = "cancelled"
            else:  # error_type's first test in place: a frame less for most tool results
                error = "" if answer.endswith(TOOL_SUCCESS_END) else error_type(answer)
        if answer is not None and self.metrics is not None:
            # A success's series is found with three lookups: no labels built, no catalog
            # asked (a name is remembered once the catalog had it); any other request's labels
            # are bounded in _series.
            counts = None
            if not error:
                method = msg["method"]
                try:
                    by_name = self._ok[version][method]
                    counts = by_name[msg["params"]["name"] if method in NAMED else ""]
                except (KeyError, TypeError):
                    pass
            if counts is None:
                counts = self._series(msg, error, version, answer)
            counts.observe(seconds)
        if log.isEnabledFor(logging.DEBUG):  # one event per request, when asked for
            self._log(msg, error, seconds)

    def _series(
        self, msg: JsonObject, error: str, version: str | None, answer: bytes
    ) -> BucketCounts:
        """The counts of ``msg``'s answer, its labels bounded: a method of the known set, the
        name of a tool or prompt the catalog has, a known protocol version. A success's are
        remembered for the next one with the same raw values."""
        assert self.metrics is not None
        method = msg["method"]
        known_version = version if version in KNOWN_VERSIONS else OTHER
        kind = NAMED.get(method)
        name = ""
        if kind is None:
            key = method if method in KNOWN_METHODS else OTHER, "", "", error, known_version
        else:
            params = msg.get("params")
            given = params.get("name") if isinstance(params, dict) else None
            known = isinstance(given, str) and self._catalogs[kind].lookup(given) is not None
            name = str(given) if known else UNKNOWN
            tool, prompt = (name, "") if kind == "tools" else ("", name)
            key = method, tool, prompt, error, known_version
        counts = self.metrics.server_ops.series_of(key)
        if error:
            self.metrics.failed(key, answer)
        elif key[0] == method and known_version == version and name != UNKNOWN:
            self._ok.setdefault(version, {}).setdefault(method, {})[name] = counts
        return counts

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
