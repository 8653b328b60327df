"""Rust hot-path primitives for Only1MCP.

Consistent hashing, load balancing, circuit breaking, histogram counts,
newline-delimited JSON-RPC framing and whole HTTP/1.1 requests and responses.
Every class is thread-safe: instances may be shared between threads without external locking.
"""

from typing import Literal, final

__all__ = [
    "BucketCounts",
    "CircuitBreaker",
    "FrameReader",
    "HashRing",
    "LeastConnections",
    "RoundRobin",
    "WeightedRandom",
    "frame_info",
    "result_stamped",
    "rewrite_id",
    "split_response",
    "stamp_complete",
    "whole_request",
    "whole_response",
]

@final
class HashRing:
    """Consistent hash ring; 150 virtual nodes per unit of weight by default.

    Keys and virtual nodes are hashed with xxh3 using fixed seeds, so the
    key → member mapping is identical across processes, restarts and
    aggregator replicas. Adding a member to N equal members moves about
    1/(N+1) of the keys, all of them to the new member. A new ring is empty.

    Raises:
        ValueError: if ``vnodes`` is not between 1 and 2**32 - 1.
    """

    def __init__(self, vnodes: int = 150) -> None: ...
    def add(self, member: str, weight: int = 1) -> None:
        """Add ``member`` with ``vnodes * weight`` points; re-adding replaces the weight.

        Raises:
            ValueError: if ``weight`` < 1, or the ring would exceed 2**24 points.
        """

    def get(self, key: str | bytes) -> str | None:
        """Member owning ``key`` (str is hashed as UTF-8), or None when the ring is empty.

        Raises:
            TypeError: if ``key`` is neither str nor bytes.
        """

@final
class RoundRobin:
    """Lock-free round robin over ``0..n-1`` (atomic counter).

    Raises:
        ValueError: if ``n`` < 1.
    """

    def __init__(self, n: int) -> None: ...
    def next(self) -> int:
        """Next slot index in ``0..n-1``, cycling."""

@final
class WeightedRandom:
    """Random index with probability proportional to its weight.

    Zero weights are allowed and never picked; a seed makes single-threaded
    sequences reproducible.

    Raises:
        ValueError: if ``weights`` is empty, has a negative entry, or sums to 0.
    """

    def __init__(self, weights: list[int], seed: int | None = None) -> None: ...
    def pick(self) -> int:
        """Index into ``weights``, chosen with probability weight / sum(weights)."""

@final
class LeastConnections:
    """Power-of-two-choices over ``n`` in-flight counters, all starting at zero.

    Raises:
        ValueError: if ``n`` < 1 or ``n`` > 2**20.
    """

    def __init__(self, n: int, seed: int | None = None) -> None: ...
    def acquire_among(self, allowed: list[int]) -> int:
        """Sample two distinct slots of ``allowed`` (e.g. the healthy replicas), take
        the one with fewer in flight (the first sampled on a tie), increment it and
        return its index. With one allowed slot, that slot.

        Raises:
            ValueError: if ``allowed`` is empty.
            IndexError: if an index is outside ``0..n-1``.
        """

    def release(self, index: int) -> None:
        """Decrement slot ``index``, saturating at 0.

        Raises:
            IndexError: if ``index`` is outside ``0..n-1``.
        """

@final
class CircuitBreaker:
    """Per-backend circuit breaker driven by a monotonic clock.

    closed → open after ``failure_threshold`` failures within a rolling ``window``
    seconds; open → half_open after ``cooldown`` seconds; half_open admits at most
    ``half_open_probes`` concurrent probes; ``success_threshold`` consecutive probe
    successes → closed (failure history cleared), any probe failure → open
    (cool-down restarts). Failures reported while open are ignored. A new
    breaker is closed.

    Raises:
        ValueError: if a count is < 1, ``window`` <= 0, ``cooldown`` < 0,
            or a duration is not finite.
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        window: float = 30.0,
        cooldown: float = 10.0,
        half_open_probes: int = 1,
        success_threshold: int = 1,
    ) -> None: ...
    def allow(self, now: float | None = None) -> bool:
        """Whether a call may proceed now.

        Moves open → half_open once the cool-down has elapsed; in half_open a True
        answer takes one probe slot, freed by the matching record_success/failure.

        ``now``: the caller's clock, in seconds >= 0 (see ``state_at``).
        """

    def record_success(self, now: float | None = None) -> None:
        """Report a successful call; in half_open it counts toward closing."""

    def record_failure(self, now: float | None = None) -> None:
        """Report a failed call; may open (closed) or re-open (half_open) the breaker."""

    def state_at(self, now: float) -> Literal["closed", "open", "half_open"]:
        """``state`` as of the caller's clock reading ``now``.

        A breaker is driven either by its own monotonic clock (no ``now``) or by
        one the caller reads (``now`` on every call, seconds >= 0 that never go
        back), not by both.

        Raises:
            ValueError: if ``now`` is negative or not finite (so do the other
                methods given such a ``now``).
        """

    @property
    def state(self) -> Literal["closed", "open", "half_open"]:
        """``"closed"``, ``"open"`` or ``"half_open"``.

        Reads as ``"half_open"`` as soon as the cool-down has elapsed, even before
        the next :meth:`allow`.
        """

    def reset(self) -> None:
        """Force the breaker closed and forget all failures."""

@final
class BucketCounts:
    """One histogram series: counts per bucket of fixed upper bounds, and a sum.

    ``observe`` is one call on the request path; ``snapshot`` is for the scrape.
    A value equal to a bound counts in that bound's bucket; the last count is for
    values above every bound.

    Raises:
        ValueError: if the bounds are not finite and strictly increasing.
    """

    def __init__(self, bounds: list[float]) -> None: ...
    def observe(self, value: float) -> None:
        """Count ``value`` (seconds, say) in its bucket and add it to the sum."""

    def snapshot(self) -> tuple[list[int], float]:
        """``(counts, sum)``: one count per bound and one above them all, and the sum."""

@final
class FrameReader:
    """Splits a byte stream of newline-delimited JSON-RPC messages into frames.

    ``max_frame`` bounds a line's length in bytes, excluding its newline.

    Raises:
        ValueError: if ``max_frame`` < 1.
    """

    def __init__(self, max_frame: int = 67108864) -> None: ...
    def feed(self, data: bytes) -> list[bytes]:
        """Append ``data`` and return the frames it completed.

        Frames exclude the trailing ``\\n`` and an optional ``\\r`` before it;
        empty and whitespace-only lines are skipped. The incomplete tail stays
        buffered for the next call.

        Raises:
            ValueError: if a line grows beyond ``max_frame``. That line is discarded
                up to its newline and the reader stays usable; the other frames
                completed by this call are not lost but returned by the next
                ``feed`` (``feed(b"")`` works).
        """

def frame_info(frame: bytes) -> tuple[int | str | None, str | None]:
    """(id, method) of a JSON-RPC message without a full parse.

    Scans only the top-level keys of the object, skipping nested values and
    strings structurally, so an ``"id"`` or ``"method"`` inside params or inside
    a string never matches. ``id`` is an int for a JSON integer (any size), a str
    for a JSON string (escapes decoded), None if absent or null. ``method`` is a
    str, or None if absent or null. Duplicate keys: the last one wins, as in
    :mod:`json`. Nested values are checked for balanced brackets and terminated
    strings only; their contents are not validated.

    Raises:
        ValueError: if the frame is not a JSON object (garbage, array, truncated,
            trailing data), ``id`` is a float, bool, array or object, ``method``
            is neither a string nor null, or a decoded string is invalid
            (bad escape, lone surrogate, raw control character, invalid UTF-8).
    """

def rewrite_id(frame: bytes, new_id: int | str) -> bytes:
    """Return ``frame`` with the value of its top-level ``"id"`` replaced by ``new_id``.

    ``new_id`` is JSON-encoded: ints as numbers, strs as JSON strings with quotes,
    backslashes and control characters escaped (non-ASCII stays UTF-8). Every
    other byte, whitespace included, is unchanged. If the object has duplicate
    top-level ids, all of them are replaced.

    Raises:
        ValueError: if the frame is not a JSON object or has no top-level ``"id"``.
        TypeError: if ``new_id`` is not an int or str (bool is rejected).
    """

def result_stamped(frame: bytes) -> bool:
    """True when ``frame`` is a success whose top-level ``result`` is an object
    with a ``resultType`` member of its own (a 2026-07-28 result, stamped by
    its server wherever the member stands), False for any other object (an
    error among them). One scan of the top level and of the result's members.

    Raises:
        ValueError: if the frame is not a JSON object, as :func:`frame_info`.
    """

def stamp_complete(frame: bytes) -> bytes | None:
    """A backend's success frame with ``"resultType":"complete"`` put first in its
    result, without decoding it; None when the frame is not in the plain form
    this works on.

    The plain form: the top-level ``"result"`` key follows other keys (as every
    serializer writes a response: ``{"jsonrpc":"2.0","id":…,"result":{…}}``),
    with no whitespace and no nested object or array before it, and the result
    says nothing of ``resultType`` already. Inside a JSON string a quote is
    escaped, so ``,"result":{`` can only be a key; with one ``{`` before it and
    no ``[``, it is the top level's. Anything else (errors, spaced JSON, a stamp
    of the server's own) takes the decoding path.
    """

def split_response(frame: bytes) -> tuple[int | str | None, str | None, bool]:
    """Like :func:`frame_info` plus a flag that is True when the object has a
    top-level ``"result"`` or ``"error"`` key (it is a response). One scan.

    Raises:
        ValueError: as :func:`frame_info`.
    """

def whole_response(data: bytes) -> tuple[int, dict[str, str], bytes] | None:
    """``(status, headers, body)`` when ``data`` is exactly one complete HTTP/1.1
    keep-alive response (status 200 or more) whose body has a
    ``Content-Length`` or is chunked (and ended, without trailers), else None.

    Header names are lower-cased and values decoded as latin-1; a repeated name
    keeps its last value. A chunked body comes decoded. Any other response
    (a body still on its way or up to the connection's end, ``Connection:
    close``, HTTP/1.0, bytes before or after it in ``data``) gives None: the
    caller's incremental parser reads those.
    """

def whole_request(
    data: bytes, max_head: int, max_headers: int
) -> tuple[bytes, bytes, list[tuple[bytes, bytes]], bytes, bool] | None:
    """``(path, query, headers, body, keep_alive)`` when ``data`` is exactly one
    complete HTTP/1.1 POST with a sized (or no) body, its head at most
    ``max_head`` bytes in at most ``max_headers`` headers, else None.

    ``headers`` is a list of ``(name, value)`` pairs as ASGI has them: names
    lower-cased, values without surrounding spaces, in their order. Anything
    else (another method or version, a chunked or incomplete body, ``Expect``,
    an upgrade, a target not starting with ``/``, not ASCII or holding ``%`` or
    ``#``, bytes before or after the request) gives None: the caller's
    incremental parser reads those.
    """
