"""Micro-benchmarks of the product's per-request Python work on the tools/call hot path.

Each benchmark runs its step ``BATCH`` times per round, so the reported time / 1000 is the
cost of one request in that step. From the inside out:

* ``jsonrpc.parse`` + ``check_message`` of a tools/call body (the front's decode),
* ``Catalog.lookup`` of an exposed name among 100 servers' tools (the router's resolve),
* the forwarded frame's ``orjson.dumps`` (what the router writes to the pipe),
* ``FrameReader.feed`` + ``split_response`` + ``rewrite_id`` of a typical echo response line
  (what the stdio reader and the router do with the answer),
* ``Router.handle`` of tools/list over 100 servers' tools (the merged, cached list),
* ``Router.handle`` of tools/call against a stub backend that answers through a future, as
  the stdio reader would (router + backend bookkeeping, no I/O),
* the whole ``POST /mcp`` through the ASGI endpoint with that stub backend, from a handshake
  session and from a 2026-07-28 client (the stateless straight path), next to the
  ceiling app's handler (loadtests/ceiling_app.py) on the same request: the difference is
  what the product's Python costs per call beyond the minimum a Python front must do.

Run with ``pytest benches/test_hot_paths.py --benchmark-only`` (part of ``make bench``).
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import orjson
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from only1mcp._core import FrameReader, rewrite_id, split_response
from only1mcp.audit import AuditLog
from only1mcp.backends.base import BackendState, Outbound, Wiring
from only1mcp.backends.server import ServerBackend
from only1mcp.catalog import Catalog
from only1mcp.config import Config, ServerConfig
from only1mcp.front.http import McpEndpoint
from only1mcp.front.origin import OriginPolicy
from only1mcp.gateway import Gateway
from only1mcp.protocol import jsonrpc
from only1mcp.router import Router
from only1mcp.stateless import StatelessService

BATCH = 1_000
SERVERS = 100
ROOT = Path(__file__).resolve().parents[1]

CALL = {
    "jsonrpc": "2.0",
    "id": 1000000042,
    "method": "tools/call",
    "params": {"name": "bench__echo", "arguments": {"text": "hello", "n": 42}},
}
CALL_BODY = orjson.dumps(CALL)
ECHO_RESULT = {"content": [{"type": "text", "text": '{"text":"hello","n":42}'}], "isError": False}
RESPONSE_LINE = orjson.dumps({"jsonrpc": "2.0", "id": 7, "result": ECHO_RESULT})
TOOL = {
    "name": "echo",
    "description": "Return the call's arguments as text.",
    "inputSchema": {"type": "object", "additionalProperties": True},
}
HEADERS = [
    (b"host", b"127.0.0.1:8765"),
    (b"content-type", b"application/json"),
    (b"accept", b"application/json, text/event-stream"),
    (b"content-length", str(len(CALL_BODY)).encode()),
]


def batch(fn: Callable[[], Any]) -> Callable[[], None]:
    def run() -> None:
        for _ in range(BATCH):
            fn()

    return run


# ------------------------------------------------------------------- pure steps


@pytest.mark.benchmark(group="hot path: decode tools/call x1000")
def test_parse_and_check(benchmark: BenchmarkFixture) -> None:
    def step() -> None:
        jsonrpc.check_message(jsonrpc.parse(CALL_BODY))

    assert jsonrpc.check_message(jsonrpc.parse(CALL_BODY))["method"] == "tools/call"
    benchmark(batch(step))


def hundred_server_catalog() -> Catalog:
    names = [f"s{i:03d}" for i in range(SERVERS)]
    catalog = Catalog(names, {n: n for n in names}, "__")
    for name in names:
        catalog.set_items(name, [TOOL, {**TOOL, "name": "other"}])
    return catalog


@pytest.mark.benchmark(group="hot path: resolve tool x1000")
def test_catalog_lookup(benchmark: BenchmarkFixture) -> None:
    catalog = hundred_server_catalog()
    entry = catalog.lookup("s050__echo")
    assert entry is not None and (entry.server, entry.name) == ("s050", "echo")
    lookup = catalog.lookup
    benchmark(batch(lambda: lookup("s050__echo")))


@pytest.mark.benchmark(group="hot path: encode forwarded frame x1000")
def test_forward_frame(benchmark: BenchmarkFixture) -> None:
    params = CALL["params"]
    assert isinstance(params, dict)

    def step() -> bytes:
        forwarded = {**params, "name": "echo"}
        return orjson.dumps(
            {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": forwarded}
        )

    assert orjson.loads(step())["params"]["name"] == "echo"
    benchmark(batch(step))


@pytest.mark.benchmark(group="hot path: response line back to the client x1000")
def test_response_line(benchmark: BenchmarkFixture) -> None:
    reader = FrameReader()
    line = RESPONSE_LINE + b"\n"

    def step() -> bytes:
        (frame,) = reader.feed(line)
        _id, _method, is_response = split_response(frame)
        assert is_response
        return rewrite_id(frame, 1000000042)

    assert orjson.loads(step())["id"] == 1000000042
    benchmark(batch(step))


# ------------------------------------------------------- router and ASGI endpoint


class StubBackend(ServerBackend):
    """Answers every request through a future resolved on the next loop turn, like the stdio
    reader does when the response line arrives; no process, no pipe. Its transport uses no
    helper of the product's transports, so it measures the router, the call guard and the
    front only."""

    def __init__(self, name: str, config: ServerConfig, wiring: Wiring | None = None) -> None:
        super().__init__(name, config, wiring)
        self.state = BackendState.READY
        self.init_result = {"capabilities": {"tools": {}}}

    async def connect(self) -> None:
        pass

    async def disconnect(self) -> None:
        pass

    async def notify(self, frame: bytes) -> None:
        pass

    def abandon(self, req_id: int) -> None:
        pass

    async def send_request(self, call: Outbound, timeout: float) -> bytes:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes] = loop.create_future()
        line = b'{"jsonrpc":"2.0","id":%d,"result":{"content":[{"type":"text","text":' % call.id
        loop.call_soon(future.set_result, line + b'"{\\"text\\":\\"hello\\",\\"n\\":42}"}]}}')
        # Like the stdio backend: a timer armed per request, cancelled when the answer comes.
        timer = loop.call_later(timeout, future.cancel)
        try:
            return await future
        finally:
            timer.cancel()


def _stub(
    name: str, config: ServerConfig, wiring: Wiring | None = None, **_: object
) -> StubBackend:
    return StubBackend(name, config, wiring)


def stub_gateway(names: tuple[str, ...] = ("bench",)) -> Gateway:
    """A gateway whose servers ``names`` are stub backends, each listing ``echo``."""
    servers = {name: {"command": "echo-backend"} for name in names}
    gateway = Gateway(Config.model_validate({"servers": servers}), create=_stub)
    for name in names:
        gateway.catalogs["tools"].set_items(name, [TOOL, {**TOOL, "name": "other"}])
    gateway.ready.set()
    return gateway


def new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run_batches(
    benchmark: BenchmarkFixture, one: Callable[[], Awaitable[Any]]
) -> None:  # a loop per benchmark; BATCH sequential requests per round
    loop = new_loop()

    async def many() -> None:
        for _ in range(BATCH):
            await one()

    def run() -> None:
        coro: Coroutine[Any, Any, None] = many()
        loop.run_until_complete(coro)

    try:
        benchmark(run)
    finally:
        loop.close()


@pytest.mark.benchmark(group="hot path: Router.handle tools/call (stub backend) x1000")
def test_router_tools_call(benchmark: BenchmarkFixture) -> None:
    gateway = stub_gateway()
    router = Router(gateway)
    session = gateway.sessions.create()
    msg = jsonrpc.check_message(jsonrpc.parse(CALL_BODY))

    async def one() -> bytes | None:
        return await router.handle(session, msg)

    answer = asyncio.run(one())
    assert answer is not None and orjson.loads(answer)["result"]["content"][0]["type"] == "text"
    run_batches(benchmark, one)


@pytest.mark.benchmark(group="hot path: cached tools/list, 100 servers (Router.handle) x1000")
def test_cached_tools_list(benchmark: BenchmarkFixture) -> None:
    gateway = stub_gateway(tuple(f"s{i:03d}" for i in range(SERVERS)))
    router = Router(gateway)
    session = gateway.sessions.create()
    msg = jsonrpc.check_message(jsonrpc.parse(b'{"jsonrpc":"2.0","id":5,"method":"tools/list"}'))

    async def one() -> bytes | None:
        return await router.handle(session, msg)

    answer = asyncio.run(one())
    assert answer is not None and orjson.loads(answer)["result"]["tools"], answer[:300]
    run_batches(benchmark, one)


class AsgiCall:
    """One POST /mcp through an ASGI app, with in-memory receive/send."""

    def __init__(self, app: Callable[..., Awaitable[None]], headers: list[tuple[bytes, bytes]]):
        self.app = app
        self.scope = {
            "type": "http",
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/mcp",
            "raw_path": b"/mcp",
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8765),
        }
        self.message = {"type": "http.request", "body": CALL_BODY, "more_body": False}
        self.sent: list[Any] = []

    async def receive(self) -> dict[str, Any]:
        return self.message

    async def send(self, message: Any) -> None:
        self.sent.append(message)

    async def __call__(self) -> None:
        self.sent.clear()
        await self.app(self.scope, self.receive, self.send)

    def check(self) -> None:
        assert self.sent[0]["status"] == 200, self.sent
        body = orjson.loads(self.sent[1]["body"])
        assert body["id"] == CALL["id"] and "result" in body, body


def mcp_endpoint(gateway: Gateway, router: Router, stateless: StatelessService) -> McpEndpoint:
    """The handshake endpoint as the HTTP front builds it (no audit log, no gate)."""
    origins = OriginPolicy([], "127.0.0.1")
    return McpEndpoint(gateway, router, stateless, origins, AuditLog(gateway.config.audit))


def session_headers(session_id: str) -> list[tuple[bytes, bytes]]:
    return [
        *HEADERS,
        (b"mcp-session-id", session_id.encode()),
        (b"mcp-protocol-version", b"2025-11-25"),
    ]


@pytest.mark.benchmark(group="hot path: POST /mcp tools/call in process x1000")
def test_endpoint_tools_call(benchmark: BenchmarkFixture) -> None:
    gateway = stub_gateway()
    router = Router(gateway)
    stateless = StatelessService(gateway, router)
    endpoint = mcp_endpoint(gateway, router, stateless)
    session = gateway.sessions.create()
    call = AsgiCall(endpoint, session_headers(session.id))
    asyncio.run(call())
    call.check()
    run_batches(benchmark, call)


@pytest.mark.benchmark(group="hot path: POST /mcp tools/call in process x1000")
def test_endpoint_tools_call_auth(benchmark: BenchmarkFixture) -> None:
    """The handshake call with auth on: a JWT bearer (HS256) verified once, then found by its
    hash in the token cache (issue 13: at most 15% over the same call without auth)."""
    import jwt

    from only1mcp.auth.factory import build_authenticator, build_metadata
    from only1mcp.auth.middleware import AuthMiddleware
    from only1mcp.config.auth import AuthConfig

    secret, resource = "bench-secret-0123456789abcdef0123456789", "http://127.0.0.1:8765/mcp"
    auth = AuthConfig.model_validate(
        {"modes": ["jwt"], "jwt": {"issuer": "bench", "secret": secret, "algorithms": ["HS256"]}}
    )
    claims = {"iss": "bench", "sub": "b", "aud": resource, "exp": 4_000_000_000}
    bearer = b"Bearer " + jwt.encode(claims, secret, "HS256").encode()
    gateway = stub_gateway()
    router = Router(gateway)
    stateless = StatelessService(gateway, router)
    endpoint = mcp_endpoint(gateway, router, stateless)
    guarded = AuthMiddleware(
        endpoint,
        build_authenticator(auth, resource, ""),
        build_metadata(auth, resource, []),
    )
    # The session is bound to the token's principal, as an initialize with it would bind it.
    headers = [(b"authorization", bearer)]
    principal = asyncio.run(
        guarded.authenticator.authenticate({"query_string": b"", "headers": headers})
    )
    session = gateway.sessions.create(principal)
    call = AsgiCall(guarded, [*session_headers(session.id), *headers])
    asyncio.run(call())
    call.check()
    run_batches(benchmark, call)


STATELESS_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "only1mcp-loadtest", "version": "1.0"},
}
STATELESS_BODY = orjson.dumps({**CALL, "params": {**CALL["params"], "_meta": STATELESS_META}})
STATELESS_HEADERS = [
    *HEADERS[:3],
    (b"content-length", str(len(STATELESS_BODY)).encode()),
    (b"mcp-protocol-version", b"2026-07-28"),
    (b"mcp-method", b"tools/call"),
    (b"mcp-name", b"bench__echo"),
]


@pytest.mark.benchmark(group="hot path: POST /mcp tools/call in process x1000")
def test_endpoint_tools_call_2026(benchmark: BenchmarkFixture) -> None:
    """The same call from a 2026-07-28 client (``_meta`` envelope, routing headers): the
    stateless straight path and the bridge to the handshake-era server, no session."""
    gateway = stub_gateway()
    router = Router(gateway)
    stateless = StatelessService(gateway, router)
    endpoint = mcp_endpoint(gateway, router, stateless)
    call = AsgiCall(endpoint, STATELESS_HEADERS)
    call.message = {"type": "http.request", "body": STATELESS_BODY, "more_body": False}
    asyncio.run(call())
    call.check()
    assert orjson.loads(call.sent[1]["body"])["result"]["resultType"] == "complete"
    run_batches(benchmark, call)


def load_ceiling_app() -> Any:
    loadtests = str(ROOT / "loadtests")
    if loadtests not in sys.path:  # its sibling raw_asgi.py, as when run as a script
        sys.path.insert(0, loadtests)
    spec = importlib.util.spec_from_file_location("ceiling_app", ROOT / "loadtests/ceiling_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.benchmark(group="hot path: POST /mcp tools/call in process x1000")
def test_ceiling_tools_call(benchmark: BenchmarkFixture) -> None:
    ceiling = load_ceiling_app()
    ceiling.SESSIONS.add(b"bench-session")
    call = AsgiCall(ceiling.app, session_headers("bench-session"))
    asyncio.run(call())
    call.check()
    run_batches(benchmark, call)
