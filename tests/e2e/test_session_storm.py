"""The initialize storm: a client that re-initializes on every request and never ends a session.

Before the session store was bounded, 181k such POSTs in 15 s grew the aggregator from 52 MB
to 671 MB, never freed. Now the store holds at most ``front.max_sessions`` (the least recently
used idle session makes room for the next), so the same load leaves the process's resident
memory within 20% of where it started. Measured on a real ``only1mcp start`` with its
``/proc`` RSS, driven over keep-alive connections as fast as this process can send.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import psutil
import pytest

from .conftest import HttpAggregator, running_aggregator, write_config
from .rawwire import RawStdio

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "tiny_server.sh"
MAX_SESSIONS = 200
STORM_SECONDS = 10.0
CONNECTIONS = 8
INITIALIZE = orjson.dumps(
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {"roots": {"listChanged": True}},
            "clientInfo": {"name": "storm", "version": "1.0"},
        },
    }
)


@pytest.fixture(scope="module")
def aggregator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpAggregator]:
    workdir = tmp_path_factory.mktemp("storm")
    config = write_config(
        workdir / "only1mcp.yaml", {"tiny": {"command": "/bin/sh", "args": [str(TINY)]}}
    )
    text = config.read_text() + f"front:\n  max_sessions: {MAX_SESSIONS}\n"
    config.write_text(text)
    with running_aggregator(config, workdir / "only1mcp.log") as agg:
        yield agg


async def _initialize_forever(port: int, until: float, sessions: set[bytes]) -> int:
    """POST initialize on one keep-alive connection until ``until``; how many were answered
    200 (each answer's session id is kept)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        b"POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        b"accept: application/json, text/event-stream\r\ncontent-length: %d\r\n\r\n"
        % len(INITIALIZE)
    )
    done = 0
    try:
        while time.monotonic() < until:
            writer.write(head + INITIALIZE)
            status = await reader.readuntil(b"\r\n")
            headers = await reader.readuntil(b"\r\n\r\n")
            length = int(headers.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            assert status.startswith(b"HTTP/1.1 200"), status
            sid = headers.lower().split(b"mcp-session-id: ")[1].split(b"\r\n")[0]
            if len(sessions) < 2 * MAX_SESSIONS:
                sessions.add(sid)
            done += 1
    finally:
        writer.close()
    return done


async def _storm(port: int, seconds: float) -> tuple[int, set[bytes]]:
    until = time.monotonic() + seconds
    sessions: set[bytes] = set()
    counts = await asyncio.gather(
        *(_initialize_forever(port, until, sessions) for _ in range(CONNECTIONS))
    )
    return sum(counts), sessions


def _rss(agg: HttpAggregator) -> int:
    return int(psutil.Process(agg.proc.pid).memory_info().rss)


def test_an_initialize_storm_leaves_memory_flat_and_sessions_bounded(
    aggregator: HttpAggregator,
) -> None:
    # Warm the code paths (first-use imports, caches) before the starting point.
    asyncio.run(_storm(aggregator.port, 0.5))
    start = _rss(aggregator)
    count, early = asyncio.run(_storm(aggregator.port, STORM_SECONDS))
    end = _rss(aggregator)
    health = httpx.get(f"{aggregator.base}/healthz").json()
    print(f"storm: {count} initialize in {STORM_SECONDS}s, RSS {start >> 20} → {end >> 20} MiB")
    assert count > 20 * MAX_SESSIONS, "the storm was too small to tell anything"
    assert health["sessions"] <= MAX_SESSIONS
    assert end <= start * 1.2, f"RSS grew from {start} to {end} over {count} sessions"
    # The earliest sessions were evicted, not kept: the client hears 404 and initializes again.
    stale = httpx.post(
        aggregator.url,
        content=b'{"jsonrpc":"2.0","id":2,"method":"ping"}',
        headers={
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            "mcp-session-id": sorted(early)[0].decode(),
        },
    )
    assert stale.status_code == 404


NOTIFY_INITIALIZE = {k: v for k, v in orjson.loads(INITIALIZE).items() if k != "id"}


def test_initialize_as_a_notification_is_a_400_invalid_request(aggregator: HttpAggregator) -> None:
    answer = httpx.post(
        aggregator.url,
        json=NOTIFY_INITIALIZE,
        headers={"accept": "application/json, text/event-stream"},
    )
    assert answer.status_code == 400
    assert answer.json()["id"] is None and answer.json()["error"]["code"] == -32600
    assert "mcp-session-id" not in answer.headers


def test_initialize_as_a_notification_on_stdio_is_an_invalid_request(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "only1mcp.yaml", {"tiny": {"command": "/bin/sh", "args": [str(TINY)]}}
    )
    stdio = RawStdio(config, tmp_path / "only1mcp-stdio.log")
    try:
        stdio.send(orjson.dumps(NOTIFY_INITIALIZE))
        error = stdio.answer(None)
        assert error["error"]["code"] == -32600
        # The pipe is still usable: the real initialize after it is answered.
        assert stdio.request(orjson.loads(INITIALIZE))["result"]["serverInfo"]
    finally:
        problems = stdio.close()
    assert not problems, problems
