"""Hot reload (only1mcp.reload): the diff of two configs, and reloads applied to a running
gateway over real stdio servers (``tiny_server.sh``): one at a time, an invalid file changing
nothing, a removed server's call in flight answered before it stops, untouched servers kept."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from only1mcp.config import Config, load_config
from only1mcp.gateway import Gateway
from only1mcp.reload import NoFile, Plan, Reloader, changed_keys, plan
from only1mcp.router import Router
from only1mcp.session import Session
from only1mcp.telemetry.metrics import Metrics

TINY = Path(__file__).resolve().parent / "fixtures" / "tiny_server.sh"


def tiny(**extra: Any) -> dict[str, Any]:
    return {"command": "/bin/sh", "args": [str(TINY)], "timeout": 5, **extra}


def config(servers: dict[str, Any], **rest: Any) -> Config:
    return Config.model_validate({"servers": servers, **rest})


# ------------------------------------------------------------------------------ the diff


def test_servers_are_added_removed_and_changed_by_their_whole_config() -> None:
    old = config({"a": tiny(), "b": tiny(), "c": tiny()})
    new = config({"a": tiny(), "c": tiny(timeout=9), "d": tiny()})
    steps = plan(old, new)
    assert steps.servers() == {"added": ["d"], "removed": ["b"], "changed": ["c"]}
    assert steps.live == steps.restart == []


def test_a_server_turned_off_is_removed_and_turned_on_is_added() -> None:
    on, off = config({"a": tiny(), "b": tiny()}), config({"a": tiny(), "b": tiny(enabled=False)})
    assert plan(on, off).servers() == {"added": [], "removed": ["b"], "changed": []}
    assert plan(off, on).servers() == {"added": ["b"], "removed": [], "changed": []}


def test_the_same_settings_are_no_change() -> None:
    assert plan(config({"a": tiny()}), config({"a": tiny()})) == Plan()
    assert changed_keys(config({"a": tiny()}), config({"a": tiny()})) == []


def test_other_settings_are_applied_live_or_named_as_needing_a_restart() -> None:
    old = config({"a": tiny()})
    new = config(
        {"a": tiny()},
        log_level="debug",
        schemas="compact",
        front={"port": 9000, "session_ttl": 60},
        discovery="lazy",
    )
    steps = plan(old, new)
    assert steps.live == ["log_level", "schemas"]
    assert steps.restart == ["front.port", "front.session_ttl", "discovery.mode"]


def test_changed_keys_name_a_secret_never_its_value() -> None:
    secret = "k" * 40
    old = config({"a": tiny()}, front={"state_keys": ["x" * 40]})
    new = config({"a": tiny()}, front={"state_keys": [secret]})
    keys = changed_keys(old, new)
    assert keys == ["front.state_keys"] and secret not in repr(plan(old, new))


# --------------------------------------------------------------- reloads of a running gateway


class Running:
    def __init__(self, path: Path, gateway: Gateway, reloader: Reloader, metrics: Metrics):
        self.path = path
        self.gateway = gateway
        self.reloader = reloader
        self.metrics = metrics
        self.router = Router(gateway)
        self.session = Session(id="test", initialized=True)

    def write(self, servers: dict[str, Any], **rest: Any) -> None:
        self.path.write_text(yaml.safe_dump({"servers": servers, **rest}))

    async def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        msg = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": tool, "arguments": arguments},
        }
        answer: dict[str, Any] = orjson.loads(await self.router.handle(self.session, msg) or b"")
        return answer


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    path = tmp_path / "only1mcp.yaml"
    path.write_text(yaml.safe_dump({"servers": {"a": tiny(), "b": tiny()}}))
    metrics = Metrics()
    gateway = Gateway(load_config(path), metrics=metrics)
    await gateway.start()
    try:
        yield Running(path, gateway, Reloader(gateway, metrics), metrics)
    finally:
        await gateway.stop()


def _reloads(metrics: Metrics, result: str) -> float:
    value = metrics.registry.get_sample_value("only1mcp_config_reloads_total", {"result": result})
    return value or 0.0


@pytest.mark.anyio
async def test_reloads_run_one_at_a_time_each_a_generation(running: Running) -> None:
    running.write({"a": tiny(), "b": tiny(), "c": tiny()})
    first, second = await asyncio.gather(
        running.reloader.reload("admin"), running.reloader.reload("file")
    )
    assert {first.generation, second.generation} == {1, 2}
    assert [first.plan, second.plan] != [None, None]
    added = [o.plan.added for o in (first, second) if o.plan is not None]
    assert sorted(added) == [[], ["c"]]  # the second found the first's work done
    assert running.reloader.status()["generation"] == 2
    assert _reloads(running.metrics, "success") == 2


@pytest.mark.anyio
async def test_an_invalid_file_changes_nothing_and_says_why(running: Running) -> None:
    before = running.gateway.config
    running.write({"a": tiny(timeout=0), "z": tiny()})
    outcome = await running.reloader.reload("file")
    assert not outcome.ok and outcome.plan is None and outcome.generation == 0
    assert str(running.path) in outcome.error and "servers.a.timeout" in outcome.error
    assert running.gateway.config is before and "z" not in running.gateway.backends
    assert _reloads(running.metrics, "failure") == 1
    assert running.reloader.status()["last_reload"]["error"] == outcome.error


@pytest.mark.anyio
async def test_a_removed_server_answers_its_call_in_flight_then_stops(running: Running) -> None:
    untouched = running.gateway.backends["a"]
    removed = running.gateway.backends["b"]
    slow = asyncio.ensure_future(running.call("b__slow", seconds=0.4))
    await asyncio.sleep(0.1)  # on its way to b's process
    running.write({"a": tiny()})
    outcome = await running.reloader.reload("admin")
    assert outcome.ok and outcome.plan is not None and outcome.plan.removed == ["b"]
    answer = await slow
    assert "result" in answer, answer  # drained, not failed
    assert removed.state.value == "closed" and removed.busy == 0
    gone = await running.call("b__pid")
    assert gone["error"]["message"] == "Tool b__pid is gone: server 'b' left the configuration"
    assert running.gateway.backends == {"a": untouched}  # a: the same backend, not restarted
    assert "result" in await running.call("a__pid")


@pytest.mark.anyio
async def test_a_changed_server_serves_on_its_new_backend(running: Running) -> None:
    old = running.gateway.backends["b"]
    pid_before = (await running.call("b__pid"))["result"]["content"][0]["text"]
    running.write({"a": tiny(), "b": tiny(prefix="bee")})
    outcome = await running.reloader.reload("sighup")
    assert outcome.ok and outcome.plan is not None and outcome.plan.changed == ["b"]
    assert running.gateway.backends["b"] is not old and old.state.value == "closed"
    pid_after = (await running.call("bee__pid"))["result"]["content"][0]["text"]
    assert pid_after != pid_before
    assert "error" in await running.call("b__pid")


@pytest.mark.anyio
async def test_a_config_built_in_code_has_no_file_to_reload() -> None:
    gateway = Gateway(config({"a": tiny()}))
    with pytest.raises(NoFile):
        await Reloader(gateway).reload("admin")


@pytest.mark.anyio
async def test_a_server_that_does_not_start_is_named_in_the_outcome(running: Running) -> None:
    running.write({"a": tiny(), "b": tiny(), "c": {"command": "/nonexistent/server"}})
    outcome = await running.reloader.reload("admin")
    assert outcome.ok and outcome.plan is not None and outcome.plan.added == ["c"]
    assert list(outcome.down) == ["c"] and "/nonexistent/server" in outcome.down["c"]
    assert outcome.as_json()["down"] == outcome.down
