"""Aggregation through both fronts: one namespaced catalog, calls routed to every backend."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.shared.exceptions import MCPError

from .conftest import Front, call_outcome, list_all_tools, text_of

pytestmark = pytest.mark.anyio

CALL_DEADLINE = 30.0
NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,128}")
EXPECTED_TOOLS: dict[str, set[str]] = {
    "time": {"get_current_time", "convert_time"},
    "git": {"git_status", "git_log", "git_diff", "git_add", "git_commit", "git_branch"},
    "fx": {"echo", "add", "pid", "sleep", "fail", "sample", "ask"},
    "web": {"echo", "add", "pid", "sleep", "fail", "sample", "ask"},
}


async def test_lists_every_backends_tools_namespaced(front: Front) -> None:
    async with front.client() as client:
        with anyio.fail_after(CALL_DEADLINE):
            tools, metas = await list_all_tools(client)
    names = [tool.name for tool in tools]
    assert len(names) == len(set(names)), f"duplicate tool names: {names}"
    for prefix, expected in EXPECTED_TOOLS.items():
        missing = {f"{prefix}__{tool}" for tool in expected} - set(names)
        assert not missing, f"missing {sorted(missing)} in {names}"
    for name in names:
        assert name.split("__", 1)[0] in EXPECTED_TOOLS, f"{name!r} has no known prefix"
        assert len(name) <= 64, f"{name!r} is longer than 64 characters"
        assert NAME_RE.fullmatch(name), f"{name!r} has characters outside [A-Za-z0-9_.-]"
    for meta in metas:
        assert not meta.get("only1mcp/errors"), f"healthy backends reported failing: {meta}"


async def test_tool_definitions_pass_through(front: Front) -> None:
    async with front.client() as client:
        with anyio.fail_after(CALL_DEADLINE):
            tools, _ = await list_all_tools(client)
    by_name = {tool.name: tool for tool in tools}
    for name in ("fx__add", "web__add"):
        tool = by_name[name]
        assert tool.input_schema.get("required") == ["a", "b"], tool.input_schema
        assert tool.input_schema["properties"]["a"]["type"] == "integer"
        assert tool.output_schema is not None, f"{name} lost its outputSchema"
        assert tool.output_schema["properties"]["result"]["type"] == "integer"
        assert tool.description and "a + b" in tool.description
    assert "timezone" in by_name["time__get_current_time"].input_schema["properties"]
    assert "repo_path" in by_name["git__git_status"].input_schema["properties"]


async def test_tool_order_is_deterministic(front: Front) -> None:
    orders: list[list[str]] = []
    for _ in range(2):
        async with front.client() as client:
            for _ in range(2):
                with anyio.fail_after(CALL_DEADLINE):
                    tools, _ = await list_all_tools(client)
                orders.append([tool.name for tool in tools])
    for order in orders[1:]:
        assert order == orders[0]


async def test_time_get_current_time(front: Front) -> None:
    async with front.client() as client:
        with anyio.fail_after(CALL_DEADLINE):
            result = await client.call_tool("time__get_current_time", {"timezone": "UTC"})
    assert not result.is_error, text_of(result)
    payload = result.structured_content or json.loads(text_of(result))
    assert payload["timezone"] == "UTC"
    assert payload["datetime"].endswith("+00:00"), payload


async def test_git_status(front: Front, git_repo: Path) -> None:
    async with front.client() as client:
        with anyio.fail_after(CALL_DEADLINE):
            result = await client.call_tool("git__git_status", {"repo_path": str(git_repo)})
    assert not result.is_error, text_of(result)
    assert "nothing to commit" in text_of(result)


async def test_fx_echo_over_stdio_backend(front: Front) -> None:
    text = 'héllo, wörld 🌍 "quoted" \\ back\nslash'
    async with front.client() as client:
        with anyio.fail_after(CALL_DEADLINE):
            result = await client.call_tool("fx__echo", {"text": text})
    assert not result.is_error, text_of(result)
    assert text_of(result) == text
    assert result.structured_content == {"result": text}


async def test_web_add_structured_content_over_http_backend(front: Front) -> None:
    async with front.client() as client:
        with anyio.fail_after(CALL_DEADLINE):
            result = await client.call_tool("web__add", {"a": 2, "b": 40})
    assert not result.is_error, text_of(result)
    assert result.structured_content == {"result": 42}
    assert text_of(result) == "42"


async def test_tool_error_is_relayed_as_error_result(front: Front) -> None:
    async with front.client() as client:
        for name in ("fx__fail", "web__fail"):
            with anyio.fail_after(CALL_DEADLINE):
                result = await client.call_tool(name, {"message": "boom-1234"})
            assert result.is_error, f"{name}: a failing tool came back as success"
            assert "boom-1234" in text_of(result)


@pytest.mark.parametrize("name", ["nosuch__tool", "fx__no_such_tool", "echo"])
async def test_unknown_tool_is_a_jsonrpc_error_naming_it(front: Front, name: str) -> None:
    async with front.client() as client:
        with anyio.fail_after(CALL_DEADLINE), pytest.raises(MCPError) as caught:
            await client.call_tool(name, {})
        error = caught.value
        assert name in f"{error.message} {error.data}", f"error {error.code} {error.message!r}"
        with anyio.fail_after(CALL_DEADLINE):
            ok, text = await call_outcome(client, "fx__echo", {"text": "still alive"})
        assert ok and text == "still alive", "the session broke after an unknown tool"


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("web__add", {"a": "not a number", "b": 1}),
        ("fx__add", {"a": 1}),
        ("git__git_status", {}),
    ],
)
async def test_invalid_arguments_are_an_error(
    front: Front, name: str, arguments: dict[str, object]
) -> None:
    async with front.client() as client:
        with anyio.fail_after(CALL_DEADLINE):
            ok, message = await call_outcome(client, name, arguments)
        assert not ok, f"{name}({arguments}) succeeded: {message}"
        assert message.strip(), "the error carries no message"
        with anyio.fail_after(CALL_DEADLINE):
            ok, text = await call_outcome(client, "web__echo", {"text": "still alive"})
        assert ok and text == "still alive", "the session broke after invalid arguments"


async def test_concurrent_calls_are_multiplexed_and_matched(front: Front) -> None:
    """Ten calls in flight at once over two backends: each gets its own answer, in parallel."""
    results: dict[str, tuple[bool, str]] = {}

    async def call(name: str, arguments: dict[str, Any], key: str) -> None:
        results[key] = await call_outcome(client, name, arguments)

    async with front.client() as client:
        with anyio.fail_after(CALL_DEADLINE):
            await call_outcome(client, "fx__echo", {"text": "warm up"})
        started = time.monotonic()
        with anyio.fail_after(CALL_DEADLINE):
            async with anyio.create_task_group() as tg:
                for i in range(3):
                    tg.start_soon(call, "fx__sleep", {"seconds": 1.5}, f"fx-sleep-{i}")
                    tg.start_soon(call, "web__sleep", {"seconds": 1.5}, f"web-sleep-{i}")
                for i in range(2):
                    tg.start_soon(call, "fx__echo", {"text": f"fx-{i}"}, f"fx-{i}")
                    tg.start_soon(call, "web__echo", {"text": f"web-{i}"}, f"web-{i}")
        elapsed = time.monotonic() - started
    for key, (ok, text) in results.items():
        assert ok, f"{key}: {text}"
        expected = "slept 1.5" if "sleep" in key else key
        assert text == expected, f"{key} got another call's answer: {text!r}"
    assert elapsed < 4.0, f"6 sleeps of 1.5s took {elapsed:.1f}s: calls were serialized"
