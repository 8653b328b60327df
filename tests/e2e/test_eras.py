"""Client negotiation modes through both fronts.

The other e2e tests pin the handshake era (``mode="legacy"``); these also let the SDK negotiate
(``"auto"`` probes ``server/discover``, which both fronts answer, so it lands on 2026-07-28) and
pin the stateless era itself. ``test_stateless.py`` has the 2026 bridge and wire details.
"""

from __future__ import annotations

import anyio
import pytest
from mcp.shared.exceptions import MCPError
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from .conftest import Front, list_all_tools, text_of

pytestmark = pytest.mark.anyio

MODES = ["legacy", "auto", "2026-07-28"]


@pytest.mark.parametrize("mode", MODES)
async def test_list_and_call_in_each_era(front: Front, mode: str) -> None:
    async with front.client(mode=mode) as client:
        if mode == "legacy":
            assert client.protocol_version in HANDSHAKE_PROTOCOL_VERSIONS
        else:
            assert client.protocol_version == "2026-07-28"
        with anyio.fail_after(30):
            tools, _ = await list_all_tools(client)
            names = {tool.name for tool in tools}
            assert {"fx__echo", "web__add", "time__get_current_time"} <= names, names
            result = await client.call_tool("web__add", {"a": 1, "b": 2})
            assert not result.is_error, text_of(result)
            assert result.structured_content == {"result": 3}
            result = await client.call_tool("fx__echo", {"text": mode})
            assert text_of(result) == mode
            with pytest.raises(MCPError) as caught:
                await client.call_tool("fx__missing_tool", {})
            assert "fx__missing_tool" in caught.value.message
