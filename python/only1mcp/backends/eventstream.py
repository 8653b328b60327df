"""An incremental ``text/event-stream`` parser (the WHATWG "server-sent events" format).

Fed the body's chunks as they arrive, it returns the events each one completes. Lines end in
CRLF, LF or CR (a CR at the end of a chunk waits for the next, which may begin with its LF);
``data`` lines join with LF; ``id`` sets the stream's last event id (kept across events, as a
reconnecting client must send it); ``event`` and ``retry`` are kept on the event; comment lines
(``:``), unknown fields, an ``id`` holding NUL, and a leading byte order mark are ignored. An
event without a ``data`` line is not dispatched, though its ``id`` still counts; one with an
empty ``data:`` is, with empty data (the SEP-1699 priming event of MCP 2025-11-25).
"""

from __future__ import annotations

from dataclasses import dataclass

BOM = b"\xef\xbb\xbf"


@dataclass(slots=True)
class Event:
    data: bytes
    event: str = "message"
    id: str = ""
    retry: int | None = None


class EventParser:
    """Bytes in, complete events out; ``last_id`` is the stream's last event id so far."""

    __slots__ = ("_buf", "_data", "_event", "_retry", "_skip_lf", "_started", "last_id")

    def __init__(self) -> None:
        self.last_id = ""
        self._buf = b""
        self._data: list[bytes] = []
        self._event = ""
        self._retry: int | None = None
        self._started = False
        self._skip_lf = False

    def feed(self, chunk: bytes) -> list[Event]:
        if not chunk:
            return []
        if self._skip_lf:  # the last chunk ended in CR: a LF here belongs to it
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        buf = self._buf + chunk if self._buf else chunk
        if not self._started:
            if len(buf) < len(BOM) and BOM.startswith(buf):
                self._buf = buf
                return []
            self._started = True
            if buf.startswith(BOM):
                buf = buf[len(BOM) :]
        # find(), not ``in``: ``bytes in bytes`` first tries its operand as an int, and raises
        # and clears a TypeError on every chunk.
        if buf.find(b"\r") != -1:
            self._skip_lf = buf.endswith(b"\r")
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buf.split(b"\n")
        self._buf = lines.pop()
        events: list[Event] = []
        for line in lines:
            if line:
                self._field(line)
            elif (event := self._dispatch()) is not None:
                events.append(event)
        return events

    def _field(self, line: bytes) -> None:
        name, colon, value = line.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"id":
            if value.find(b"\0") == -1:
                self.last_id = value.decode("utf-8", "replace")
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"retry" and value.isdigit():
            self._retry = int(value)

    def _dispatch(self) -> Event | None:
        data, event, retry = self._data, self._event, self._retry
        self._data, self._event, self._retry = [], "", None
        if not data:
            return None
        payload = data[0] if len(data) == 1 else b"\n".join(data)
        return Event(payload, event or "message", self.last_id, retry)
