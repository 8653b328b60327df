"""Leases on their own: instances a bridged call holds alone, capped per key, kept warm, stopped.

The start function builds real backends through the factory (never started: leasing is
bookkeeping; closing one that never ran is what the gateway's stop does too)."""

from __future__ import annotations

import pytest

from only1mcp.backends import Backend, BackendState, create_backend
from only1mcp.config import StdioServerConfig
from only1mcp.leases import MAX_IDLE, MAX_LEASES, Leases
from only1mcp.types import JsonObject

pytestmark = pytest.mark.anyio
KEY = ("srv", "{}")


class Starts:
    def __init__(self) -> None:
        self.started: list[Backend] = []

    async def start(self, server: str, capabilities: JsonObject) -> Backend:
        backend = create_backend(server, StdioServerConfig(command="/bin/true"), None)
        backend.client_capabilities = capabilities
        self.started.append(backend)
        return backend


async def test_a_call_holds_one_instance_per_server_and_gives_it_back_warm() -> None:
    starts = Starts()
    leases = Leases(starts.start)
    first = await leases.lease(KEY, "call-1", {"sampling": {}})
    assert first is not None and first.client_capabilities == {"sampling": {}}
    assert await leases.lease(KEY, "call-1", {}) is first  # the same call asks again
    leases.release("call-1")
    assert await leases.lease(KEY, "call-2", {}) is first  # kept warm for the next call
    assert len(starts.started) == 1
    leases.release("call-2")
    leases.release("call-2")  # a second release of the same call is a no-op
    await leases.close()


async def test_at_most_max_leases_per_key_and_the_surplus_stops_on_release() -> None:
    starts = Starts()
    leases = Leases(starts.start)
    held = [await leases.lease(KEY, f"call-{n}", {}) for n in range(MAX_LEASES)]
    assert None not in held
    assert await leases.lease(KEY, "one-too-many", {}) is None  # it shares one instead
    for n in range(MAX_LEASES):
        leases.release(f"call-{n}")
    await leases.close()
    closed = [b for b in starts.started if b.state is BackendState.CLOSED]
    assert len(starts.started) == MAX_LEASES and len(closed) == MAX_LEASES  # close() too
    # After the surplus went, a fresh lease reuses a warm one rather than starting another.
    leases = Leases(starts.start)
    for n in range(MAX_IDLE + 1):
        await leases.lease(KEY, f"again-{n}", {})
    for n in range(MAX_IDLE + 1):
        leases.release(f"again-{n}")
    assert len(starts.started) == MAX_LEASES + MAX_IDLE + 1
    assert await leases.lease(KEY, "warm", {}) in starts.started[MAX_LEASES:]
    assert len(starts.started) == MAX_LEASES + MAX_IDLE + 1
    await leases.close()


async def test_a_retired_server_gives_back_its_idle_instances_and_stops_its_held_ones() -> None:
    starts = Starts()
    leases = Leases(starts.start)
    idle = await leases.lease(KEY, "done", {})
    held = await leases.lease(KEY, "running", {})
    leases.release("done")
    assert leases.retire("srv") == [idle]  # for the reload to drain and close
    assert leases.retire("other") == []
    leases.release("running")  # not kept warm: it is of the old config
    await leases.close()
    assert held is not None and held.state is BackendState.CLOSED
    fresh = await leases.lease(KEY, "next", {})
    assert fresh not in (idle, held) and len(starts.started) == 3
    await leases.close()
