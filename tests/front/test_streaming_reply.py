"""A POST's ``Reply`` on its own: plain JSON until something must precede the response, then an
SSE stream that opens with a priming event; a paused stream keeps the rest for a resume.

The ASGI ``send`` here keeps the messages uvicorn would write, in order."""

from __future__ import annotations

from typing import Any

import pytest

from only1mcp.front.http import StreamingReply
from only1mcp.protocol import jsonrpc
from only1mcp.session import Session

pytestmark = pytest.mark.anyio


class Wire:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)

    def headers(self) -> dict[bytes, bytes]:
        (start,) = [m for m in self.messages if m["type"] == "http.response.start"]
        return dict(start["headers"])

    def bodies(self) -> list[bytes]:
        return [m["body"] for m in self.messages if m["type"] == "http.response.body"]


ANSWER = jsonrpc.result(1, {"content": []})
PROGRESS = jsonrpc.notification("notifications/progress", {"progressToken": "t", "progress": 1})


async def test_an_answer_alone_is_plain_json() -> None:
    wire = Wire()
    await StreamingReply(wire.send, False, Session(id="s")).finish(ANSWER)
    assert wire.headers()[b"content-type"] == b"application/json"
    assert wire.bodies() == [ANSWER]


async def test_a_frame_before_the_answer_turns_the_post_into_a_primed_sse_stream() -> None:
    wire = Wire()
    reply = StreamingReply(wire.send, False, Session(id="s"))
    await reply.push(PROGRESS)
    await reply.finish(ANSWER)
    assert wire.headers()[b"content-type"] == b"text/event-stream"
    priming, progress, answer = wire.bodies()
    stream = priming.split(b"-")[0].removeprefix(b"id: ")
    assert priming == b"id: " + stream + b"-0\nretry: 1000\ndata: \n\n"
    assert progress == b"id: " + stream + b"-1\nevent: message\ndata: " + PROGRESS + b"\n\n"
    assert answer == b"id: " + stream + b"-2\nevent: message\ndata: " + ANSWER + b"\n\n"
    assert wire.messages[-1]["more_body"] is False


async def test_a_client_that_prefers_sse_gets_even_a_lone_answer_as_an_event() -> None:
    wire = Wire()
    await StreamingReply(wire.send, True, Session(id="s")).finish(ANSWER)
    assert wire.headers()[b"content-type"] == b"text/event-stream"
    assert wire.bodies()[-1].endswith(b"data: " + ANSWER + b"\n\n")


async def test_a_paused_stream_ends_the_response_and_keeps_the_rest_for_a_resume() -> None:
    wire = Wire()
    session = Session(id="s")
    reply = StreamingReply(wire.send, False, session)
    await reply.push(PROGRESS)
    await reply.detach()
    sent = len(wire.messages)
    assert wire.messages[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    await reply.finish(ANSWER)
    assert len(wire.messages) == sent  # nothing more on the closed response
    (paused,) = session.paused.values()
    assert paused.done and paused.events == [(2, ANSWER)]
