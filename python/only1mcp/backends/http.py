"""A Streamable HTTP MCP server reached through a pooled httpx client.

A handshake-era server gets one MCP session per backend, shared by every client session (ids
are backend-local, as on stdio). Responses arrive as a JSON body or as an SSE stream that ends
with the response; other messages on that stream go to ``on_message``. A 404 on our session id
means the server forgot it: re-initialize once and resend. A 2026-07-28 server gets no session:
each request carries its own headers, and an error answer is a JSON-RPC frame whatever its HTTP
status (400 for invalid params, 404 for an unknown method).
"""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import orjson
from httpx_sse import EventSource

from only1mcp._core import split_response
from only1mcp.backends.base import (
    STREAM_BREAK,
    Backend,
    Headers,
    MessageHandler,
    Sink,
    cancelled_by_client,
    log,
)
from only1mcp.config import HttpServerConfig
from only1mcp.errors import BackendError
from only1mcp.protocol.jsonrpc import json_values
from only1mcp.protocol.revisions import LATEST_HANDSHAKE

ACCEPT = "application/json, text/event-stream"
MAX_RESUMES = 5


class HttpBackend(Backend):
    streams_per_request = True

    def __init__(
        self, name: str, config: HttpServerConfig, on_message: MessageHandler | None = None
    ) -> None:
        super().__init__(name, config.timeout, on_message)
        self.config = config
        self.protocol = config.protocol
        self.session_id: str | None = None
        self._client: httpx.AsyncClient | None = None
        self._calls: dict[int, asyncio.Future[bytes]] = {}  # in flight, for abandon()
        self._abandoned: set[int] = set()

    async def connect(self) -> None:
        self.session_id = None
        if self._client is None:
            limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
            self._client = httpx.AsyncClient(headers=self.config.headers, limits=limits)

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": ACCEPT, "Content-Type": "application/json"}
        if self.modern:
            headers["MCP-Protocol-Version"] = self.version
        elif self.session_id:
            headers["Mcp-Session-Id"] = self.session_id
            headers["MCP-Protocol-Version"] = str(
                self.init_result.get("protocolVersion", LATEST_HANDSHAKE)
            )
        return headers

    async def send_request(
        self,
        frame: bytes,
        req_id: int,
        method: str,
        timeout: float,
        sink: Sink | None = None,
        headers: Headers = None,
    ) -> bytes:
        call = asyncio.ensure_future(self._exchange(frame, req_id, method, sink, headers))
        self._calls[req_id] = call
        try:
            return await asyncio.wait_for(call, timeout)
        except TimeoutError as exc:
            raise self.timeout_error(method, timeout) from exc
        except asyncio.CancelledError:
            if call.cancelled() and req_id in self._abandoned:
                raise cancelled_by_client() from None
            raise
        finally:
            self._calls.pop(req_id, None)
            self._abandoned.discard(req_id)

    def abandon(self, req_id: int) -> None:
        call = self._calls.get(req_id)
        if call is not None:
            self._abandoned.add(req_id)
            call.cancel()

    async def _exchange(
        self, frame: bytes, req_id: int, method: str, sink: Sink | None, headers: Headers
    ) -> bytes:
        response = await self._post(frame, headers)
        if response.status_code == 404 and self.session_id and method != "initialize":
            await response.aclose()
            log.info("server %r forgot our session; re-initializing", self.name)
            self.session_id = None
            await self.handshake()
            response = await self._post(frame)
        try:
            if headers is not None and response.status_code >= 400:
                return await self._rpc_error(response)
            return await self._read_response(response, req_id, sink)
        except httpx.HTTPError as exc:  # the server went away mid-answer
            raise BackendError(f"server {self.name!r} broke off its answer: {exc!r}") from exc
        finally:
            await response.aclose()

    async def _rpc_error(self, response: httpx.Response) -> bytes:
        """A 2026 error answer: the JSON-RPC error in the body (any other body is a failure)."""
        body = await response.aread()
        try:
            msg = orjson.loads(body)
        except orjson.JSONDecodeError:
            msg = None
        if not isinstance(msg, dict) or not isinstance(msg.get("error"), dict):
            text = body[:500].decode("utf-8", "replace")
            raise BackendError(f"server {self.name!r} answered HTTP {response.status_code}: {text}")
        return body

    async def _post(self, frame: bytes, extra: Headers = None) -> httpx.Response:
        if self._client is None:
            raise self.down_error()
        headers = self._headers()
        if extra is not None:
            headers.update(extra)
        request = self._client.build_request(
            "POST", self.config.url, content=frame, headers=headers, timeout=None
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            self.mark_down(f"unreachable: {exc!r}")
            self.schedule_restart()
            raise BackendError(f"server {self.name!r} is unreachable: {exc}") from exc
        if sid := response.headers.get("mcp-session-id"):
            self.session_id = sid
        return response

    async def _read_response(
        self, response: httpx.Response, req_id: int, sink: Sink | None
    ) -> bytes:
        if response.status_code >= 400:
            body = (await response.aread())[:500].decode("utf-8", "replace")
            raise BackendError(f"server {self.name!r} answered HTTP {response.status_code}: {body}")
        content_type = response.headers.get("content-type", "")
        if not content_type.startswith("text/event-stream"):
            return await self._json_answer(await response.aread(), req_id, sink)
        try:
            for _ in range(MAX_RESUMES):
                last_id = ""
                async for event in EventSource(response).aiter_sse():
                    last_id = event.id or last_id
                    frame = event.data.encode()
                    if frame and await self._is_answer(frame, req_id, sink):
                        return frame
                if not last_id or not self.session_id:
                    break
                # The server closed the stream mid-request (SEP-1699): tell the client's side
                # (STREAM_BREAK), then resume with GET + Last-Event-ID where it left off.
                if sink is not None:
                    await sink(STREAM_BREAK)
                await response.aclose()
                response = await self._resume(last_id)
        finally:
            await response.aclose()
        raise BackendError(f"server {self.name!r} closed the stream without a response")

    async def _json_answer(self, body: bytes, req_id: int, sink: Sink | None) -> bytes:
        """A JSON answer is relayed as bytes, so it must be exactly our response. A body with
        the request's other messages written before the response (frames back to back, as an
        SSE stream would carry them) is split like one; anything else is the server's fault,
        said as such (it used to reach the id rewrite and end in a 500)."""
        with contextlib.suppress(ValueError):
            msg_id, _, is_response = split_response(body)
            if is_response and msg_id == req_id:
                return body
        for frame in json_values(body):
            if await self._is_answer(frame, req_id, sink):
                return frame
        raise BackendError(
            f"server {self.name!r} answered with a JSON body that is not the response to our "
            f"request: {body[:200].decode('utf-8', 'replace')!r}"
        )

    async def _resume(self, last_event_id: str) -> httpx.Response:
        assert self._client is not None
        headers = {**self._headers(), "Accept": "text/event-stream", "Last-Event-ID": last_event_id}
        request = self._client.build_request("GET", self.config.url, headers=headers, timeout=None)
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise BackendError(f"server {self.name!r} could not resume its stream: {exc}") from exc
        if response.status_code >= 400:
            await response.aclose()
            raise BackendError(
                f"server {self.name!r} refused to resume (HTTP {response.status_code})"
            )
        return response

    async def _is_answer(self, frame: bytes, req_id: int, sink: Sink | None) -> bool:
        try:
            msg_id, method, is_response = split_response(frame)
        except ValueError:
            log.warning("server %r sent a non-JSON SSE event: %.200r", self.name, frame)
            return False
        if is_response:
            return msg_id == req_id
        if method is None:
            pass
        elif sink is not None:
            await sink(frame)
        elif self.on_message is not None:
            await self.on_message(self, frame)
        return False

    async def notify(self, frame: bytes) -> None:
        response = await self._post(frame)
        await response.aclose()

    async def disconnect(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        if self.session_id:
            # Ending our session is a courtesy; a dead server must not delay shutdown.
            with contextlib.suppress(httpx.HTTPError):
                await client.delete(self.config.url, headers=self._headers(), timeout=2.0)
        self.session_id = None
        await client.aclose()
