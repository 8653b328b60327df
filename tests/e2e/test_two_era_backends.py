"""A handshake-era client gets through Only1MCP what it gets from a two-era server directly.

The SDK's ``MCPServer`` speaks both eras: it answers ``server/discover`` and ``initialize``. Under
``protocol: auto`` Only1MCP speaks 2026-07-28 to it, where a server has no back-channel: a tool
that asks its client something (``sample``: sampling, ``ask``: elicitation) works for a
handshake-era client only if that client's calls reach the server over the handshake. So
handshake-era sessions get a handshake "face" of the server (one more backend session, shared),
while 2026 clients keep the stateless path. ``protocol: 2026-07-28`` stays a pin: no face.

The fixture server runs over stdio (prefix ``fx``), over Streamable HTTP (``web``) and over stdio
pinned to 2026-07-28 (``pin``); the same SDK client is pointed at the HTTP server directly first,
as the reference. The native conformance fixture (also two-era) runs over stdio (``ns``) and HTTP
(``nh``) for resource subscriptions and list changes through the faces.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import anyio
import mcp_types as types
import psutil
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from .conftest import (
    CLIENT_READ_TIMEOUT,
    FRONT_KINDS,
    Front,
    fx_stdio_server,
    open_front,
    prompt_of,
    sampled,
    text_of,
    write_config,
)
from .test_stateless_backends import NATIVE, NativeHttp

pytestmark = pytest.mark.anyio

DEADLINE = 30.0


class Callbacks:
    """A handshake client's answers to sampling and elicitation, and the logs it got."""

    def __init__(self) -> None:
        self.logs: list[str] = []

    async def sample(self, context: Any, params: types.CreateMessageRequestParams) -> Any:
        return sampled(f"sampled: {prompt_of(params)}")

    async def elicit(self, context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    async def log(self, params: types.LoggingMessageNotificationParams) -> None:
        self.logs.append(str(params.data))

    def options(self) -> dict[str, Any]:
        return {
            "sampling_callback": self.sample,
            "elicitation_callback": self.elicit,
            "logging_callback": self.log,
        }


@pytest.fixture(scope="module")
def native(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NativeHttp]:
    with NativeHttp(tmp_path_factory.mktemp("native") / "native.log") as server:
        yield server


@pytest.fixture(scope="module", params=FRONT_KINDS)
def front(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    web_server: str,
    native: NativeHttp,
) -> Iterator[Front]:
    stdio = {"command": sys.executable, "args": [str(NATIVE), "--transport", "stdio"]}
    servers = {
        "fx": fx_stdio_server(),
        "web": {"url": web_server, "prefix": "web", "timeout": 20},
        "pin": {**fx_stdio_server("pin"), "prefix": "pin", "protocol": "2026-07-28"},
        "ns": {**stdio, "env": {"PYTHONUNBUFFERED": "1"}, "timeout": 20},
        "nh": {"url": native.url, "timeout": 20},
    }
    workdir = tmp_path_factory.mktemp(f"two-era-{request.param}")
    config = write_config(workdir / "only1mcp.yaml", servers)
    with open_front(request.param, config, workdir) as opened:
        yield opened


async def test_directly_the_handshake_client_gets_sampling_and_elicitation(
    web_server: str,
) -> None:
    """The reference: the same client, the same server, no Only1MCP."""
    callbacks = Callbacks()
    options = {"cache": None, "read_timeout_seconds": CLIENT_READ_TIMEOUT, **callbacks.options()}
    async with Client(web_server, mode="legacy", **options) as client:
        with anyio.fail_after(DEADLINE):
            assert text_of(await client.call_tool("sample", {"prompt": "hi"})) == "sampled: hi"
            assert text_of(await client.call_tool("ask", {"question": "who?"})) == "hello Ada"


@pytest.mark.parametrize("prefix", ["fx", "web"])
async def test_handshake_client_gets_sampling_and_elicitation_through(
    front: Front, prefix: str
) -> None:
    callbacks = Callbacks()
    async with front.client(mode="legacy", **callbacks.options()) as client:
        with anyio.fail_after(DEADLINE):
            sampled = await client.call_tool(f"{prefix}__sample", {"prompt": prefix})
            assert not sampled.is_error, text_of(sampled)
            assert text_of(sampled) == f"sampled: {prefix}"
            asked = await client.call_tool(f"{prefix}__ask", {"question": "who?"})
            assert text_of(asked) == "hello Ada"
            while f"sampling: {prefix}" not in callbacks.logs:
                await anyio.sleep(0.02)


async def test_concurrent_handshake_clients_share_one_face(front: Front) -> None:
    """Several handshake sessions at once: each gets its own sampling answers (over HTTP the
    server's request comes on its call's stream), and the stdio server runs as two processes
    in all (the 2026 one and one handshake face), not one per session or call. (Over a pipe
    a question cannot name its call: with calls of several sessions in flight, as with any
    handshake stdio server, it is refused rather than guessed.)"""
    results: dict[int, tuple[str, str]] = {}

    async def one(n: int) -> None:
        async with front.client(mode="legacy", **Callbacks().options()) as client:
            sampled = await client.call_tool("web__sample", {"prompt": f"c{n}"})
            echoed = await client.call_tool("fx__echo", {"text": f"e{n}"})
            results[n] = (text_of(sampled), text_of(echoed))

    with anyio.fail_after(DEADLINE):
        async with anyio.create_task_group() as group:
            for n in range(4):
                group.start_soon(one, n)
    assert results == {n: (f"sampled: c{n}", f"e{n}") for n in range(4)}
    if front.http is not None:  # over stdio each client has an aggregator of its own
        assert len(_fixture_processes(front.http.proc.pid, "fx")) == 2


async def test_2026_client_keeps_the_stateless_path(front: Front) -> None:
    async with front.client(mode="2026-07-28") as client:
        with anyio.fail_after(DEADLINE):
            assert text_of(await client.call_tool("fx__echo", {"text": "now"})) == "now"
            assert text_of(await client.call_tool("web__echo", {"text": "now"})) == "now"


async def test_a_2026_pin_stays_a_pin(front: Front) -> None:
    """``protocol: 2026-07-28``: no handshake face; the server, spoken to statelessly, has no
    back-channel, and says so."""
    async with front.client(mode="legacy", **Callbacks().options()) as client:
        with anyio.fail_after(DEADLINE):
            assert text_of(await client.call_tool("pin__echo", {"text": "p"})) == "p"
            try:
                answer = await client.call_tool("pin__sample", {"prompt": "p"})
                assert answer.is_error
                message = text_of(answer)
            except MCPError as exc:
                message = exc.message
            assert "back-channel" in message


# resources/subscribe is a handshake-era method; the SDK warns that 2026-07-28 replaced it.
@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")
@pytest.mark.parametrize("prefix", ["ns", "nh"])
async def test_subscriptions_and_list_changes_through_the_face(front: Front, prefix: str) -> None:
    """A resource subscription made through the face gets its updates. A list change reaches
    the session as well over HTTP, where the face and the 2026 backend (whose listen stream
    refreshes the catalog) share the server's state; over stdio the face is a process of its
    own, whose handshake session the SDK tells of resource updates only, as it would a direct
    client's."""
    seen: list[Any] = []

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ServerNotification):
            seen.append(message)

    def got(kind: type[Any]) -> list[Any]:
        return [n for n in seen if isinstance(n, kind)]

    async with front.client(mode="legacy", message_handler=on_message) as client:
        with anyio.fail_after(DEADLINE):
            uri = f"{prefix}+test://watched-resource"
            await client.subscribe_resource(uri)
            await client.call_tool(f"{prefix}__test_trigger_resource_update", {})
            while not got(types.ResourceUpdatedNotification):
                await anyio.sleep(0.02)
            assert {str(n.params.uri) for n in got(types.ResourceUpdatedNotification)} == {uri}
            if prefix == "nh":
                await client.call_tool("nh__test_trigger_tool_change", {})
                while not got(types.ToolListChangedNotification):
                    await anyio.sleep(0.02)


def _fixture_processes(root: int, name: str) -> list[psutil.Process]:
    """The fixture server processes named ``name`` below process ``root``."""
    found = []
    for child in psutil.Process(root).children(recursive=True):
        try:
            argv = child.cmdline()
        except psutil.Error:
            continue
        if "--name" in argv and argv[argv.index("--name") + 1] == name:
            found.append(child)
    return found
