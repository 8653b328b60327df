"""FrameReader, frame_info, rewrite_id and split_response."""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from only1mcp._core import FrameReader, frame_info, rewrite_id, split_response

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a runtime dependency
    orjson = None  # type: ignore[assignment]

Json = Any

# ----------------------------------------------------------------- strategies

SPECIAL = ["id", "method", "result", "error", "params", "jsonrpc"]
keys = st.sampled_from(SPECIAL) | st.text(max_size=8)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20,
)
ids = st.none() | st.integers() | st.text()
MISSING = object()


@st.composite
def messages(draw: st.DrawFn) -> dict[str, Json]:
    """A JSON-RPC-shaped object: optional id/method/result/error, noise keys, random order."""
    items: list[tuple[str, Json]] = []
    for key, strategy in [
        ("jsonrpc", st.just("2.0")),
        ("id", ids),
        ("method", st.text() | st.none()),
        ("params", json_values),
        ("result", json_values),
        ("error", json_values),
    ]:
        if draw(st.booleans()):
            items.append((key, draw(strategy)))
    noise = draw(
        st.dictionaries(
            st.text(max_size=8).filter(lambda k: k not in SPECIAL), json_values, max_size=3
        )
    )
    items.extend(noise.items())
    return dict(draw(st.permutations(items)))


def encoders() -> st.SearchStrategy[Callable[[Json], bytes]]:
    def dumps(ensure_ascii: bool, item_sep: str, key_sep: str) -> Callable[[Json], bytes]:
        return lambda obj: json.dumps(
            obj, ensure_ascii=ensure_ascii, separators=(item_sep, key_sep)
        ).encode()

    seps = st.sampled_from([",", ", ", " ,\t", "\r\n,  "])
    key_seps = st.sampled_from([":", ": ", " : ", "\t:\n"])
    strategy = st.builds(dumps, st.booleans(), seps, key_seps)
    strategy |= st.just(lambda obj: json.dumps(obj, indent=2).encode())
    if orjson is not None:
        strategy |= st.just(orjson.dumps)
    return strategy


def encode(encoder: Callable[[Json], bytes], obj: Json) -> bytes:
    try:
        return encoder(obj)
    except TypeError:  # orjson refuses integers beyond 64 bits
        assume(False)
        raise


# ------------------------------------------------------------------ FrameReader


def assert_nothing_buffered(r: FrameReader) -> None:
    """A complete line fed now comes back alone: no earlier bytes were left behind."""
    assert r.feed(b"{}\n") == [b"{}"]


def test_feed_basic() -> None:
    r = FrameReader()
    assert r.feed(b'{"a":1}\n{"b":2}\r\n\n  \t \r\n{"c"') == [b'{"a":1}', b'{"b":2}']
    assert r.feed(b":3}") == []
    assert r.feed(b"\r") == []
    assert r.feed(b"\n") == [b'{"c":3}']
    assert r.feed(b"") == []
    assert_nothing_buffered(r)


def test_feed_returns_bytes() -> None:
    frames = FrameReader().feed(b"x\ny\n")
    assert frames == [b"x", b"y"]
    assert all(type(f) is bytes for f in frames)


def test_feed_rejects_str() -> None:
    with pytest.raises(TypeError):
        FrameReader().feed("{}\n")  # type: ignore[arg-type]


@pytest.mark.parametrize("max_frame", [0, -1])
def test_bad_max_frame(max_frame: int) -> None:
    with pytest.raises(ValueError):
        FrameReader(max_frame)


def test_oversized_line_in_one_chunk() -> None:
    r = FrameReader(max_frame=10)
    with pytest.raises(ValueError):
        r.feed(b'{"a":1}\n{"too":"long"}\n{"b":2}\n{"c"')
    # Frames around the oversized one are delivered by the next call.
    assert r.feed(b":3}\n") == [b'{"a":1}', b'{"b":2}', b'{"c":3}']
    assert_nothing_buffered(r)


def test_oversized_line_growing_across_feeds() -> None:
    r = FrameReader(max_frame=10)
    assert r.feed(b'{"x":"') == []
    with pytest.raises(ValueError):
        r.feed(b"0123456789")
    assert r.feed(b"still the same line") == []
    assert r.feed(b'"}\n{"ok":1}\n') == [b'{"ok":1}']
    assert r.feed(b'{"ten":10}\n') == [b'{"ten":10}']


def test_frame_at_limit_with_crlf() -> None:
    r = FrameReader(max_frame=7)
    assert r.feed(b'{"a":1}\n') == [b'{"a":1}']
    with pytest.raises(ValueError):
        r.feed(b'{"a":1}\r\n')
    assert r.feed(b"") == []


@settings(deadline=None)
@given(
    st.lists(st.tuples(messages(), st.sampled_from([b"\n", b"\r\n", b"\n \n", b"\n\r\n\t\n"]))),
    st.lists(st.integers(0, 10_000)),
)
def test_chunking_yields_the_encoded_frames(
    msgs: list[tuple[dict[str, Json], bytes]], cuts: list[int]
) -> None:
    frames = [json.dumps(m).encode() for m, _ in msgs]
    stream = b"".join(f + sep for f, (_, sep) in zip(frames, msgs, strict=True))
    r = FrameReader()
    got: list[bytes] = []
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    for a, b in itertools.pairwise(points):
        got.extend(r.feed(stream[a:b]))
    assert got == frames
    assert_nothing_buffered(r)
    assert [json.loads(f) for f in got] == [m for m, _ in msgs]


@given(st.binary(max_size=400), st.lists(st.integers(0, 400)), st.integers(1, 64))
def test_arbitrary_bytes_chunked_equals_single_feed(
    data: bytes, cuts: list[int], max_frame: int
) -> None:
    def run(chunks: list[bytes]) -> tuple[list[bytes], int]:
        r = FrameReader(max_frame)
        out: list[bytes] = []
        errors = 0
        for c in chunks:
            try:
                out.extend(r.feed(c))
            except ValueError:
                errors += 1
        out.extend(r.feed(b""))
        return out, errors

    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    chunked, chunked_errors = run([data[a:b] for a, b in itertools.pairwise(points)])
    whole, whole_errors = run([data])
    assert chunked == whole
    assert (chunked_errors > 0) == (whole_errors > 0)

    lines = data.split(b"\n")[:-1]
    expected = [
        line.removesuffix(b"\r")
        for line in lines
        if line.strip(b" \t\r\n") and len(line) <= max_frame
    ]
    assert whole == expected


def test_many_frames_in_one_chunk() -> None:
    frames = [
        json.dumps({"jsonrpc": "2.0", "id": i, "method": "ping"}).encode() for i in range(5000)
    ]
    r = FrameReader()
    assert r.feed(b"\n".join(frames) + b"\n") == frames


def test_concurrent_feeds_of_whole_lines() -> None:
    r = FrameReader()
    chunk = b"".join(b'{"id":%d}\n' % i for i in range(100))

    def work(_: int) -> int:
        return sum(len(r.feed(chunk)) for _ in range(50))

    with ThreadPoolExecutor(4) as pool:
        assert sum(pool.map(work, range(4))) == 4 * 50 * 100
    assert_nothing_buffered(r)


# ------------------------------------------------------------------- scanning


@settings(deadline=None, max_examples=300)
@given(messages(), encoders(), st.sampled_from(["", " ", "\t\r\n "]))
def test_frame_info_agrees_with_json(
    msg: dict[str, Json], encoder: Callable[[Json], bytes], pad: str
) -> None:
    frame = pad.encode() + encode(encoder, msg) + pad.encode()
    assert frame_info(frame) == (msg.get("id"), msg.get("method"))
    is_response = "result" in msg or "error" in msg
    assert split_response(frame) == (msg.get("id"), msg.get("method"), is_response)


@settings(deadline=None, max_examples=300)
@given(messages(), encoders(), st.integers() | st.text())
def test_rewrite_id_agrees_with_json(
    msg: dict[str, Json], encoder: Callable[[Json], bytes], new_id: int | str
) -> None:
    frame = encode(encoder, msg)
    if "id" not in msg:
        with pytest.raises(ValueError):
            rewrite_id(frame, new_id)
        return
    out = rewrite_id(frame, new_id)
    assert json.loads(out) == {**msg, "id": new_id}
    assert frame_info(out) == (new_id, msg.get("method"))


SENTINEL = "\x00only1mcp\x01sentinel\x02"


@settings(deadline=None, max_examples=200)
@given(messages(), encoders(), st.integers() | st.text())
def test_rewrite_id_changes_only_the_id_bytes(
    msg: dict[str, Json], encoder: Callable[[Json], bytes], new_id: int | str
) -> None:
    frame = encode(encoder, {**msg, "id": SENTINEL})
    placeholder = json.dumps(SENTINEL).encode()
    assert frame.count(placeholder) == 1
    expected = frame.replace(placeholder, json.dumps(new_id, ensure_ascii=False).encode())
    assert rewrite_id(frame, new_id) == expected


@given(messages())
def test_truncated_frames_are_rejected(msg: dict[str, Json]) -> None:
    frame = json.dumps(msg).encode()
    for cut in range(len(frame)):
        with pytest.raises(ValueError):
            frame_info(frame[:cut])


@given(json_values.filter(lambda v: not isinstance(v, dict)))
def test_non_objects_are_rejected(value: Json) -> None:
    frame = json.dumps(value).encode()
    for fn in (frame_info, split_response):
        with pytest.raises(ValueError):
            fn(frame)
    with pytest.raises(ValueError):
        rewrite_id(frame, 1)


@given(st.binary(max_size=200))
def test_garbage_raises_only_value_error(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        frame_info(data)


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (b'{"id":"a\\"b\\\\c"}', ('a"b\\c', None)),
        (b'{"id":"\\u00e9\\ud83d\\ude00\\/\\b\\f\\n\\r\\t"}', ("é😀/\b\f\n\r\t", None)),
        ('{"id":"é😀","method":"ü"}'.encode(), ("é😀", "ü")),
        (b'{"id":-9223372036854775808}', (-(2**63), None)),
        (b'{"id":123456789012345678901234567890}', (123456789012345678901234567890, None)),
        (b'{"id":-123456789012345678901234567890}', (-123456789012345678901234567890, None)),
        (b'{"id":-0}', (0, None)),
        (b'{"id":null,"method":null}', (None, None)),
        (b'{"\\u0069d":7,"m\\u0065thod":"x"}', (7, "x")),
        (b'{"id":1,"id":2}', (2, None)),
        (
            b'{"params":{"id":1,"method":"no"},"s":"\\"id\\":9","method":"tools/call"}',
            (None, "tools/call"),
        ),
        (b'{"result":{"content":[{"text":"}]\\"{["}]},"id":5}', (5, None)),
        (b' \t\r\n{ "id" : 3 , "method" : "m" } \r\n', (3, "m")),
        (b"{}", (None, None)),
        (b'{"s":"\\\\","id":1}', (1, None)),
        (b'{"s":"\\\\\\"","id":2}', (2, None)),
        (b'{"s":["\\\\\\\\"],"id":3,"k\\\\":"\\""}', (3, None)),
    ],
)
def test_frame_info_examples(frame: bytes, expected: tuple[int | str | None, str | None]) -> None:
    assert frame_info(frame) == expected


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"   ",
        b"[]",
        b'["id", 1]',
        b"null",
        b'"id"',
        b"garbage",
        b"{",
        b'{"id":1',
        b'{"id":1,}',
        b'{"id" 1}',
        b'{"id":1}}',
        b'{"id":1} x',
        b'{"id":1}\n{"id":2}',
        b'{"id":1.5}',
        b'{"id":1e3}',
        b'{"id":-1.0}',
        b'{"id":true}',
        b'{"id":{}}',
        b'{"id":[1]}',
        b'{"id":01}',
        b'{"id":NaN}',
        b'{"method":3}',
        b'{"method":["a"]}',
        b'{"id":"\\ud800"}',
        b'{"id":"\\udc00"}',
        b'{"id":"\\ud83dx"}',
        b'{"id":"\\q"}',
        b'{"id":"\\u12"}',
        b'{"id":"\xff"}',
        b'{"id":"a\x01"}',
        b'{"a":[1}',
        b'{"a":{]}',
        b'{"a":"unterminated}',
        b"{id:1}",
        b"{'id':1}",
        b'{"a":' + b"[" * 2000 + b"]" * 2000 + b"}",
    ],
)
def test_invalid_frames_raise_value_error(frame: bytes) -> None:
    with pytest.raises(ValueError):
        frame_info(frame)
    with pytest.raises(ValueError):
        split_response(frame)


@pytest.mark.parametrize(("depth", "ok"), [(1023, True), (1024, False)])
def test_nesting_limit_matches_orjson(depth: int, ok: bool) -> None:
    frame = b'{"a":' + b"[" * depth + b"]" * depth + b',"id":1}'
    if orjson is not None:
        if ok:
            orjson.loads(frame)
        else:
            with pytest.raises(orjson.JSONDecodeError):
                orjson.loads(frame)
    if ok:
        assert frame_info(frame) == (1, None)
    else:
        with pytest.raises(ValueError):
            frame_info(frame)


def test_split_response_flags() -> None:
    assert split_response(b'{"jsonrpc":"2.0","id":1,"result":{}}') == (1, None, True)
    assert split_response(b'{"jsonrpc":"2.0","id":"x","error":{"code":1}}') == ("x", None, True)
    assert split_response(b'{"jsonrpc":"2.0","id":1,"method":"a"}') == (1, "a", False)
    assert split_response(b'{"params":{"result":1}}') == (None, None, False)


def test_id_after_huge_result() -> None:
    # Over 1 MiB, so the scan runs with the GIL released.
    blob = 'x\\"y' * 300_000
    frame = b'{"jsonrpc":"2.0","result":{"text":"' + blob.encode() + b'","id":0},"id":42}'
    assert len(frame) > 2**20
    assert split_response(frame) == (42, None, True)
    out = rewrite_id(frame, "c-1")
    assert out.endswith(b'"id":"c-1"}')
    assert len(out) == len(frame) + 3

    def work(i: int) -> tuple[int | str | None, str | None]:
        assert json.loads(rewrite_id(frame, i))["id"] == i
        return frame_info(frame)

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(work, range(8))) == [(42, None)] * 8
    with pytest.raises(ValueError):
        frame_info(frame[:-1])


@pytest.mark.parametrize(
    ("new_id", "encoded"),
    [
        (0, b"0"),
        (-17, b"-17"),
        (2**80, str(2**80).encode()),
        ("", b'""'),
        ('q"b\\s', b'"q\\"b\\\\s"'),
        ("\n\r\t\b\f\x00\x1f\x7f", b'"\\n\\r\\t\\b\\f\\u0000\\u001f\x7f"'),
        ("é😀", '"é😀"'.encode()),
    ],
)
def test_rewrite_id_encoding(new_id: int | str, encoded: bytes) -> None:
    frame = b'{"jsonrpc":"2.0",  "id" :\t"old\\"id" , "params":{"id":1}}'
    out = rewrite_id(frame, new_id)
    assert out == b'{"jsonrpc":"2.0",  "id" :\t' + encoded + b' , "params":{"id":1}}'
    assert json.loads(out)["id"] == new_id


def test_rewrite_id_errors() -> None:
    with pytest.raises(ValueError):
        rewrite_id(b'{"method":"x","params":{"id":1}}', 1)
    with pytest.raises(ValueError):
        rewrite_id(b"[1]", 1)
    for bad in [True, 1.5, None, b"1"]:
        with pytest.raises(TypeError):
            rewrite_id(b'{"id":1}', bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):  # lone surrogates cannot be encoded as UTF-8
        rewrite_id(b'{"id":1}', "\ud800")


def test_rewrite_id_replaces_every_duplicate() -> None:
    out = rewrite_id(b'{"id":1,"x":0,"id":2}', 9)
    assert out == b'{"id":9,"x":0,"id":9}'
