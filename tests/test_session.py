"""The per-session event log behind GET streams and Last-Event-ID replay, and the store's
bounds: unguessable ids, idle expiry, LRU eviction, refusals when every session is busy."""

from __future__ import annotations

import asyncio
import base64

import pytest

from only1mcp.auth.principal import Principal
from only1mcp.errors import RateLimited, TooManySessions
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


# ---------------------------------------------------------------- the bounded store

ALICE = Principal("key:alice")
BOB = Principal("key:bob")


def test_session_ids_carry_256_bits_of_randomness() -> None:
    store = SessionStore()
    ids = [store.create().id for _ in range(200)]
    assert len(set(ids)) == len(ids)
    for sid in ids:
        raw = base64.urlsafe_b64decode(sid + "=" * (-len(sid) % 4))
        assert len(raw) * 8 >= 256  # the issue asks for at least 128
        assert sid.isascii() and sid.isprintable()
    # Not a counter in disguise: the bytes of two ids share no long prefix.
    first, second = sorted(ids)[:2]
    shared = next((n for n, (a, b) in enumerate(zip(first, second, strict=False)) if a != b), 0)
    assert shared < 8


def test_a_full_store_evicts_its_least_recently_used_idle_session() -> None:
    ended: list[str] = []
    store = SessionStore(on_remove=lambda s: ended.append(s.id), max_sessions=3)
    first, second, third = (store.open(ALICE) for _ in range(3))
    assert store.use(first.id) is first  # first is now the most recently used
    fourth = store.open(BOB)
    assert ended == [second.id]
    assert store.get(second.id) is None and second.events.closed
    assert {s.id for s in store} == {first.id, third.id, fourth.id}


def test_busy_sessions_are_never_evicted_and_a_full_store_refuses() -> None:
    store = SessionStore(max_sessions=2)
    for _ in range(2):
        store.open(ALICE).hold()  # each has an open stream or a call in flight
    with pytest.raises(TooManySessions):
        store.open(BOB)
    assert len(store) == 2


def test_the_bound_per_principal_evicts_only_that_principals_sessions() -> None:
    store = SessionStore(max_sessions=100, max_per_principal=2)
    bob = store.open(BOB)
    a1, a2 = store.open(ALICE), store.open(ALICE)
    a3 = store.open(ALICE)
    assert store.get(a1.id) is None and store.get(bob.id) is bob
    assert store.count(ALICE) == 2 and store.count(BOB) == 1
    a2.hold()
    a3.hold()
    with pytest.raises(RateLimited) as refused:
        store.open(ALICE)
    assert refused.value.retry_after >= 1
    assert store.open(BOB).principal is BOB  # Bob's share is his own


def test_idle_sessions_expire_after_the_ttl_and_busy_ones_stay() -> None:
    ended: list[str] = []
    store = SessionStore(on_remove=lambda s: ended.append(s.id), ttl=60)
    idle, busy, fresh = store.create(), store.create(), store.create()
    busy.hold()
    idle.last_seen -= 61
    busy.last_seen -= 61
    assert store.expire() == 1
    assert ended == [idle.id]
    assert store.get(busy.id) is busy and store.get(fresh.id) is fresh
    busy.release()  # the stream closed just now: idle from now on, not since long ago
    assert store.expire() == 0


def test_a_lookup_of_an_expired_session_finds_nothing() -> None:
    store = SessionStore(ttl=60)
    session = store.create()
    session.last_seen -= 61
    assert store.use(session.id) is None
    assert len(store) == 0


def test_close_all_forgets_every_principal() -> None:
    store = SessionStore(max_per_principal=1)
    store.open(ALICE)
    store.close_all()
    assert len(store) == 0 and store.count(ALICE) == 0
    store.open(ALICE).hold()
    with pytest.raises(RateLimited):
        store.open(ALICE)
