"""The per-session event log behind GET streams and Last-Event-ID replay."""

from __future__ import annotations

import asyncio

import pytest

from only1mcp.session import EVENT_LOG_LIMIT, Session, SessionStore

pytestmark = pytest.mark.anyio


def test_events_get_increasing_ids_and_replay_after_a_cursor() -> None:
    session = Session(id="s")
    for n in range(3):
        session.events.push(b"m%d" % n)
    assert session.events.after(0) == [(1, b"m0"), (2, b"m1"), (3, b"m2")]
    assert session.events.after(2) == [(3, b"m2")]
    assert session.events.after(3) == []


def test_the_log_is_bounded() -> None:
    session = Session(id="s")
    for n in range(EVENT_LOG_LIMIT + 5):
        session.events.push(b"%d" % n)
    assert len(session.events.after(0)) == EVENT_LOG_LIMIT
    assert session.events.after(0)[0][0] == 6


async def test_wait_wakes_on_push_and_on_close() -> None:
    session = Session(id="s")
    assert not await session.events.wait(0.01)
    asyncio.get_running_loop().call_later(0.01, session.events.push, b"x")
    assert await session.events.wait(5)
    store = SessionStore()
    store.add(session)
    asyncio.get_running_loop().call_later(0.01, store.close_all)
    assert await session.events.wait(5)
    assert session.events.closed
    assert store.get("s") is None
