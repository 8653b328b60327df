"""The bridge from a 2026-07-28 client to handshake-era servers: multi round-trip requests.

A handshake-era server that needs something from its client mid-call (sampling, elicitation,
roots) sends a server→client request and waits. A 2026 client cannot take such a request; it
expects an ``input_required`` result naming what is needed, and retries the same request with
``inputResponses``. So a bridged call is *parked*: the backend call keeps running in this
process, its questions are collected into one ``input_required`` result, and the client's
retry — recognised by a sealed ``requestState`` — answers them on the backend's session.

Questions that arrive together are answered together: after the first one the call waits for
a short quiet spell so concurrent questions land in one result. Each question is named by the
backend's ``_meta["io.only1mcp/inputKey"]`` hint, or ``<kind>-<n>`` in arrival order.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from only1mcp._core import rewrite_id
from only1mcp.bridge.state import TTL, StateSealer, digest, invalid_state
from only1mcp.errors import (
    METHOD_NOT_FOUND,
    InvalidParams,
    MissingCapability,
    RpcError,
)
from only1mcp.protocol import jsonrpc
from only1mcp.protocol.modern import LATEST_MODERN, LOG_LEVELS, Envelope, required_capabilities
from only1mcp.relay import CLIENT_CAPABILITY
from only1mcp.session import Session
from only1mcp.types import JsonObject, RequestId

log = logging.getLogger("only1mcp.bridge")

INPUT_KEY = "io.only1mcp/inputKey"
QUIET = 0.05  # how long the backend must stay silent before its questions go out together
QUIET_CAP = 0.25  # ... but no longer than this after the first question
MAX_PARKED = 1000  # calls waiting for their client's answers, so a flood cannot grow memory
KIND_NAMES = {"sampling/createMessage": "sampling", "elicitation/create": "elicitation"}
KIND_NAMES["roots/list"] = "roots"
# Every capability a bridged backend request may need: the bridge checks the real ones.
_RELAY_ALL: JsonObject = {"sampling": {}, "elicitation": {}, "roots": {}}
# What each of them may say that a backend can act on (2025-11-25 ClientCapabilities).
_SUB_CAPABILITIES = {
    "sampling": ("context", "tools"),
    "elicitation": ("form", "url"),
    "roots": ("listChanged",),
}
_FLAG = {"listChanged": True}  # the one sub-capability that is a boolean, not an object

# Runs one request for a bridged call: (session, message, reply) → the response frame.
Dispatch = Callable[[Session, JsonObject, Any], Awaitable[bytes | None]]


class Stream(Protocol):
    """Where the current round's notifications go (the client's open POST)."""

    async def push(self, frame: bytes) -> None: ...


@dataclass(slots=True)
class Question:
    our_id: RequestId  # the id the relay gave the backend's request
    method: str
    params: JsonObject


@dataclass
class Outcome:
    """How a round ends: the backend's answer, questions for the client, or an error."""

    answer: bytes | None = None
    questions: dict[str, Question] | None = None
    error: RpcError | None = None


@dataclass(eq=False)
class BridgedCall:
    id: str
    method: str
    target: str
    arguments: str  # digest of the request's arguments
    envelope: Envelope
    session: Session
    prefilled: dict[str, Any] = field(default_factory=dict)
    asked: dict[str, Question] = field(default_factory=dict)
    round: int = 0
    task: asyncio.Task[bytes | None] | None = None
    failure: RpcError | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    stream: Stream | None = None
    progress_token: object = None
    expiry: asyncio.TimerHandle | None = None
    _minted: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def key_for(self, method: str, params: JsonObject) -> str:
        meta = params.get("_meta")
        if isinstance(meta, dict) and isinstance(meta.get(INPUT_KEY), str):
            key: str = meta.pop(INPUT_KEY)
            if not meta:
                del params["_meta"]
            return key
        return f"{KIND_NAMES[method]}-{next(self._minted)}"

    def fail(self, error: RpcError) -> None:
        self.failure = error
        if self.task is not None:
            self.task.cancel()
        self.changed.set()


class Bridge:
    """The parked calls of this process, and the rounds that drive them."""

    def __init__(
        self,
        dispatch: Dispatch,
        answer_backend: Callable[..., Awaitable[None]],
        state_keys: Sequence[str] = (),
        release: Callable[[Session], None] | None = None,
    ) -> None:
        self._dispatch = dispatch
        self._release = release  # gives back what the call's session held (leased backends)
        self._answer_backend = answer_backend  # (session, response message) → to its backend
        self._calls: dict[str, BridgedCall] = {}
        self.sealer = StateSealer(state_keys)

    async def serve(
        self, msg: JsonObject, envelope: Envelope, target: str, stream: Stream
    ) -> bytes:
        """Run one round of a bridged request; the answer frame carries ``msg``'s id."""
        params: JsonObject = msg.get("params") or {}
        responses = params.pop("inputResponses", None)
        state = params.pop("requestState", None)
        if responses is not None and not isinstance(responses, dict):
            raise InvalidParams("inputResponses must be an object keyed by the inputRequests keys")
        args = digest(params.get("arguments"))
        if state is None:
            call = self._start(msg, envelope, target, args)
        else:
            call = self._resume(state, msg["method"], target, args)
        sealed_round = call.round
        async with call.lock:
            if call.round != sealed_round or self._calls.get(call.id) is not call:
                # Another retry with the same state got the lock first: a state serves once.
                raise invalid_state()
            call.stream = stream
            call.progress_token = _progress_token(params)
            try:
                if isinstance(responses, dict):
                    await self._take(call, responses)
                outcome = await self._next(call)
            finally:
                call.stream = None
            return self._answer(call, msg["id"], outcome)

    def _start(self, msg: JsonObject, envelope: Envelope, target: str, args: str) -> BridgedCall:
        if len(self._calls) >= MAX_PARKED:
            raise RpcError("Too many calls are waiting for input; answer or drop some first")
        call_id = secrets.token_urlsafe(16)
        session = Session(id=f"bridge-{call_id}", protocol_version=LATEST_MODERN)
        session.client_capabilities = _RELAY_ALL
        session.mirror = _mirrored(envelope.capabilities)
        call = BridgedCall(call_id, msg["method"], target, args, envelope, session)
        channel = _Channel(self, call)
        call.task = asyncio.ensure_future(self._dispatch(session, msg, channel))
        call.task.add_done_callback(lambda _: call.changed.set())
        self._calls[call_id] = call
        return call

    def _resume(self, state: object, method: str, target: str, args: str) -> BridgedCall:
        claims = self.sealer.open(state)
        call = self._calls.get(str(claims.get("c")))
        bound = (claims.get("m"), claims.get("t"), claims.get("a")) == (method, target, args)
        if call is None or not bound or claims.get("r") != call.round:
            raise invalid_state()
        return call

    async def _take(self, call: BridgedCall, responses: JsonObject) -> None:
        """The client's answers: to pending questions now, to later ones when they are asked."""
        for key, value in responses.items():
            question = call.asked.pop(key, None)
            if question is None:
                call.prefilled[key] = value
            else:
                await self._reply(call, question, value)

    async def _reply(self, call: BridgedCall, question: Question, value: object) -> None:
        problem = _invalid_answer(question.method, value)
        if problem:
            error = InvalidParams(f"inputResponses: {problem}")
            await self._answer_backend(
                call.session, {"jsonrpc": "2.0", "id": question.our_id, "error": error.to_error()}
            )
            call.fail(error)
            return
        answer = {"jsonrpc": "2.0", "id": question.our_id, "result": value}
        await self._answer_backend(call.session, answer)

    async def asked(self, call: BridgedCall, question: Question) -> None:
        """A backend request of ``call`` came in: refuse it, answer it, or hold it."""
        capability = CLIENT_CAPABILITY[question.method]
        if capability not in call.envelope.capabilities:
            refusal = RpcError(
                f"the client did not declare the {capability!r} capability",
                code=METHOD_NOT_FOUND,
            )
            await self._answer_backend(
                call.session,
                {"jsonrpc": "2.0", "id": question.our_id, "error": refusal.to_error()},
            )
            call.fail(
                MissingCapability(
                    f"This request needs the client capability {capability!r}",
                    data=required_capabilities(capability),
                )
            )
            return
        key = call.key_for(question.method, question.params)
        if key in call.prefilled:
            await self._reply(call, question, call.prefilled.pop(key))
            return
        call.asked[key] = question
        call.changed.set()

    async def _next(self, call: BridgedCall) -> Outcome:
        """Wait for the call to finish, fail, or ask (and then go quiet)."""
        assert call.task is not None
        while True:
            if call.failure is not None:
                return Outcome(error=call.failure)
            if call.task.done():
                return self._finished(call)
            if call.asked:
                await self._quiet(call)
                if call.failure is None and not call.task.done():
                    return Outcome(questions=dict(call.asked))
                continue
            call.changed.clear()
            await call.changed.wait()

    async def _quiet(self, call: BridgedCall) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + QUIET_CAP
        while not call.task or not call.task.done():
            call.changed.clear()
            wait = min(QUIET, deadline - loop.time())
            if wait <= 0:
                return
            try:
                await asyncio.wait_for(call.changed.wait(), wait)
            except TimeoutError:
                return

    def _finished(self, call: BridgedCall) -> Outcome:
        assert call.task is not None
        if call.task.cancelled():
            return Outcome(error=call.failure or RpcError("the call was cancelled"))
        exc = call.task.exception()
        if isinstance(exc, RpcError):
            return Outcome(error=exc)
        if exc is not None:
            log.error("bridged call failed", exc_info=exc)
            return Outcome(error=RpcError("Internal error"))
        return Outcome(answer=call.task.result())

    def _answer(self, call: BridgedCall, req_id: RequestId, outcome: Outcome) -> bytes:
        if outcome.questions is None:
            self._forget(call)
            if outcome.error is not None:
                return jsonrpc.error(req_id, outcome.error)
            assert outcome.answer is not None
            return rewrite_id(outcome.answer, req_id)
        call.round += 1
        self._arm_expiry(call)
        claims = {
            "c": call.id,
            "r": call.round,
            "m": call.method,
            "t": call.target,
            "a": call.arguments,
        }
        result = {
            "resultType": "input_required",
            "inputRequests": {
                key: {"method": q.method, "params": q.params}
                for key, q in outcome.questions.items()
            },
            "requestState": self.sealer.seal(claims),
        }
        return jsonrpc.result(req_id, result)

    def _arm_expiry(self, call: BridgedCall) -> None:
        if call.expiry is not None:
            call.expiry.cancel()
        call.expiry = asyncio.get_running_loop().call_later(TTL, self._expire, call)

    def _expire(self, call: BridgedCall) -> None:
        log.info("a bridged %s of %r was never retried; cancelling it", call.method, call.target)
        call.fail(invalid_state())
        self._forget(call)

    def _forget(self, call: BridgedCall) -> None:
        self._calls.pop(call.id, None)
        if call.expiry is not None:
            call.expiry.cancel()
        if call.task is not None and not call.task.done():
            call.task.cancel()
        if self._release is not None:
            self._release(call.session)

    def close(self) -> None:
        for call in list(self._calls.values()):
            self._forget(call)


class _Channel:
    """The relay's way to a bridged call (its ``Reply``): backend requests become questions,
    progress goes to the open POST under the current round's token, logs only on request."""

    def __init__(self, bridge: Bridge, call: BridgedCall) -> None:
        self._bridge = bridge
        self._call = call

    async def push(self, frame: bytes) -> None:
        msg = orjson.loads(frame)
        method = msg.get("method")
        if "id" in msg and method in CLIENT_CAPABILITY:
            params = msg.get("params")
            question = Question(msg["id"], method, params if isinstance(params, dict) else {})
            await self._bridge.asked(self._call, question)
        elif method == "notifications/progress":
            await self._progress(msg)
        elif method == "notifications/message" and self._wants_log(msg):
            await self._send(frame)

    async def detach(self) -> None:
        """The backend paused its stream; it resumes by itself, nothing to tell the client."""

    async def _progress(self, msg: JsonObject) -> None:
        token = self._call.progress_token
        params = msg.get("params")
        if token is None or not isinstance(params, dict):
            return
        params["progressToken"] = token
        await self._send(orjson.dumps(msg))

    def _wants_log(self, msg: JsonObject) -> bool:
        wanted = self._call.envelope.log_level
        level = (msg.get("params") or {}).get("level")
        if wanted is None or level not in LOG_LEVELS:
            return False
        return LOG_LEVELS.index(level) >= LOG_LEVELS.index(wanted)

    async def _send(self, frame: bytes) -> None:
        stream = self._call.stream
        if stream is not None:
            with contextlib.suppress(OSError):
                await stream.push(frame)


def _mirrored(capabilities: JsonObject) -> JsonObject:
    """The client's relayable capabilities as a backend session is initialized with them: only
    the sub-capabilities a backend can act on, so junk values can neither break the backend's
    initialize nor start one more backend session (a process, over stdio) per distinct value."""
    mirror: JsonObject = {}
    for name, known in _SUB_CAPABILITIES.items():
        if name not in capabilities:
            continue
        given = capabilities[name] if isinstance(capabilities[name], dict) else {}
        mirror[name] = {k: _FLAG.get(k, {}) for k in known if _declares(given.get(k), k)}
    return mirror


def _declares(value: object, key: str) -> bool:
    return value is True if key in _FLAG else isinstance(value, dict)


def _progress_token(params: JsonObject) -> object:
    meta = params.get("_meta")
    return meta.get("progressToken") if isinstance(meta, dict) else None


def _invalid_answer(method: str, value: object) -> str:
    """Why ``value`` is not a result of ``method`` ("" when it is)."""
    if not isinstance(value, dict):
        return "an answer must be an object"
    if method == "elicitation/create":
        if value.get("action") not in ("accept", "decline", "cancel"):
            return "an elicitation answer needs action accept, decline or cancel"
        content = value.get("content")
        if content is not None and not isinstance(content, dict):
            return "an elicitation answer's content must be an object"
    elif method == "sampling/createMessage":
        if not isinstance(value.get("role"), str) or not isinstance(value.get("model"), str):
            return "a sampling answer needs role and model"
        if not isinstance(value.get("content"), dict | list):
            return "a sampling answer needs content"
    elif method == "roots/list" and not isinstance(value.get("roots"), list):
        return "a roots answer needs a roots list"
    return ""
