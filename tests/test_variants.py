"""Instances per capability set on their own (variants.py), with in-process fake servers whose
tool list follows the capabilities declared at initialize, as server-everything's does."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from backends.fake import FakeServer, fake_config

from only1mcp.backends import Backend, BackendState, Wiring
from only1mcp.backends.base import BACKEND_CLIENT_CAPABILITIES
from only1mcp.backends.base import Sink as BackendSink
from only1mcp.catalog import Catalog
from only1mcp.protocol.lists import LIST_KINDS
from only1mcp.session import Session
from only1mcp.types import JsonObject
from only1mcp.variants import MAX_SETS, Lists, Variants, capability_set, set_of

pytestmark = pytest.mark.anyio
LIST_CHANGED = orjson.dumps({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})


class CapServer(FakeServer):
    """``echo``, and one tool per capability its client declared (``vary=False``: only echo;
    ``per_set``: a tool named after the exact set, so that every set lists differently)."""

    def __init__(self, wiring: Wiring, vary: bool = True, per_set: bool = False) -> None:
        super().__init__("srv", fake_config(), wiring)
        self.vary, self.per_set = vary, per_set
        self.handlers["tools/list"] = self._tools

    async def _tools(self, params: JsonObject, sink: BackendSink | None) -> JsonObject:
        tools: list[JsonObject] = [{"name": "echo", "inputSchema": {"type": "object"}}]
        caps = self.client_capabilities
        if self.vary:
            tools += [
                {"name": f"with-{c}", "inputSchema": {"type": "object"}} for c in sorted(caps)
            ]
        if self.per_set:
            tools.append({"name": capability_set(caps), "inputSchema": {"type": "object"}})
        return {"tools": tools}


class Harness:
    """A shared CapServer with every capability, its catalogs, and the variants over them."""

    def __init__(self, vary: bool = True, per_set: bool = False, refuse: bool = False) -> None:
        self.vary, self.per_set, self.refuse = vary, per_set, refuse
        self.created: list[CapServer] = []
        self.announced: list[frozenset[str]] = []
        self.shared = CapServer(Wiring(), vary, per_set)
        order = ["srv"]
        self.catalogs = {
            spec.kind: Catalog(order, {"srv": "srv"}, "__", spec.id_field) for spec in LIST_KINDS
        }
        self.variants = Variants(
            ["srv"], self.create, self.read, self.catalogs, lambda k, f: self.announced.append(k)
        )

    async def start(self) -> None:
        await self.shared.start()
        self.catalogs["tools"].set_items("srv", (await self.read(self.shared))["tools"])

    def create(self, server: str, capabilities: JsonObject) -> Backend:
        instance = CapServer(Wiring(client_capabilities=capabilities), self.vary, self.per_set)
        if self.refuse:
            instance.refuse_connects = 1_000
            instance.config = fake_config(restart={"backoff": 0.01, "crash_loop": 1})
        self.created.append(instance)
        return instance

    async def read(self, backend: Backend) -> Lists:
        result = await backend.call("tools/list")
        assert isinstance(result, dict)
        return {"tools": result["tools"]}

    def running(self) -> list[CapServer]:
        return [c for c in self.created if c.state is not BackendState.CLOSED]

    async def tools(self, capabilities: dict[str, Any]) -> list[str]:
        session = Session(id="s", client_capabilities=capabilities)
        shared = {"srv": self.shared}
        if not self.variants.may_vary(session):
            catalog = self.catalogs["tools"]
        else:
            catalog = await self.variants.catalog("tools", session, shared)
        return [tool["name"] for tool in catalog.merged()]

    async def serving(self, capabilities: dict[str, Any]) -> Backend:
        session = Session(id="s", client_capabilities=capabilities)
        return await self.variants.backend("srv", session, self.shared)

    async def close(self) -> None:
        await self.variants.close()
        await self.shared.close()


async def test_a_server_that_does_not_vary_keeps_its_one_instance() -> None:
    h = Harness(vary=False)
    await h.start()
    assert await h.tools({}) == ["srv__echo"]
    assert await h.serving({"sampling": {}}) is h.shared
    assert len(h.created) == 1 and not h.variants.varies("srv")  # one probe, decided
    await h.variants.close()
    assert h.running() == []  # the probe stopped
    await h.shared.close()


async def test_each_set_lists_its_own_tools_and_equal_sets_share_an_instance() -> None:
    h = Harness()
    await h.start()
    assert await h.tools({}) == ["srv__echo"]
    assert await h.tools({"sampling": {}}) == ["srv__echo", "srv__with-sampling"]
    assert await h.tools({"roots": {}}) == ["srv__echo", "srv__with-roots"]
    # another set whose tools are those of one running: its instance stops, it shares that one
    assert await h.tools({"roots": {"listChanged": True}}) == ["srv__echo", "srv__with-roots"]
    roots = await h.serving({"roots": {}})
    assert await h.serving({"roots": {"listChanged": True}}) is roots
    assert await h.serving(BACKEND_CLIENT_CAPABILITIES) is h.shared
    assert await h.serving({"sampling": {}}) is not roots
    assert h.variants.count("srv") == 3  # {}, sampling, roots
    await h.close()
    assert h.running() == []


async def test_equal_sets_started_together_share_one_instance() -> None:
    """Two sets whose lists are equal, first seen at the same moment: one instance is kept."""
    h = Harness()
    await h.start()
    await h.tools({})
    roots, also_roots = await asyncio.gather(
        h.tools({"roots": {}}), h.tools({"roots": {"listChanged": True}})
    )
    assert roots == also_roots == ["srv__echo", "srv__with-roots"]
    assert await h.serving({"roots": {}}) is await h.serving({"roots": {"listChanged": True}})
    assert h.variants.count("srv") == 2  # {}, roots
    await h.close()
    assert h.running() == []


async def test_instances_per_server_are_bounded() -> None:
    h = Harness(per_set=True)
    await h.start()
    sets: list[dict[str, Any]] = [
        {s: {} for s in combo}
        for combo in (
            (),
            ("sampling",),
            ("roots",),
            ("elicitation",),
            ("sampling", "roots"),
            ("sampling", "elicitation"),
            ("roots", "elicitation"),
        )
    ]
    sets += [{"sampling": {"context": {}}}, {"sampling": {"tools": {}}}, {"roots": {}, "x": 1}]
    for caps in sets:
        await h.tools(caps)
    assert h.variants.count("srv") == MAX_SETS
    assert await h.serving({"sampling": {"tools": {}}}) is h.shared  # past the bound: shared
    await h.close()


async def test_a_list_change_of_an_instance_reaches_the_sessions_of_its_sets() -> None:
    h = Harness()
    await h.start()
    await h.tools({"sampling": {}})
    instance = await h.serving({"sampling": {}})
    assert instance in h.variants and h.shared not in h.variants
    h.announced.clear()
    await h.variants.list_changed(instance, LIST_CHANGED)
    assert h.announced == [frozenset({capability_set({"sampling": {}})})]
    await h.close()


async def test_a_server_that_will_not_start_again_is_not_retried_per_call() -> None:
    h = Harness(refuse=True)
    await h.start()
    for _ in range(3):
        assert await h.serving({}) is h.shared
    assert len(h.created) == 1
    await h.close()


def test_a_session_reused_with_other_capabilities_gets_its_new_set() -> None:
    session = Session(id="s", client_capabilities={})
    assert set_of(session) == capability_set({})
    session.client_capabilities = {"sampling": {}}
    assert set_of(session) == capability_set({"sampling": {}})
    session.mirror = {"roots": {}}  # a bridged call: what it declared
    assert set_of(session) == capability_set({"roots": {}})


async def test_a_replaced_server_is_decided_anew_and_its_instances_stop() -> None:
    h = Harness()
    await h.start()
    await h.tools({"sampling": {}})
    assert h.running() and not h.variants.varies("other")
    await h.variants.forget("srv")
    assert h.running() == [] and "srv" in h.variants.undecided
    await h.variants.forget("other")  # not eligible (opted out): stays plain
    assert not h.variants.varies("other")
    await h.close()


async def test_a_probe_started_beside_the_shared_backend_decides_or_stops() -> None:
    h = Harness(vary=False)
    h.variants.prestart("srv")
    await h.start()
    await h.variants.decide("srv", h.shared)
    assert len(h.created) == 1 and h.running() == [] and not h.variants.varies("srv")
    down = Harness()
    down.variants.prestart("srv")  # its shared backend never came up: the probe stops
    await down.variants.decide("srv", down.shared)
    assert len(down.created) == 1 and down.running() == [] and down.variants.varies("srv")
    await h.close()
    await down.close()


async def test_a_reload_withdraws_the_instances_and_adopts_the_new_servers() -> None:
    h = Harness()
    await h.start()
    await h.tools({"sampling": {}})
    withdrawn = h.variants.withdraw("srv")  # a reload changed it: they drain elsewhere
    assert len(withdrawn) == 2 and "srv" in h.variants.undecided  # {} and sampling
    h.variants.adopt(["new"])  # srv is gone from the config (or opted out), new came
    assert h.variants.undecided == {"new"} and not h.variants.varies("srv")
    for instance in withdrawn:
        await instance.close()
    await h.close()
