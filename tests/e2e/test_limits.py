"""The front's limits on what a client may send, on a real ``only1mcp start``: body size, header
size and count, slow clients (slowloris: a request that never completes), JSON nesting.

Every test runs once per :class:`Setup` — a configuration and the headers its client must send
(the credentials, once authentication is on) — so the limits are shown to hold in front of and
behind authentication alike: add a setup to :data:`SETUPS`, the tests follow.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from .conftest import HttpAggregator, running_aggregator
from .rawwire import encode, frame_ok, raw_http

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "tiny_server.sh"
REQUEST_TIMEOUT = 1.0
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "l"}},
}


@dataclass(frozen=True)
class Setup:
    name: str
    config: dict[str, Any] = field(default_factory=dict)  # merged over the base config
    headers: dict[str, str] = field(default_factory=dict)  # what every request must carry


SETUPS = [Setup("auth off")]


@dataclass
class Front:
    agg: HttpAggregator
    setup: Setup

    @property
    def head(self) -> bytes:
        """The setup's headers as raw header lines, plus JSON and SSE accepted."""
        lines = {"content-type": "application/json", **self.headers}
        return b"".join(f"{k}: {v}\r\n".encode() for k, v in lines.items())

    @property
    def headers(self) -> dict[str, str]:
        return {"accept": "application/json, text/event-stream", **self.setup.headers}

    def session(self) -> dict[str, str]:
        answer = httpx.post(self.agg.url, json=INIT, headers=self.headers)
        assert answer.status_code == 200, answer.text
        return {**self.headers, "mcp-session-id": answer.headers["mcp-session-id"]}

    def serving(self) -> None:
        assert httpx.get(f"{self.agg.base}/healthz").status_code == 200
        assert httpx.post(self.agg.url, json=INIT, headers=self.headers).status_code == 200


@pytest.fixture(scope="module", params=SETUPS, ids=lambda s: s.name)
def front(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Front]:
    setup: Setup = request.param
    workdir = tmp_path_factory.mktemp("limits")
    config: dict[str, Any] = {
        "servers": {"tiny": {"command": "/bin/sh", "args": [str(TINY)]}},
        "front": {"request_timeout": REQUEST_TIMEOUT},
    }
    for key, value in setup.config.items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    path = workdir / "only1mcp.yaml"
    path.write_text(yaml.safe_dump(config))
    with running_aggregator(path, workdir / "only1mcp.log") as agg:
        yield Front(agg, setup)


def test_a_body_over_16_mib_is_413(front: Front) -> None:
    huge = b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"' + b"a" * (17 << 20) + b'"}}'
    answer = httpx.post(front.agg.url, content=huge, headers=front.session(), timeout=30)
    assert answer.status_code == 413
    assert frame_ok(answer.content)["error"]["code"] == -32600
    front.serving()


def test_json_nested_past_1024_levels_is_a_parse_error(front: Front) -> None:
    deep = b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":' + b"[" * 2000
    deep += b"]" * 2000 + b"}}"
    answer = httpx.post(front.agg.url, content=deep, headers=front.session())
    assert answer.status_code == 400
    assert frame_ok(answer.content)["error"]["code"] == -32700


def test_params_too_deep_to_forward_are_invalid_params(front: Front) -> None:
    nested: dict[str, Any] = {}
    for _ in range(400):
        nested = {"x": nested}
    call = {"jsonrpc": "2.0", "id": 9, "method": "tools/call"}
    call["params"] = {"name": "tiny__pid", "arguments": {"deep": nested}}
    answer = httpx.post(front.agg.url, content=encode(call), headers=front.session())
    error = frame_ok(answer.content)["error"]
    assert error["code"] == -32602 and answer.status_code == 200


@pytest.mark.parametrize(
    "extra",
    [b"x-big: " + b"a" * (128 << 10) + b"\r\n", b"".join(b"x-h%d: v\r\n" % i for i in range(300))],
    ids=["one huge header", "too many headers"],
)
def test_oversized_heads_are_431(front: Front, extra: bytes) -> None:
    answer = raw_http(front.agg.port, front.head + extra, encode(INIT))
    assert answer.status == 431
    front.serving()


def test_a_head_within_the_limits_is_served(front: Front) -> None:
    extra = b"".join(b"x-h%d: %s\r\n" % (i, b"v" * 200) for i in range(60))
    answer = raw_http(front.agg.port, front.head + extra, encode(INIT))
    assert answer.status == 200


def _silence_after(port: int, data: bytes) -> tuple[float, bytes]:
    """Send ``data`` and nothing more; how long until the server hung up, and what it said."""
    with socket.create_connection(("127.0.0.1", port), timeout=REQUEST_TIMEOUT + 10) as sock:
        sock.sendall(data)
        start = time.monotonic()
        said = b""
        while chunk := sock.recv(4096):
            said += chunk
        return time.monotonic() - start, said


@pytest.mark.parametrize(
    "sent",
    [
        b"",
        b"POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\n",
        b"POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 1000\r\n\r\n{",
    ],
    ids=["nothing", "half a head", "half a body"],
)
def test_a_client_too_slow_to_send_its_request_is_cut_off(front: Front, sent: bytes) -> None:
    waited, said = _silence_after(front.agg.port, sent)
    assert REQUEST_TIMEOUT <= waited < REQUEST_TIMEOUT + 3
    assert said.startswith(b"HTTP/1.1 408 ")
    front.serving()


def test_an_open_stream_is_not_a_slow_client(front: Front) -> None:
    session = front.session()
    head = "".join(f"{k}: {v}\r\n" for k, v in session.items() if k != "accept").encode()
    request = b"GET /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\naccept: text/event-stream\r\n" + head
    with socket.create_connection(("127.0.0.1", front.agg.port), timeout=10) as sock:
        sock.sendall(request + b"\r\n")
        opened = b""
        while b"retry: " not in opened:  # the head, then the priming event
            opened += sock.recv(4096)
        assert opened.startswith(b"HTTP/1.1 200 ")
        time.sleep(REQUEST_TIMEOUT + 1.5)  # the request was complete: no deadline applies
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(4096)  # still open: nothing to read, no end of stream
