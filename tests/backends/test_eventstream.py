"""The incremental text/event-stream parser: the WHATWG rules, fed in any pieces."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from only1mcp.backends.eventstream import Event, EventParser

STREAM = (
    b"\xef\xbb\xbf: a comment\r\n"
    b"id: 7\r\nretry: 1500\r\ndata:\r\n\r\n"  # a priming event: id, retry and empty data
    b'event: message\ndata: {"a":\ndata:  1}\n\n'  # two data lines; a second space is kept
    b"data\rid: 8\0x\rbogus: field\r\r"  # CR line ends; an id with NUL is ignored
    b"id\n\n"  # resets the last id; no data, no event
    b"data: unterminated"  # never dispatched: no blank line follows
)
EXPECTED = [
    Event(b"", "message", "7", 1500),
    Event(b'{"a":\n 1}', "message", "7", None),
    Event(b"", "message", "7", None),
]


def parse(pieces: list[bytes]) -> tuple[list[Event], str]:
    parser = EventParser()
    events = [event for piece in pieces for event in parser.feed(piece)]
    return events, parser.last_id


def test_whole() -> None:
    assert parse([STREAM]) == (EXPECTED, "")


def test_byte_by_byte() -> None:
    assert parse([STREAM[i : i + 1] for i in range(len(STREAM))]) == (EXPECTED, "")


@given(st.lists(st.integers(0, len(STREAM)), max_size=6))
def test_any_split(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(STREAM)]
    pieces = [STREAM[a:b] for a, b in itertools.pairwise(bounds)]
    assert parse(pieces) == (EXPECTED, "")


def test_event_names_and_the_last_id_across_events() -> None:
    events, last = parse([b"id: 1\nevent: endpoint\ndata: /m?s=1\n\ndata: x\n\n"])
    assert events == [Event(b"/m?s=1", "endpoint", "1"), Event(b"x", "message", "1")]
    assert last == "1"


def test_a_crlf_split_between_cr_and_lf_is_one_line_end() -> None:
    events, _ = parse([b"data: a\r", b"\n", b"\r", b"\ndata: b\r\n\r\n"])
    assert events == [Event(b"a"), Event(b"b")]
    events, _ = parse([b"data: a\r", b"", b"\ndata: b\r\n\r\n"])  # an empty read between
    assert events == [Event(b"a\nb")]
