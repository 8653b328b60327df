"""The server matrix: which servers the differential suite runs, and how each is launched.

A :class:`ServerSpec` says how to start one server over each transport it offers:

* ``stdio``: an argv, spawned by the client itself (directly) or by Only1MCP (through);
* ``http`` / ``http-json``: an argv with ``{port}`` that serves Streamable HTTP at
  ``http://127.0.0.1:{port}{path}``, SSE replies (``http``) or JSON replies (``http-json``).
  Started once per session by the suite; the client and Only1MCP both reach that process.

``scenarios`` names the scenarios of :mod:`scenarios` the server offers (each looks the
needed tool/resource/prompt names up in ``names``); ``smoke`` is what the other clients run.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "tests" / "fixtures"
JS_BIN = REPO_ROOT / "tools" / "mcp-js" / "node_modules" / ".bin"
NODE22_DIR = REPO_ROOT / "tools" / "conformance" / "node_modules" / "node" / "bin"
BIN_DIR = Path(sys.executable).parent


def node() -> str:
    """Node 22 when present (the Inspector CLI needs >= 22.19), else ``node`` from PATH."""
    candidate = NODE22_DIR / "node"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("node")
    assert found, "node is not installed"
    return found


@dataclass(frozen=True)
class Smoke:
    """What the smoke clients do: list tools, call ``tool``, read ``resource``, get ``prompt``."""

    tool: str
    arguments: dict[str, object]
    resource: str | None = None
    prompt: str | None = None
    prompt_arguments: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ServerSpec:
    """One server of the matrix."""

    name: str
    stdio: tuple[str, ...] | None
    http: tuple[str, ...] | None = None
    """argv with ``{port}``; the server answers with SSE streams."""
    http_json: tuple[str, ...] | None = None
    """argv with ``{port}``; the same server answering with plain JSON."""
    http_path: str = "/mcp"
    env: tuple[tuple[str, str], ...] = ()
    """``{port}``-free environment additions; ``PORT`` is set for HTTP launches."""
    scenarios: frozenset[str] = frozenset()
    names: tuple[tuple[str, str], ...] = ()
    """Scenario roles → the server's own tool/resource/prompt names (see ``scenarios.py``)."""
    smoke: Smoke | None = None
    bare: bool = False
    """Also run it through Only1MCP with ``prefix: ""`` (transport ``stdio-bare``)."""

    @property
    def transports(self) -> list[str]:
        """The transports this server offers, in matrix order."""
        offered = {"stdio": self.stdio, "http": self.http, "http-json": self.http_json}
        kinds = [kind for kind, argv in offered.items() if argv is not None]
        return [*kinds, "stdio-bare"] if self.bare else kinds

    def argv(self, transport: str) -> tuple[str, ...]:
        """The command line of ``transport`` (placeholders unformatted)."""
        argv = {"http": self.http, "http-json": self.http_json}.get(transport, self.stdio)
        assert argv is not None, f"{self.name} has no {transport} transport"
        return argv

    def name_of(self, role: str) -> str:
        """The server's own name for scenario role ``role``."""
        return dict(self.names)[role]


PY = sys.executable
SDK_FIXTURE = str(FIXTURES / "sdk_diff_server.py")
FASTMCP_FIXTURE = str(FIXTURES / "fastmcp_server.py")
TS_HANDSHAKE = str(FIXTURES / "ts_handshake_server.mjs")
TS_DUAL = str(FIXTURES / "ts_dual_era_server.mjs")

FULL = frozenset(
    {
        "startup",
        "list",
        "content",
        "structured",
        "tool_error",
        "protocol_error",
        "progress",
        "logging",
        "sampling",
        "elicitation",
        "roots",
        "resources",
        "subscribe",
        "templates",
        "prompts",
        "completion",
        "list_changed",
        "cancellation",
    }
)
"""Every scenario; the fixture servers written for this suite offer all of them."""

CONFORMANCE_NAMES = (
    ("text", "test_simple_text"),
    ("image", "test_image_content"),
    ("audio", "test_audio_content"),
    ("embedded", "test_embedded_resource"),
    ("multiple", "test_multiple_content_types"),
    ("structured", "structured_add"),
    ("schema2020", "json_schema_2020_12_tool"),
    ("error", "test_error_handling"),
    ("progress", "test_tool_with_progress"),
    ("logging", "test_tool_with_logging"),
    ("sampling", "test_sampling"),
    ("elicitation", "test_elicitation"),
    ("roots", "list_client_roots"),
    ("list_changed", "test_dynamic_tool"),
    ("tool_change", "test_trigger_tool_change"),
    ("resource_update", "test_trigger_resource_update"),
    ("slow", "test_tool_with_progress"),
    ("static", "test://static-text"),
    ("binary", "test://static-binary"),
    ("watched", "test://watched-resource"),
    ("template", "test://template/{id}/data"),
    ("template_uri", "test://template/42/data"),
    ("prompt", "test_simple_prompt"),
    ("prompt_args", "test_prompt_with_arguments"),
    ("prompt_embedded", "test_prompt_with_embedded_resource"),
    ("prompt_image", "test_prompt_with_image"),
)

FASTMCP_NAMES = (
    ("text", "simple_text"),
    ("image", "image_content"),
    ("audio", "audio_content"),
    ("embedded", "embedded_resource"),
    ("multiple", "multiple_content"),
    ("structured", "structured_add"),
    ("error", "failing"),
    ("progress", "with_progress"),
    ("logging", "with_logging"),
    ("sampling", "sampling"),
    ("elicitation", "elicitation"),
    ("roots", "client_roots"),
    ("list_changed", "tools_changed"),
    ("tool_change", "tools_changed"),
    ("slow", "with_progress"),
    ("static", "test://static-text"),
    ("binary", "test://static-binary"),
    ("template", "test://template/{id}/data"),
    ("template_uri", "test://template/42/data"),
    ("prompt", "simple_prompt"),
    ("prompt_args", "prompt_with_arguments"),
    ("prompt_embedded", "prompt_with_embedded_resource"),
    ("prompt_image", "prompt_with_image"),
)

FASTMCP_SMOKE = Smoke(
    tool="simple_text",
    arguments={},
    resource="test://static-text",
    prompt="prompt_with_arguments",
    prompt_arguments={"arg1": "one", "arg2": "two"},
)

FIXTURE_SMOKE = Smoke(
    tool="test_simple_text",
    arguments={},
    resource="test://static-text",
    prompt="test_prompt_with_arguments",
    prompt_arguments={"arg1": "one", "arg2": "two"},
)


def fixture_commands(*program: str, stdio: bool = True) -> dict[str, tuple[str, ...] | None]:
    """A fixture's three launches: over stdio (unless ``stdio`` is False), over HTTP answering
    with SSE streams, and over HTTP answering with plain JSON."""
    return {
        "stdio": (*program, "--transport", "stdio") if stdio else None,
        "http": (*program, "--port", "{port}"),
        "http_json": (*program, "--port", "{port}", "--json-response"),
    }


TS_NAMES = (
    *FASTMCP_NAMES,
    ("watched", "test://watched-resource"),
    ("resource_update", "resource_updated"),
)

WORKDIR = "{workdir}"
"""Placeholder for the suite's session directory (files, the git repository, memory files)."""

SERVERS: list[ServerSpec] = [
    ServerSpec(
        name="sdk",
        **fixture_commands(PY, SDK_FIXTURE),
        scenarios=FULL,
        names=CONFORMANCE_NAMES,
        smoke=FIXTURE_SMOKE,
    ),
    ServerSpec(
        name="fastmcp",
        **fixture_commands(PY, FASTMCP_FIXTURE),
        scenarios=FULL - {"subscribe"},  # FastMCP 4 offers no resources/subscribe
        names=FASTMCP_NAMES,
        smoke=FASTMCP_SMOKE,
    ),
    ServerSpec(
        name="ts",
        **fixture_commands(node(), TS_HANDSHAKE),
        scenarios=FULL,
        names=TS_NAMES,
        smoke=FASTMCP_SMOKE,
    ),
    ServerSpec(
        name="tsdual",  # SDK 1.32 has no 2026-07-28: the fixture adds the stateless path
        **fixture_commands(node(), TS_DUAL, stdio=False),
        scenarios=FULL,
        names=TS_NAMES,
        smoke=FASTMCP_SMOKE,
    ),
    ServerSpec(
        name="everything",
        stdio=(node(), str(JS_BIN / "mcp-server-everything"), "stdio"),
        http=(node(), str(JS_BIN / "mcp-server-everything"), "streamableHttp"),
        scenarios=frozenset(
            {"startup", "list", "everything", "everything_resources", "everything_prompts"}
        ),
        smoke=Smoke(
            tool="echo",
            arguments={"message": "hi"},
            resource="demo://resource/static/document/architecture.md",
            prompt="simple-prompt",
        ),
    ),
    ServerSpec(
        name="filesystem",
        stdio=(node(), str(JS_BIN / "mcp-server-filesystem"), f"{WORKDIR}/files"),
        scenarios=frozenset({"startup", "list", "filesystem"}),
        smoke=Smoke(tool="list_allowed_directories", arguments={}),
    ),
    ServerSpec(
        name="memory",
        stdio=(node(), str(JS_BIN / "mcp-server-memory")),
        env=(("MEMORY_FILE_PATH", f"{WORKDIR}/memory.jsonl"),),
        scenarios=frozenset({"startup", "list", "memory"}),
        smoke=Smoke(tool="read_graph", arguments={}),
    ),
    ServerSpec(
        name="time",
        stdio=(str(BIN_DIR / "mcp-server-time"), "--local-timezone", "UTC"),
        bare=True,
        scenarios=frozenset({"startup", "list", "time"}),
        smoke=Smoke(
            tool="convert_time",
            arguments={"source_timezone": "UTC", "time": "12:00", "target_timezone": "UTC"},
        ),
    ),
    ServerSpec(
        name="git",
        stdio=(str(BIN_DIR / "mcp-server-git"), "--repository", f"{WORKDIR}/repo"),
        scenarios=frozenset({"startup", "list", "git"}),
        smoke=Smoke(tool="git_status", arguments={"repo_path": f"{WORKDIR}/repo"}),
    ),
    ServerSpec(
        name="fetch",
        stdio=(str(BIN_DIR / "mcp-server-fetch"), "--ignore-robots-txt"),
        scenarios=frozenset({"startup", "list", "fetch"}),
    ),
]
"""The matrix, in run order (one server's processes live at a time)."""
