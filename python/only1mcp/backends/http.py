"""A Streamable HTTP MCP server, reached through a keep-alive connection pool (:mod:`.http1`).

A handshake-era server gets one MCP session per backend, shared by every client session (ids
are backend-local, as on stdio). Responses arrive as a JSON body or as an SSE stream that ends
with the response; other messages on that stream go to ``on_message``. A 404 on our session id
means the server forgot it: re-initialize once and resend. A handshake-era session also follows
the server's standalone GET stream, where a server sends what belongs to no request (a
``roots/list`` of its own, list changes): to ``on_message``, as a stdio server's unsolicited
frames; it is reopened with ``Last-Event-ID`` when the server ends it (405: the server offers
none). A 2026-07-28 server gets no session:
each request carries its own headers, and an error answer is a JSON-RPC frame whatever its HTTP
status (400 for invalid params, 404 for an unknown method).
"""

from __future__ import annotations

import asyncio
import contextlib

import orjson

from only1mcp._core import split_response
from only1mcp.backends.base import (
    STREAM_BREAK,
    Headers,
    Outbound,
    Sink,
    Wiring,
    cancelled_by_client,
    log,
)
from only1mcp.backends.credentials import ClientCredentials
from only1mcp.backends.eventstream import EventParser
from only1mcp.backends.http1 import Pool, Response
from only1mcp.backends.server import ServerBackend
from only1mcp.config import HttpServerConfig
from only1mcp.errors import BackendError
from only1mcp.protocol.jsonrpc import json_values
from only1mcp.protocol.revisions import LATEST_HANDSHAKE

ACCEPT = "application/json, text/event-stream"
MAX_RESUMES = 5
# Connections kept to one server at most: the calls in flight to it beyond this queue.
MAX_CONNECTIONS = 64
TIMED_OUT, ABANDONED = "timed out", "abandoned"
# The standalone stream: seconds before it is reopened (unless the server says ``retry``), and
# how many openings in a row may fail or bring nothing before we stop (the next initialize
# starts it again).
REOPEN_DELAY = 1.0
MAX_BARREN_OPENINGS = 5


class HttpBackend(ServerBackend):
    streams_per_request = True

    def __init__(self, name: str, config: HttpServerConfig, wiring: Wiring | None = None) -> None:
        super().__init__(name, config, wiring)
        self.config = config
        self.session_id: str | None = None
        self._client: Pool | None = None
        self._calls: dict[int, asyncio.Task[object]] = {}  # in flight: the tasks waiting
        self._stopped: dict[int, str] = {}  # calls cancelled by us: TIMED_OUT or ABANDONED
        self._standalone: asyncio.Task[None] | None = None  # following the GET stream
        # This backend's own OAuth token (never a client's): see backends/credentials.py.
        self._oauth = ClientCredentials.of(name, config.oauth) if config.oauth else None
        self._post_key: tuple[object, ...] = ()
        self._post_base: dict[str, str] = {}
        # The loop connect() ran in, kept for the calls: asyncio's current_task() and
        # get_running_loop() each make a getpid() system call (their check for a fork).
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def busy(self) -> int:
        return len(self._calls)

    async def connect(self) -> None:
        self.session_id = None
        self._loop = asyncio.get_running_loop()
        if self._client is None:
            self._client = Pool(self.config.url, self.config.headers, MAX_CONNECTIONS)

    def _headers(self) -> dict[str, str]:
        headers = self._session_headers()
        if self._oauth is not None and self._oauth.current is not None:
            headers["Authorization"] = self._oauth.current
        return headers

    def _post_headers(self) -> dict[str, str]:
        """A POST's headers (not to be changed): made again only when what they are made of
        changed (compared by value: a tuple of the same objects is equal at once), not for
        every call."""
        token = self._oauth.current if self._oauth is not None else None
        key = (self.session_id, token, self.stateless, self.version, self.init_result)
        if key != self._post_key:
            self._post_key = key
            self._post_base = {"Accept": ACCEPT, "Content-Type": "application/json"}
            self._post_base.update(self._headers())
        return self._post_base

    def _session_headers(self) -> dict[str, str]:
        if self.stateless:
            return {"MCP-Protocol-Version": self.version}
        if self.session_id:
            version = self.init_result.get("protocolVersion", LATEST_HANDSHAKE)
            return {"Mcp-Session-Id": self.session_id, "MCP-Protocol-Version": str(version)}
        return {}

    async def send_request(self, call: Outbound, timeout: float) -> bytes:
        # The exchange runs in the caller's task (no task of its own, no wait_for: they were 7%
        # of a relayed call's CPU in a profile); a timer or abandon() cancels that task, and the
        # cancellation is taken back here, as asyncio.timeout() does, unless someone else
        # asked for one too.
        req_id = call.id
        loop = self._loop or asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        assert task is not None
        self._calls[req_id] = task
        timer = loop.call_later(timeout, self._stop, req_id, TIMED_OUT)
        try:
            return await self._exchange(call.frame, req_id, call.method, call.sink, call.headers)
        except asyncio.CancelledError:
            why = self._stopped.pop(req_id, None)
            if why is None or task.uncancel() > 0:
                raise
            if why is TIMED_OUT:
                raise self.timeout_error(call.method, timeout) from None
            raise cancelled_by_client() from None
        finally:
            timer.cancel()
            self._calls.pop(req_id, None)
            self._stopped.pop(req_id, None)

    def abandon(self, req_id: int) -> None:
        self._stop(req_id, ABANDONED)

    def _stop(self, req_id: int, why: str) -> None:
        task = self._calls.get(req_id)
        if task is not None and req_id not in self._stopped:
            self._stopped[req_id] = why
            task.cancel()

    async def _exchange(
        self, frame: bytes, req_id: int, method: str, sink: Sink | None, headers: Headers
    ) -> bytes:
        response = await self._post(frame, headers)
        if response.status == 404 and self.session_id and method != "initialize":
            response.close()
            log.info("server %r forgot our session; re-initializing", self.name)
            self.session_id = None
            await self.handshake()
            response = await self._post(frame)
        try:
            if headers is not None and response.status >= 400:
                return await self._rpc_error(response)
            return await self._read_response(response, req_id, sink)
        except OSError as exc:  # the server went away mid-answer
            raise BackendError(f"server {self.name!r} broke off its answer: {exc!r}") from exc
        finally:
            response.close()

    async def _rpc_error(self, response: Response) -> bytes:
        """A 2026 error answer: the JSON-RPC error in the body (any other body is a failure)."""
        body = await response.read()
        try:
            msg = orjson.loads(body)
        except orjson.JSONDecodeError:
            msg = None
        if not isinstance(msg, dict) or not isinstance(msg.get("error"), dict):
            text = body[:500].decode("utf-8", "replace")
            raise BackendError(f"server {self.name!r} answered HTTP {response.status}: {text}")
        return body

    async def _post(self, frame: bytes, extra: Headers = None) -> Response:
        if self._client is None:
            raise self.down_error()
        if self._oauth is not None:
            await self._oauth.authorization()  # renewed here; _headers() sends it
        headers = self._post_headers()
        if extra is not None:
            headers = {**headers, **extra}
        try:
            response = await self._client.request("POST", headers, frame)
        except ValueError as exc:  # a header value that cannot go on the wire
            raise BackendError(f"server {self.name!r}: {exc}") from exc
        except OSError as exc:
            self.lost(f"unreachable: {exc!r}")
            raise BackendError(f"server {self.name!r} is unreachable: {exc}") from exc
        if sid := response.headers.get("mcp-session-id"):
            self.session_id = sid
        if response.status == 401 and self._oauth is not None:
            self._oauth.drop()  # refused: the next request fetches a new token
        return response

    async def _read_response(self, response: Response, req_id: int, sink: Sink | None) -> bytes:
        if response.status >= 400:
            text = (await response.read())[:500].decode("utf-8", "replace")
            raise BackendError(f"server {self.name!r} answered HTTP {response.status}: {text}")
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            body = response.body()  # almost always complete by now: no waiting
            if body is None:
                body = await response.read()
            if _is_response_to(body, req_id):  # the common answer: exactly our response
                return body
            return await self._json_answer(body, req_id, sink)
        for _ in range(MAX_RESUMES):
            events = EventParser()
            while chunk := await response.next_chunk():
                for event in events.feed(chunk):
                    if event.data and await self._is_answer(event.data, req_id, sink):
                        return event.data
            if not events.last_id or not self.session_id:
                break
            # The server closed the stream mid-request (SEP-1699): tell the client's side
            # (STREAM_BREAK), then resume with GET + Last-Event-ID where it left off.
            if sink is not None:
                await sink(STREAM_BREAK)
            resumed = await self._resume(events.last_id)
            try:
                return await self._read_response(resumed, req_id, sink)
            finally:
                resumed.close()
        raise BackendError(f"server {self.name!r} closed the stream without a response")

    async def _json_answer(self, body: bytes, req_id: int, sink: Sink | None) -> bytes:
        """A JSON answer is relayed as bytes, so it must be exactly our response. A body with
        the request's other messages written before the response (frames back to back, as an
        SSE stream would carry them) is split like one; anything else is the server's fault,
        said as such (it used to reach the id rewrite and end in a 500). The caller saw that
        it is not exactly our response."""
        for frame in json_values(body):
            if await self._is_answer(frame, req_id, sink):
                return frame
        raise BackendError(
            f"server {self.name!r} answered with a JSON body that is not the response to our "
            f"request: {body[:200].decode('utf-8', 'replace')!r}"
        )

    async def _resume(self, last_event_id: str) -> Response:
        if self._client is None:
            raise self.down_error()
        headers = {**self._headers(), "Accept": "text/event-stream", "Last-Event-ID": last_event_id}
        try:
            response = await self._client.request("GET", headers)
        except OSError as exc:
            raise BackendError(f"server {self.name!r} could not resume its stream: {exc}") from exc
        if response.status >= 400:
            response.close()
            raise BackendError(f"server {self.name!r} refused to resume (HTTP {response.status})")
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
        elif self.wiring.on_message is not None:
            await self.wiring.on_message(self, frame)
        return False

    async def notify(self, frame: bytes) -> None:
        (await self._post(frame)).close()  # a 202: its connection is already back in the pool

    async def handshake(self) -> None:
        await super().handshake()
        if self.stateless:
            return  # a 2026 server has no session, so no standalone stream
        if self._standalone is not None:
            self._standalone.cancel()
        self._standalone = asyncio.ensure_future(self._follow(self.session_id))

    async def _follow(self, session_id: str | None) -> None:
        """Follow the standalone GET stream of session ``session_id`` while it lasts."""
        last_id, barren, delay = "", 0, REOPEN_DELAY
        while self._client is not None and self.session_id == session_id:
            headers = {**self._headers(), "Accept": "text/event-stream"}
            if last_id:
                headers["Last-Event-ID"] = last_id
            events = EventParser()
            events.last_id = last_id
            got = False
            try:
                response = await self._client.request("GET", headers)
                try:
                    if response.status != 200 or not _is_stream(response):
                        if response.status != 405:  # 405: no such stream, as the spec allows
                            log.info(
                                "server %r: no standalone stream (HTTP %s)",
                                self.name,
                                response.status,
                            )
                        return
                    while chunk := await response.next_chunk():
                        for event in events.feed(chunk):
                            got = True
                            if event.retry is not None:  # the server's, for the reopenings
                                delay = event.retry / 1000
                            if event.data:
                                self._unsolicited(event.data)
                finally:
                    response.close()
            except OSError as exc:
                log.debug("server %r: standalone stream broke: %r", self.name, exc)
            last_id = events.last_id
            barren = 0 if got else barren + 1
            if barren >= MAX_BARREN_OPENINGS:
                return
            await asyncio.sleep(delay)

    def _unsolicited(self, frame: bytes) -> None:
        try:
            _, method, _ = split_response(frame)
        except ValueError:
            log.warning("server %r sent a non-JSON SSE event: %.200r", self.name, frame)
            return
        if method is not None:  # a response has no place on this stream
            self.deliver(frame)

    async def disconnect(self) -> None:
        standalone, self._standalone = self._standalone, None
        if standalone is not None:
            standalone.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await standalone
        client, self._client = self._client, None
        self._loop = None  # a later connect() may run in another loop (tests do)
        if client is None:
            return
        if self.session_id:
            # Ending our session is a courtesy; a dead server must not delay shutdown.
            with contextlib.suppress(OSError, TimeoutError):
                response = await asyncio.wait_for(client.request("DELETE", self._headers()), 2.0)
                response.close()
        self.session_id = None
        client.close()


def _is_response_to(body: bytes, req_id: int) -> bool:
    """Whether ``body`` is one JSON-RPC response, to ``req_id`` (a structural scan, no parse)."""
    try:
        msg_id, _, is_response = split_response(body)
    except ValueError:
        return False
    return is_response and msg_id == req_id


def _is_stream(response: Response) -> bool:
    return response.headers.get("content-type", "").startswith("text/event-stream")
