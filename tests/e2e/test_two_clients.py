"""Two clients at once, two backends: each client gets exactly its own messages.

Backends: the conformance fixture server (``tests/fixtures/conformance_server.py``) twice,

* ``a``: one process over Streamable HTTP, shared by every client session;
* ``b``: over stdio with ``isolation: session``, i.e. one process per client session.

Two SDK clients, connected at the same time, each with its own sampling callback (answering
``from-<client>: <prompt>``), progress callbacks and a message handler recording everything
that arrives, concurrently call ``{a,b}__test_sampling``, ``{a,b}__test_tool_with_progress`` and
``{a,b}__test_tool_with_logging`` for several rounds. Each client must see exactly its own
sampling requests (count and prompts), its own sampling answers in its results, exactly its own
progress notifications (three per progress call: 0, 50, 100 of 100) and exactly its own log
messages (three per logging call), none of the other client's. Progress is asked for both ways:
through ``progress_callback`` (the SDK's token is the request id, so the two clients' tokens
overlap: counts per call catch a cross-delivery) and with an explicit ``_meta.progressToken``
naming the client (caught by value). Then ``a__test_dynamic_tool`` and ``b__test_dynamic_tool``
make the backends send ``notifications/tools/list_changed``, which must reach the clients.
All problems found are collected and reported together, after both clients disconnected.

Over the stdio front every client is its own aggregator process, so there a backend's
list_changed only has the calling client to reach.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext, IncomingMessage
from mcp.shared.dispatcher import ProgressFnT
from mcp.shared.exceptions import MCPError

from .conftest import (
    CLIENT_READ_TIMEOUT,
    REPO_ROOT,
    Front,
    ProcessTracker,
    StdioRun,
    _ReadyStreams,
    free_port,
    http_server,
    list_all_tools,
    open_front,
    sampled,
    stdio_aggregator,
    text_of,
    write_config,
)

pytestmark = pytest.mark.anyio

CONFORMANCE_SERVER = REPO_ROOT / "tests" / "fixtures" / "conformance_server.py"
CLIENT_NAMES = ("client-1", "client-2")
ROUNDS = 3
CALL_DEADLINE = 30.0
"""Bound on one tool call (the first call to ``b`` starts that session's backend process)."""
DELIVERY_DEADLINE = 10.0
"""Bound on waiting for notifications to arrive."""
SETTLE = 0.5
"""How long to keep listening after the expected messages arrived, to catch extra ones."""
SAMPLING_TOOLS = ("a__test_sampling", "b__test_sampling")
PROGRESS_TOOLS = ("a__test_tool_with_progress", "b__test_tool_with_progress")
LOGGING_TOOLS = ("a__test_tool_with_logging", "b__test_tool_with_logging")
DYNAMIC_TOOLS = ("a__test_dynamic_tool", "b__test_dynamic_tool")
EXPECTED_STEPS = [(float(step), 100.0, f"Completed step {step} of 100") for step in (0, 50, 100)]
"""What ``test_tool_with_progress`` reports, as ``(progress, total, message)``."""
EXPECTED_LOGS = ("Tool execution started", "Tool processing data", "Tool execution completed")
"""The ``info`` log messages ``test_tool_with_logging`` sends, one each per call."""
ROUTED_NOTIFICATIONS = (
    types.ProgressNotification,
    types.LoggingMessageNotification,
    types.ToolListChangedNotification,
    types.ResourceListChangedNotification,
    types.PromptListChangedNotification,
)
"""Notifications a client may receive here; anything else is stray."""

Step = tuple[float, float | None, str | None]


# --------------------------------------------------------------------------- backends


@pytest.fixture(scope="module")
def conformance_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The conformance fixture server over Streamable HTTP; yields its ``/mcp`` URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("conformance-http") / "conformance-http.log"
    argv = [sys.executable, str(CONFORMANCE_SERVER), "--port", str(port)]
    with http_server(argv, port, log) as url:
        yield url


@pytest.fixture
def two_backends(tmp_path: Path, conformance_url: str) -> Path:
    """Config: ``a`` (shared, HTTP) and ``b`` (stdio, ``isolation: session``)."""
    return write_config(
        tmp_path / "two-backends.yaml",
        {
            "a": {"url": conformance_url, "prefix": "a", "timeout": 20},
            "b": {
                "command": sys.executable,
                "args": [str(CONFORMANCE_SERVER), "--transport", "stdio"],
                "env": {"PYTHONUNBUFFERED": "1"},
                "prefix": "b",
                "isolation": "session",
                "timeout": 20,
            },
        },
    )


# --------------------------------------------------------------------------- one client's view


@dataclass
class Recorder:
    """Everything one client received, and what it expects to receive."""

    name: str
    sampled: list[str] = field(default_factory=list)
    """Prompt of every ``sampling/createMessage`` that reached this client's callback."""
    progress: dict[str, list[Step]] = field(default_factory=dict)
    """Progress callback invocations, by call label."""
    notifications: list[types.ServerNotification] = field(default_factory=list)
    errors: list[Exception] = field(default_factory=list)
    results: dict[str, str] = field(default_factory=dict)
    """Text of each tool result, by call label."""
    expected_results: dict[str, str] = field(default_factory=dict)
    expected_prompts: list[str] = field(default_factory=list)
    callback_labels: list[str] = field(default_factory=list)
    explicit_tokens: list[str] = field(default_factory=list)
    logging_labels: list[str] = field(default_factory=list)

    async def sampling(
        self, context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        """Answer a sampling request with a text naming this client and echoing the prompt."""
        prompt = " | ".join(_text(message.content) for message in params.messages)
        self.sampled.append(prompt)
        return sampled(f"from-{self.name}: {prompt}", f"model-{self.name}")

    async def on_message(self, message: IncomingMessage) -> None:
        """Record every notification (and transport-level exception) the session surfaces."""
        if isinstance(message, Exception):
            self.errors.append(message)
        else:
            self.notifications.append(message)

    def progress_callback(self, label: str) -> ProgressFnT:
        """A progress callback recording under ``label``."""
        steps = self.progress.setdefault(label, [])

        async def record(progress: float, total: float | None, message: str | None) -> None:
            steps.append((progress, total, message))

        return record

    def progress_tokens(self) -> Counter[str | int]:
        """How many ``notifications/progress`` arrived per progress token."""
        return Counter(
            n.params.progress_token
            for n in self.notifications
            if isinstance(n, types.ProgressNotification)
        )

    def log_messages(self) -> Counter[str]:
        """How many ``notifications/message`` arrived per message text."""
        return Counter(
            str(n.params.data)
            for n in self.notifications
            if isinstance(n, types.LoggingMessageNotification)
        )

    def list_changed(self) -> int:
        """How many ``notifications/tools/list_changed`` arrived."""
        return sum(isinstance(n, types.ToolListChangedNotification) for n in self.notifications)

    def stray(self) -> list[types.ServerNotification]:
        """Notifications of a kind no call here should have caused."""
        return [n for n in self.notifications if not isinstance(n, ROUTED_NOTIFICATIONS)]

    def delivered(self) -> bool:
        """Whether every expected progress step and log message has arrived."""
        progress_calls = len(self.callback_labels) + len(self.explicit_tokens)
        return (
            sum(self.progress_tokens().values()) >= len(EXPECTED_STEPS) * progress_calls
            and all(
                len(self.progress.get(label, [])) >= len(EXPECTED_STEPS)
                for label in self.callback_labels
            )
            and sum(self.log_messages().values()) >= len(EXPECTED_LOGS) * len(self.logging_labels)
        )

    def describe(self) -> str:
        """A summary for assertion messages."""
        kinds = Counter(type(n).__name__ for n in self.notifications)
        return (
            f"{self.name}: sampled={self.sampled}\nprogress callbacks={self.progress}\n"
            f"progress tokens={dict(self.progress_tokens())}\n"
            f"log messages={dict(self.log_messages())}\nnotifications={dict(kinds)}\n"
            f"errors={self.errors!r}\nresults={self.results}"
        )


def _text(content: object) -> str:
    if isinstance(content, types.TextContent):
        return content.text
    if isinstance(content, list):
        return " ".join(_text(item) for item in content)
    return repr(content)


async def wait_until(predicate: Callable[[], bool], deadline: float = DELIVERY_DEADLINE) -> bool:
    """Poll ``predicate`` until it holds or ``deadline`` seconds pass; return its last value."""
    with anyio.move_on_after(deadline):
        while not predicate():
            await anyio.sleep(0.02)
    return predicate()


# --------------------------------------------------------------------------- connecting


@contextlib.asynccontextmanager
async def connect(front: Front, recorder: Recorder) -> AsyncIterator[Client]:
    """An SDK client through ``front`` whose callbacks all record into ``recorder``."""
    options: dict[str, Any] = {
        "mode": "legacy",
        "cache": None,
        "read_timeout_seconds": CLIENT_READ_TIMEOUT,
        "sampling_callback": recorder.sampling,
        "message_handler": recorder.on_message,
        "client_info": types.Implementation(name=recorder.name, version="1.0.0"),
    }
    if front.http is not None:
        async with Client(front.http.url, **options) as client:
            yield client
        return
    log = front.workdir / f"only1mcp-stdio-{recorder.name}-{time.monotonic_ns()}.log"
    async with (
        stdio_aggregator(front.stdio_argv, log, StdioRun()) as streams,
        Client(_ReadyStreams(streams), **options) as client,
    ):
        yield client


@contextlib.asynccontextmanager
async def two_clients(front: Front) -> AsyncIterator[list[tuple[Client, Recorder]]]:
    """Both clients, connected at the same time."""
    recorders = [Recorder(name) for name in CLIENT_NAMES]
    async with connect(front, recorders[0]) as first, connect(front, recorders[1]) as second:
        yield [(first, recorders[0]), (second, recorders[1])]


# --------------------------------------------------------------------------- traffic


async def call(
    client: Client,
    recorder: Recorder,
    label: str,
    tool: str,
    *,
    arguments: dict[str, Any] | None = None,
    progress_callback: ProgressFnT | None = None,
    meta: types.RequestParamsMeta | None = None,
) -> None:
    """Call ``tool`` (bounded) and record its text (marked if an error) under ``label``."""
    with anyio.fail_after(CALL_DEADLINE):
        try:
            result = await client.call_tool(
                tool, arguments, progress_callback=progress_callback, meta=meta
            )
        except MCPError as exc:
            recorder.results[label] = f"ERROR: JSON-RPC error {exc.code}: {exc.message}"
            return
    text = text_of(result)
    recorder.results[label] = f"ERROR: {text}" if result.is_error else text


async def one_round(client: Client, recorder: Recorder, round_no: int) -> None:
    """One round's eight calls at once: 2 sampling, 2x2 progress (callback / token), 2 logging."""
    me = recorder.name
    async with anyio.create_task_group() as tg:
        for tool in SAMPLING_TOOLS:
            label = f"{me}/{tool}/round-{round_no}"
            prompt = f"prompt of {label}"
            recorder.expected_prompts.append(prompt)
            recorder.expected_results[label] = f"LLM response: from-{me}: {prompt}"
            tg.start_soon(
                functools.partial(call, client, recorder, label, tool, arguments={"prompt": prompt})
            )
        for tool in PROGRESS_TOOLS:
            label = f"{me}/{tool}/round-{round_no}/callback"
            recorder.callback_labels.append(label)
            callback = recorder.progress_callback(label)
            tg.start_soon(
                functools.partial(call, client, recorder, label, tool, progress_callback=callback)
            )
            token = f"{me}/{tool}/round-{round_no}/token"
            recorder.explicit_tokens.append(token)
            meta: types.RequestParamsMeta = {"progress_token": token}
            tg.start_soon(functools.partial(call, client, recorder, token, tool, meta=meta))
        for tool in LOGGING_TOOLS:
            label = f"{me}/{tool}/round-{round_no}"
            recorder.logging_labels.append(label)
            tg.start_soon(functools.partial(call, client, recorder, label, tool))


async def drive(client: Client, recorder: Recorder) -> None:
    """``ROUNDS`` rounds, one after the other."""
    for round_no in range(ROUNDS):
        await one_round(client, recorder, round_no)


def own_message_problems(recorder: Recorder, other: Recorder) -> list[str]:
    """What ``recorder`` received that is not exactly its own traffic (empty: all good)."""
    me = recorder.name
    problems: list[str] = []

    def expect(ok: bool, what: str) -> None:
        if not ok:
            problems.append(f"{me}: {what}")

    expect(not recorder.errors, f"transport errors {recorder.errors!r}")
    expect(not recorder.stray(), f"stray notifications {recorder.stray()}")

    # Sampling: one request per own sampling call, each result carrying the answer this client
    # gave to that very call's prompt.
    expect(
        len(recorder.sampled) == len(SAMPLING_TOOLS) * ROUNDS,
        f"sampling callback ran {len(recorder.sampled)} times, expected "
        f"{len(SAMPLING_TOOLS) * ROUNDS}",
    )
    expect(
        sorted(recorder.sampled) == sorted(recorder.expected_prompts),
        f"sampling prompts {sorted(recorder.sampled)} != {sorted(recorder.expected_prompts)}",
    )
    foreign = [p for p in recorder.sampled if other.name in p]
    expect(not foreign, f"sampling requests of {other.name} reached {me}: {foreign}")
    for label, expected in recorder.expected_results.items():
        got = recorder.results.get(label)
        expect(got == expected, f"{label} returned {got!r}, expected {expected!r}")

    # Progress and logging calls all succeeded.
    for label in [*recorder.callback_labels, *recorder.explicit_tokens]:
        got = recorder.results.get(label, "<no result>")
        expect(got.startswith("Progress reported"), f"{label} returned {got!r}")
    for label in recorder.logging_labels:
        got = recorder.results.get(label, "<no result>")
        expect(got == "Tool with logging executed successfully", f"{label} returned {got!r}")

    # Progress callbacks: each own call saw its three steps, once each.
    for label in recorder.callback_labels:
        got_steps = sorted(recorder.progress.get(label, []))
        expect(got_steps == EXPECTED_STEPS, f"progress callback of {label} saw {got_steps}")

    # Every progress notification carries one of this client's own tokens: the explicit ones by
    # value, the SDK's request-id ones three times each, one token per callback call.
    tokens = recorder.progress_tokens()
    explicit = {t: n for t, n in tokens.items() if isinstance(t, str)}
    expected_explicit = dict.fromkeys(recorder.explicit_tokens, len(EXPECTED_STEPS))
    expect(
        explicit == expected_explicit,
        f"progress per explicit token {explicit}, expected {expected_explicit}",
    )
    by_id = {t: n for t, n in tokens.items() if not isinstance(t, str)}
    expect(
        len(by_id) == len(recorder.callback_labels)
        and set(by_id.values()) <= {len(EXPECTED_STEPS)},
        f"progress per request-id token {by_id}, expected {len(recorder.callback_labels)} "
        f"tokens with {len(EXPECTED_STEPS)} each",
    )

    # Log messages: three per own logging call, no more (the texts are the same for everyone,
    # so a cross-delivery shows up as a count).
    logs = recorder.log_messages()
    expected_logs = dict.fromkeys(EXPECTED_LOGS, len(recorder.logging_labels))
    expect(dict(logs) == expected_logs, f"log messages {dict(logs)}, expected {expected_logs}")
    return problems


# --------------------------------------------------------------------------- tests


async def test_each_client_gets_exactly_its_own_messages(
    launch: Callable[[Path], Front], two_backends: Path
) -> None:
    front = launch(two_backends)
    problems: list[str] = []
    async with two_clients(front) as pairs:
        recorders = [recorder for _, recorder in pairs]
        # Both catalogs are complete before the traffic starts.
        for client, recorder in pairs:
            with anyio.fail_after(CALL_DEADLINE):
                tools, _ = await list_all_tools(client)
            names = {tool.name for tool in tools}
            missing = {*SAMPLING_TOOLS, *PROGRESS_TOOLS, *LOGGING_TOOLS, *DYNAMIC_TOOLS} - names
            assert not missing, f"{recorder.name} misses {sorted(missing)} in {sorted(names)}"

        async with anyio.create_task_group() as tg:
            for client, recorder in pairs:
                tg.start_soon(drive, client, recorder)
        for recorder in recorders:
            await wait_until(recorder.delivered)
        await anyio.sleep(SETTLE)  # anything extra (the other client's traffic) arrives too
        problems += own_message_problems(recorders[0], recorders[1])
        problems += own_message_problems(recorders[1], recorders[0])

        # list_changed from either backend reaches every client of this aggregator (over stdio
        # each client has an aggregator of its own, so only the caller is reached).
        first = pairs[0][0]
        reached = recorders if front.http is not None else recorders[:1]
        for tool in DYNAMIC_TOOLS:
            before = [r.list_changed() for r in reached]
            with anyio.fail_after(CALL_DEADLINE):
                result = await first.call_tool(tool, {})
            if result.is_error:
                problems.append(f"{tool} returned an error: {text_of(result)}")

            def arrived(before: list[int] = before) -> bool:
                return all(r.list_changed() > n for r, n in zip(reached, before, strict=True))

            if not await wait_until(arrived):
                problems.append(
                    f"{tool}: no tools/list_changed within {DELIVERY_DEADLINE}s for "
                    f"{[r.name for r in reached]}: counts before {before}, after "
                    f"{[r.list_changed() for r in reached]}"
                )

        # After the refresh the catalogs still list both backends' tools.
        for client, recorder in pairs:
            with anyio.fail_after(CALL_DEADLINE):
                tools, _ = await list_all_tools(client)
            gone = {*DYNAMIC_TOOLS, *SAMPLING_TOOLS} - {tool.name for tool in tools}
            if gone:
                problems.append(f"{recorder.name}: {sorted(gone)} gone after list_changed")
    details = "\n\n".join(recorder.describe() for recorder in recorders)
    assert not problems, "\n".join(problems) + f"\n\n--- what each client saw ---\n{details}"


def live_b_processes(tracker: ProcessTracker) -> list[int]:
    """Pids of the aggregator's live descendants running the conformance server over stdio."""
    tracker.snapshot()
    return sorted(
        info.pid
        for info in tracker.seen
        if info.alive() and CONFORMANCE_SERVER.name in info.cmdline and "stdio" in info.cmdline
    )


async def test_session_isolation_gives_each_http_client_its_own_backend(
    tmp_path: Path, two_backends: Path
) -> None:
    """``isolation: session``: one ``b`` process per HTTP client session, gone when it ends."""
    with open_front("http", two_backends, tmp_path / "front-http") as front:
        assert front.http is not None
        tracker = front.http.tracker
        base = live_b_processes(tracker)
        recorders = [Recorder(name) for name in CLIENT_NAMES]
        async with connect(front, recorders[0]) as first:
            with anyio.fail_after(CALL_DEADLINE):
                assert not (await first.call_tool("b__test_simple_text", {})).is_error
            one = live_b_processes(tracker)
            assert len(one) == len(base) + 1, f"before {base}, after client-1's call {one}"
            async with connect(front, recorders[1]) as second:
                with anyio.fail_after(CALL_DEADLINE):
                    assert not (await second.call_tool("b__test_simple_text", {})).is_error
                    assert not (await first.call_tool("b__test_simple_text", {})).is_error
                two = live_b_processes(tracker)
                assert len(two) == len(base) + 2, f"before {base}, after both clients {two}"
            assert await wait_until(lambda: live_b_processes(tracker) == one), (
                f"client-2's session ended but the b processes are {live_b_processes(tracker)}, "
                f"expected {one}"
            )
        assert await wait_until(lambda: live_b_processes(tracker) == base), (
            f"both sessions ended but the b processes are {live_b_processes(tracker)}, "
            f"expected {base}"
        )


def _updates(recorder: Recorder) -> list[str]:
    return [
        str(n.params.uri)
        for n in recorder.notifications
        if isinstance(n, types.ResourceUpdatedNotification)
    ]


# resources/subscribe is a handshake-era method; the SDK warns that 2026-07-28 replaced it.
@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")
async def test_resource_updates_reach_the_subscriber_only(
    tmp_path: Path, two_backends: Path
) -> None:
    """Both backends' watched resource: only the client that subscribed hears of updates."""
    with open_front("http", two_backends, tmp_path / "front-http") as front:
        async with two_clients(front) as ((first, one), (_second, two)):
            with anyio.fail_after(CALL_DEADLINE):
                await first.subscribe_resource("a+test://watched-resource")
                await first.subscribe_resource("b+test://watched-resource")
            assert await wait_until(lambda: len(_updates(one)) == 2), _updates(one)
            await anyio.sleep(0.5)
            assert sorted(_updates(one)) == [
                "a+test://watched-resource",
                "b+test://watched-resource",
            ]
            assert _updates(two) == []
