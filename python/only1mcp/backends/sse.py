"""An MCP server reached over the HTTP+SSE transport of MCP 2024-11-05 (``transport: sse``).

``GET <url>`` opens one long-lived SSE stream; its first event, ``endpoint``, names the URL to
POST messages to (resolved against ``url``, and refused unless on the same origin: our
configured headers must not go to another host). Each POST carries one message and gets a bare
``202``; every answer arrives on the stream as a ``message`` event, matched to its request by
the backend-local id as on a stdio pipe (:mod:`~only1mcp.backends.multiplexed`); everything
else on the stream (notifications, server→client requests) goes to ``on_message``. One stream
and one MCP session serve every client session. When the stream drops, pending requests fail
and the backend reconnects with the usual backoff (a new stream is a new session: initialize
again).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from urllib.parse import urljoin, urlsplit

import httpx
from httpx_sse import EventSource

from only1mcp.backends.base import Wiring, log
from only1mcp.backends.multiplexed import MultiplexedBackend, Pending
from only1mcp.backends.server import TransportConfig
from only1mcp.config import HttpServerConfig, Protocol
from only1mcp.errors import BackendError

POST_HEADERS = {"Content-Type": "application/json"}


class SseBackend(MultiplexedBackend):
    def __init__(self, name: str, config: HttpServerConfig, wiring: Wiring | None = None) -> None:
        super().__init__(name, config, wiring)
        self.config = config
        self.endpoint: str | None = None  # where messages are POSTed, once the stream said
        self._client: httpx.AsyncClient | None = None
        self._reader: asyncio.Task[None] | None = None

    def era_setting(self, config: TransportConfig) -> Protocol:
        """The 2024-11-05 transport carries the handshake era only: no discover probe."""
        return Protocol.HANDSHAKE

    async def connect(self) -> None:
        await self._stop_reading()
        # A new stream is a new session: requests sent in the old one will not be answered.
        self.fail(self._pending)
        self._pending = {}
        if self._client is None:
            self._client = httpx.AsyncClient(headers=self.config.headers)
        response = await self._open_stream(self._client)
        endpoint: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._reader = asyncio.ensure_future(self._read(response, endpoint, self._pending))
        try:
            data = await asyncio.wait_for(endpoint, self.timeout)
        except TimeoutError:
            raise BackendError(
                f"server {self.name!r} sent no endpoint event within {self.timeout:g}s"
            ) from None
        self.endpoint = self._resolve(data)

    async def _open_stream(self, client: httpx.AsyncClient) -> httpx.Response:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        # No read timeout: the stream is quiet between messages for as long as it likes.
        timeout = httpx.Timeout(self.timeout, read=None)
        request = client.build_request("GET", self.config.url, headers=headers, timeout=timeout)
        try:
            response = await client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise BackendError(f"server {self.name!r} is unreachable: {exc}") from exc
        content_type = response.headers.get("content-type", "")
        if response.status_code != 200 or not content_type.startswith("text/event-stream"):
            body = (await response.aread())[:300].decode("utf-8", "replace")
            await response.aclose()
            raise BackendError(
                f"server {self.name!r} answered GET with HTTP {response.status_code} "
                f"({content_type or 'no content type'}), not an SSE stream: {body}"
            )
        return response

    def _resolve(self, data: str) -> str:
        endpoint = urljoin(self.config.url, data.strip())
        ours, theirs = urlsplit(self.config.url), urlsplit(endpoint)
        if (ours.scheme, ours.netloc) != (theirs.scheme, theirs.netloc):
            raise BackendError(
                f"server {self.name!r} named a message endpoint on another origin; refused"
            )
        return endpoint

    async def _read(
        self,
        response: httpx.Response,
        endpoint: asyncio.Future[str],
        pending: Pending,
    ) -> None:
        reason = "it closed its SSE stream"
        try:
            async for event in EventSource(response).aiter_sse():
                if event.event == "endpoint":
                    if not endpoint.done():
                        endpoint.set_result(event.data)
                elif event.event == "message" and event.data:
                    self.dispatch(event.data.encode())
        except httpx.HTTPError as exc:
            reason = f"its SSE stream broke: {exc!r}"
        finally:
            await response.aclose()
        self._lost(reason, endpoint, pending)

    def _lost(self, reason: str, endpoint: asyncio.Future[str], pending: Pending) -> None:
        """The stream ended under us: fail what waits on it, then reconnect."""
        if not endpoint.done():
            endpoint.set_exception(BackendError(f"server {self.name!r}: {reason} at once"))
            return  # connect() is waiting on it and reports the failure
        self.endpoint = None
        self.mark_down(reason)
        log.warning("server %r is down: %s", self.name, reason)
        self.fail(pending)
        self.supervisor.schedule()

    def send_frame(self, frame: bytes) -> Awaitable[None]:
        return self._post(frame)

    async def notify(self, frame: bytes) -> None:
        await self._post(frame)

    async def _post(self, frame: bytes) -> None:
        client, endpoint = self._client, self.endpoint
        if client is None or endpoint is None:
            raise self.down_error()
        try:
            response = await client.post(
                endpoint, content=frame, headers=POST_HEADERS, timeout=self.timeout
            )
        except httpx.HTTPError as exc:
            self.lost(f"unreachable: {exc!r}")
            raise BackendError(f"server {self.name!r} is unreachable: {exc}") from exc
        if response.status_code == 404:
            # The server no longer knows our session (it restarted): start a new one.
            self.lost("it forgot our session")
        if response.status_code >= 400:
            body = response.text[:300]
            raise BackendError(f"server {self.name!r} answered HTTP {response.status_code}: {body}")

    async def _stop_reading(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None and not reader.done():
            reader.cancel()
            await asyncio.wait([reader])

    async def disconnect(self) -> None:
        await self._stop_reading()
        self.endpoint = None
        self.fail(self._pending)
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(httpx.HTTPError):
                await client.aclose()
