"""The scenarios, driven with the official SDK ``Client`` (``mcp`` 2.3), and what each records.

A scenario is ``async def (run: Run) -> Any``: it talks to the server through ``run.client``,
addresses items by role (``run.tool("text")`` is the exposed name of the server's text tool), and
returns JSON observations. Server-to-client traffic (logs, progress, notifications, sampling /
elicitation / roots requests) is recorded by the callbacks in :class:`Events` and added to the
observation. Everything recorded is compared direct vs through Only1MCP after
:mod:`normalize`; nothing here decides what "equal" means.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
from mcp import Client
from mcp.client.session import ClientRequestContext, IncomingMessage
from mcp.shared.exceptions import MCPError
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic import BaseModel

from .normalize import Naming
from .servers import ServerSpec

SCENARIO_TIMEOUT = 10.0
NOTIFY_WAIT = 3.0
LINGER = 0.5
"""How long a scenario keeps listening after the notification it waited for arrived."""
"""How long a scenario waits for a notification it triggered (a missing one is recorded)."""


def dump(value: Any) -> Any:
    """Wire JSON of an SDK model (or of plain data)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(value, list | tuple):
        return [dump(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"event": type(value).__name__, **dataclasses.asdict(value)}  # listen events
    return value


@dataclass
class Events:
    """Server-to-client traffic seen by one client session, in arrival order."""

    roots: list[types.Root]
    """What the client answers ``roots/list`` with."""
    seen: list[Any] = field(default_factory=list)
    arrived: anyio.Event = field(default_factory=anyio.Event)

    def add(self, kind: str, payload: Any) -> None:
        self.seen.append({kind: dump(payload)})
        self.arrived.set()

    def take(self) -> list[Any]:
        taken, self.seen = self.seen, []
        self.arrived = anyio.Event()
        return taken

    async def wait_for(self, kind: str) -> None:
        """Until an event of ``kind`` was recorded, at most ``NOTIFY_WAIT`` seconds."""
        with anyio.move_on_after(NOTIFY_WAIT):
            while not any(kind in event for event in self.seen):
                await self.arrived.wait()
                self.arrived = anyio.Event()

    # --- the client callbacks -------------------------------------------------------------

    async def on_sampling(
        self, _ctx: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        self.add("sampling", params)
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text="Paris"),
            model="differential-model",
            stop_reason="endTurn",
        )

    async def on_elicitation(
        self, _ctx: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult:
        self.add("elicitation", params)
        content = {"username": "alice", "email": "alice@example.com", "name": "Alice"}
        return types.ElicitResult(action="accept", content=content)

    async def on_roots(self, _ctx: ClientRequestContext) -> types.ListRootsResult:
        self.add("roots", {})
        return types.ListRootsResult(roots=self.roots)

    async def on_log(self, params: types.LoggingMessageNotificationParams) -> None:
        self.add("log", params)

    async def on_message(self, message: IncomingMessage) -> None:
        if isinstance(message, Exception):
            self.add("exception", {"type": type(message).__name__})
        elif not isinstance(message, types.LoggingMessageNotification):
            self.add(message.method, message.params or {})

    def client_options(self) -> dict[str, Any]:
        """The ``Client`` keyword arguments that route everything into this recorder."""
        return {
            "sampling_callback": self.on_sampling,
            "elicitation_callback": self.on_elicitation,
            "list_roots_callback": self.on_roots,
            "logging_callback": self.on_log,
            "message_handler": self.on_message,
            "log_level": "debug",
        }


@dataclass
class Run:
    """One client session against one server, directly or through Only1MCP."""

    client: Client
    spec: ServerSpec
    naming: Naming
    events: Events
    page_url: str
    """The loopback page (for mcp-server-fetch)."""
    workdir: Path
    """The session directory (for the filesystem and git servers)."""

    def tool(self, role: str) -> str:
        return self.naming.tool(self.spec.name_of(role))

    def uri(self, role: str) -> str:
        return self.naming.uri(self.spec.name_of(role))

    @property
    def stateless(self) -> bool:
        return self.client.protocol_version not in HANDSHAKE_PROTOCOL_VERSIONS


async def outcome(call: Awaitable[Any]) -> Any:
    """The result of ``call`` as JSON, or the JSON-RPC error it raised."""
    try:
        return dump(await call)
    except MCPError as exc:
        return {"error": {"code": exc.code, "message": exc.message, "data": dump(exc.error.data)}}


async def list_all(fetch: Callable[[str | None], Awaitable[Any]], key: str) -> Any:
    """Every item over all pages. The cursors themselves are not recorded: they are opaque
    tokens each server mints its own way (Only1MCP wraps the backend's), so they are volatile."""
    items: list[Any] = []
    cursor: str | None = None
    for _ in range(50):
        try:
            page = await fetch(cursor)
        except MCPError as exc:
            return {"error": {"code": exc.code, "message": exc.message}}
        data = dump(page)
        items += data.pop(key)
        cursor = data.pop("nextCursor", None)
        if cursor is None:
            return {**data, key: items}
    raise AssertionError(f"{key} pagination did not end within 50 pages")


async def call(run: Run, role: str, arguments: dict[str, Any] | None = None) -> Any:
    return await outcome(run.client.call_tool(run.tool(role), arguments or {}))


# --------------------------------------------------------------------------- the scenarios


STARTUP_WAIT = 0.5
"""How long the startup scenario listens to the server after the session began."""


async def s_startup(run: Run) -> Any:
    """What the server sends on its own once the session began (list_changed, roots/list...)."""
    await anyio.sleep(STARTUP_WAIT)
    return None


async def s_list(run: Run) -> Any:
    return await list_all(lambda c: run.client.list_tools(cursor=c), "tools")


async def s_content(run: Run) -> Any:
    return {
        role: await call(run, role) for role in ("text", "image", "audio", "embedded", "multiple")
    }


async def s_structured(run: Run) -> Any:
    return {
        "structured": await call(run, "structured", {"a": 2, "b": 3}),
        "bad_arguments": await call(run, "structured", {"a": "two"}),
    }


async def s_tool_error(run: Run) -> Any:
    return await call(run, "error")


async def s_protocol_error(run: Run) -> Any:
    """Unknown tool, unknown resource, unknown prompt: each a JSON-RPC error (or a tool error)."""
    return {
        "tool": await outcome(run.client.call_tool(run.naming.tool("no_such_tool"), {})),
        "resource": await outcome(run.client.read_resource(run.naming.uri("test://no-such"))),
        "prompt": await outcome(run.client.get_prompt(run.naming.tool("no_such_prompt"))),
    }


async def s_progress(run: Run) -> Any:
    seen: list[Any] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        seen.append({"progress": value, "total": total, "message": message})

    client = run.client
    result = await outcome(client.call_tool(run.tool("progress"), {}, progress_callback=progress))
    return {"result": result, "progress": seen}


async def s_logging(run: Run) -> Any:
    level = None
    if not run.stateless:  # logging/setLevel is a handshake-era method (2026: the _meta logLevel)
        level = await outcome(run.client.set_logging_level("debug"))
    return {"setLevel": level, "result": await call(run, "logging")}


async def s_sampling(run: Run) -> Any:
    return await call(run, "sampling", {"prompt": "What is the capital of France?"})


async def s_elicitation(run: Run) -> Any:
    return await call(run, "elicitation", {"message": "Who are you?"})


async def s_roots(run: Run) -> Any:
    return await call(run, "roots")


async def s_resources(run: Run) -> Any:
    return {
        "list": await list_all(lambda c: run.client.list_resources(cursor=c), "resources"),
        "static": await outcome(run.client.read_resource(run.uri("static"))),
        "binary": await outcome(run.client.read_resource(run.uri("binary"))),
    }


async def s_subscribe(run: Run) -> Any:
    uri = run.uri("watched")
    if run.stateless:  # 2026: resources/subscribe is replaced by subscriptions/listen
        async with run.client.listen(resource_subscriptions=[uri]) as sub:
            triggered = await call(run, "resource_update")
            found = None
            with anyio.move_on_after(NOTIFY_WAIT):
                async for event in sub:
                    found = dump(event)
                    break
            await anyio.sleep(LINGER)  # a duplicate of the event would arrive meanwhile
            return {"honored": dump(sub.honored), "trigger": triggered, "event": found}
    subscribed = await outcome(run.client.subscribe_resource(uri))
    await run.events.wait_for("notifications/resources/updated")
    return {
        "subscribe": subscribed,
        "unsubscribe": await outcome(run.client.unsubscribe_resource(uri)),
    }


async def s_templates(run: Run) -> Any:
    listed = await list_all(
        lambda c: run.client.list_resource_templates(cursor=c), "resourceTemplates"
    )
    return {
        "list": listed,
        "read": await outcome(run.client.read_resource(run.uri("template_uri"))),
    }


async def s_prompts(run: Run) -> Any:
    get = run.client.get_prompt
    return {
        "list": await list_all(lambda c: run.client.list_prompts(cursor=c), "prompts"),
        "simple": await outcome(get(run.tool("prompt"))),
        "args": await outcome(get(run.tool("prompt_args"), {"arg1": "one", "arg2": "two"})),
        "embedded": await outcome(
            get(run.tool("prompt_embedded"), {"resourceUri": "test://static-text"})
        ),
        "image": await outcome(get(run.tool("prompt_image"))),
    }


async def s_completion(run: Run) -> Any:
    prompt = types.PromptReference(type="ref/prompt", name=run.tool("prompt_args"))
    template = types.ResourceTemplateReference(type="ref/resource", uri=run.uri("template"))
    complete = run.client.complete
    return {
        "prompt": await outcome(complete(prompt, {"name": "arg1", "value": "p"})),
        "template": await outcome(complete(template, {"name": "id", "value": "1"})),
    }


async def s_list_changed(run: Run) -> Any:
    if run.stateless:  # 2026: list_changed reaches subscriptions/listen streams only
        async with run.client.listen(tools_list_changed=True) as sub:
            triggered = await call(run, "tool_change")
            with anyio.move_on_after(NOTIFY_WAIT):
                async for event in sub:
                    return {
                        "honored": dump(sub.honored),
                        "trigger": triggered,
                        "event": dump(event),
                    }
            return {"honored": dump(sub.honored), "trigger": triggered, "event": None}
    result = await call(run, "list_changed")
    await run.events.wait_for("notifications/tools/list_changed")
    return result


async def s_cancellation(run: Run) -> Any:
    """A slow call cancelled by the client (``notifications/cancelled``); the session goes on."""
    started = anyio.Event()

    async def progress(value: float, total: float | None, message: str | None) -> None:
        started.set()

    async def slow() -> None:
        await run.client.call_tool(run.tool("slow"), {}, progress_callback=progress)

    async with anyio.create_task_group() as tg:
        tg.start_soon(slow)
        with anyio.move_on_after(NOTIFY_WAIT):
            await started.wait()
        tg.cancel_scope.cancel()
    # How many progress notifications arrive before the cancellation takes effect is a race
    # (and one may still arrive after it): not recorded.
    await anyio.sleep(0.3)
    run.events.take()
    return {"started": started.is_set(), "after": await call(run, "text")}


FIXTURE_SCENARIOS: dict[str, Callable[[Run], Awaitable[Any]]] = {
    "startup": s_startup,
    "list": s_list,
    "content": s_content,
    "structured": s_structured,
    "tool_error": s_tool_error,
    "protocol_error": s_protocol_error,
    "progress": s_progress,
    "logging": s_logging,
    "sampling": s_sampling,
    "elicitation": s_elicitation,
    "roots": s_roots,
    "resources": s_resources,
    "subscribe": s_subscribe,
    "templates": s_templates,
    "prompts": s_prompts,
    "completion": s_completion,
    "list_changed": s_list_changed,
    "cancellation": s_cancellation,
}
"""Scenario name → scenario, in run order (cancellation last: it may disturb the session)."""


async def run_scenario(run: Run, scenario: Callable[[Run], Awaitable[Any]]) -> Any:
    """``{"answer": ..., "events": [...]}`` for one scenario; failures are observations too."""
    if scenario is not s_startup:
        run.events.take()
    try:
        with anyio.fail_after(SCENARIO_TIMEOUT):
            answer = await scenario(run)
    except TimeoutError:
        answer = {"timeout": SCENARIO_TIMEOUT}
    except MCPError as exc:
        answer = {"error": {"code": exc.code, "message": exc.message}}
    await anyio.sleep(0)
    return {"answer": answer, "events": run.events.take()}
