"""Backend answers a relay cannot pass on as they are: a clear JSON-RPC error, never a 500.

Only1MCP relays a backend's answer as bytes with the client's id swapped in. An HTTP server
that answers ``application/json`` with more than the response (its notifications written before
it, back to back) used to reach the id rewrite as is: "trailing data after object", an
exception out of the ASGI app, HTTP 500 with a traceback in the log. Now such a body is split
as an SSE stream would be (the response is the answer, the notifications go to the client), and
a body that holds no response to the request is the server's error, said as such.

The backend is ``tests/fixtures/framed_json_server.py`` (a 2026-07-28 HTTP server, prefix
``fr``); the clients are the SDK's, of both eras, through both fronts. The harness fails a test
whose aggregator logged an exception that escaped to the HTTP server.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from .conftest import (
    FRONT_KINDS,
    REPO_ROOT,
    Front,
    free_port,
    http_server,
    open_front,
    text_of,
    write_config,
)

pytestmark = pytest.mark.anyio

SERVER = REPO_ROOT / "tests" / "fixtures" / "framed_json_server.py"
DEADLINE = 30.0
MODES = ["legacy", "2026-07-28"]


@pytest.fixture(scope="module")
def framed_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("framed") / "framed.log"
    with http_server([sys.executable, str(SERVER), "--port", str(port)], port, log) as url:
        yield url


@pytest.fixture(scope="module", params=FRONT_KINDS)
def front(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, framed_url: str
) -> Iterator[Front]:
    workdir = tmp_path_factory.mktemp(f"framed-{request.param}")
    config = write_config(workdir / "only1mcp.yaml", {"fr": {"url": framed_url, "timeout": 10}})
    with open_front(request.param, config, workdir) as opened:
        yield opened


@pytest.mark.parametrize("mode", MODES)
async def test_a_body_with_frames_before_the_response_is_split(front: Front, mode: str) -> None:
    logs: list[str] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(str(params.data))

    async with front.client(mode=mode, logging_callback=on_log) as client:
        with anyio.fail_after(DEADLINE):
            result = await client.call_tool("fr__framed", {})
            assert not result.is_error, text_of(result)
            assert text_of(result) == "framed done"
            if mode == "legacy":  # a 2026 client hears logs only at a level it asked for
                while "framed: working" not in logs:
                    await anyio.sleep(0.02)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("tool", ["no_id", "junk"])
async def test_a_body_without_the_response_is_the_servers_error(
    front: Front, mode: str, tool: str
) -> None:
    async with front.client(mode=mode) as client:
        with anyio.fail_after(DEADLINE), pytest.raises(MCPError) as caught:
            await client.call_tool(f"fr__{tool}", {})
    error: Any = caught.value
    assert error.code == -32000, (error.code, error.message)
    assert "server 'fr'" in error.message and "not the response" in error.message
    assert "Traceback" not in error.message
