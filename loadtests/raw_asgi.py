"""What the raw ASGI servers of the load tests share (``ceiling_app.py``, ``http_echo_backend.py``):
answering with one body, JSON-RPC errors, and uvicorn started as lean as it goes."""

from __future__ import annotations

import argparse

import orjson
import uvicorn

JSON = [(b"content-type", b"application/json")]


async def respond(send, status: int, body: bytes = b"", headers=JSON) -> None:  # type: ignore[no-untyped-def]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def rpc_error(req_id: object, code: int, message: str) -> bytes:
    return orjson.dumps(
        {"jsonrpc": "2.0", "id": req_id, "error": {"code": code, "message": message}}
    )


def arguments(description: str | None) -> argparse.ArgumentParser:
    """A server's command line: ``--port`` (required) and ``--host`` (loopback)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    return parser


def run(app, host: str, port: int) -> None:  # type: ignore[no-untyped-def]
    """Serve ``app`` with uvloop and httptools, access log off: the fastest uvicorn there is,
    so that a measurement sees what is in front of it, not this server."""
    uvicorn.run(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
    )
