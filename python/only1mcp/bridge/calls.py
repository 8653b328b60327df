"""The bridge from a 2026-07-28 client to handshake-era servers: multi round-trip requests.

A handshake-era server that needs something from its client mid-call (sampling, elicitation,
roots) sends a server→client request and waits. A 2026 client cannot take such a request; it
expects an ``input_required`` result naming what is needed, and retries the same request with
``inputResponses``. So such a call is *parked*: the backend call keeps running in this process,
its questions are collected into one ``input_required`` result, and the client's retry —
recognised by a sealed ``requestState`` — answers them on the backend's session.

A bridged call runs in the task of the request that started it (its *carrier*), like any call:
one that asks nothing costs what a handshake call costs and is answered by its carrier. When
the backend asks, a driver task answers that first round from the side (the front's
``stream.finish``), and the carrier goes on carrying the backend call until it ends; each
retry then drives its own round. A call is stopped (expired, failed, shut down) the way a
client stops one: ``notifications/cancelled`` through the router, so the backend hears of it
and the carrier's wait ends. Questions that arrive together are answered together: after the
first one the round waits for a short quiet spell so concurrent questions land in one result.
Each question is named by the backend's ``_meta["io.only1mcp/inputKey"]`` hint, or
``<kind>-<n>`` (:class:`~only1mcp.bridge.call.BridgedCall`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from only1mcp._core import rewrite_id
from only1mcp.bridge.call import (
    BridgedCall,
    Finish,
    Outcome,
    Question,
    RoundReply,
    invalid_answer,
    progress_token,
)
from only1mcp.bridge.state import TTL, Claims, StateSealer, digest, invalid_state
from only1mcp.errors import (
    METHOD_NOT_FOUND,
    InvalidParams,
    MissingCapability,
    RpcError,
    unexpected,
)
from only1mcp.protocol import jsonrpc
from only1mcp.protocol.results import required_capabilities
from only1mcp.protocol.stateless import LATEST_STATELESS, Envelope
from only1mcp.relay import CLIENT_CAPABILITY
from only1mcp.session import Session
from only1mcp.types import JsonObject, RequestId

log = logging.getLogger("only1mcp.bridge")

QUIET = 0.05  # how long the backend must stay silent before its questions go out together
QUIET_CAP = 0.25  # ... but no longer than this after the first question
MAX_PARKED = 1000  # calls waiting for their client's answers, so a flood cannot grow memory
# Sessions of calls that asked nothing, kept for the next calls (a session per call is not free).
MAX_IDLE_SESSIONS = 256
# Every capability a bridged backend request may need: the bridge checks the real ones.
_RELAY_ALL: JsonObject = {"sampling": {}, "elicitation": {}, "roots": {}}

# Runs one request for a bridged call: (session, message, reply) → the response frame.
Dispatch = Callable[[Session, JsonObject, Any], Awaitable[bytes | None]]


class Bridge:
    """The parked calls of this process, and the rounds that drive them."""

    def __init__(
        self,
        dispatch: Dispatch,
        answer_backend: Callable[..., Awaitable[None]],
        state_keys: Sequence[str] = (),
        release: Callable[[str], None] | None = None,
    ) -> None:
        self._dispatch = dispatch
        self._release = release  # gives back what the call's session (by id) held: leases
        self._answer_backend = answer_backend  # (session, response message) → to its backend
        self._calls: dict[str, BridgedCall] = {}  # the calls that asked, by id
        self._tasks: set[asyncio.Task[Any]] = set()  # drivers of first rounds, cancellations
        self._session_ids = itertools.count(1)
        self._idle_sessions: list[Session] = []
        self.sealer = StateSealer(state_keys)

    def serve(
        self, msg: JsonObject, envelope: Envelope, target: str, stream: RoundReply, finish: Finish
    ) -> Awaitable[tuple[int, bytes] | None]:
        """One round of a bridged request: the awaitable of its answer frame with ``msg``'s id,
        as ``finish`` makes it (None when ``stream.finish`` sent it: the round asked, and the
        awaiting task carries the backend call on). Not a coroutine: a frame less per call."""
        params: JsonObject = msg["params"]
        if "inputResponses" not in params and "requestState" not in params:
            return self.carry(msg, envelope, target, stream, finish)
        responses = params.pop("inputResponses", None)
        state = params.pop("requestState", None)
        if responses is not None and not isinstance(responses, dict):
            raise InvalidParams("inputResponses must be an object keyed by the inputRequests keys")
        if state is None:
            return self.carry(msg, envelope, target, stream, finish, responses)
        call = self._resume(state, msg["method"], target, digest(params.get("arguments")))
        return self._retry(call, msg["id"], stream, params, responses, finish)

    async def _retry(
        self,
        call: BridgedCall,
        req_id: RequestId,
        stream: RoundReply,
        params: JsonObject,
        responses: JsonObject | None,
        finish: Finish,
    ) -> tuple[int, bytes]:
        try:
            return finish(await self._round(call, req_id, stream, params, responses))
        except RpcError as exc:
            return finish(jsonrpc.error(req_id, exc))

    async def _round(
        self,
        call: BridgedCall,
        req_id: RequestId,
        stream: RoundReply,
        params: JsonObject,
        responses: JsonObject | None,
    ) -> bytes:
        assert call.lock is not None  # a call that was sealed has asked
        sealed_round = call.round
        async with call.lock:
            if call.round != sealed_round or self._calls.get(call.id) is not call:
                # Another retry with the same state got the lock first: a state serves once.
                raise invalid_state()
            call.stream = stream
            call.progress_token = progress_token(params)
            try:
                if responses is not None:
                    await self._take(call, responses)
                outcome = await self._next(call)
            finally:
                call.stream = None
            return self._answer(call, req_id, outcome)

    async def carry(
        self,
        msg: JsonObject,
        envelope: Envelope,
        target: str,
        stream: RoundReply,
        finish: Finish,
        responses: JsonObject | None = None,
        dispatch: Dispatch | None = None,
    ) -> tuple[int, bytes] | None:
        """A fresh call, run in this task: its answer, unless it asked meanwhile.

        ``dispatch`` runs it instead of the bridge's own (which frames every error): the
        straight path of a ``tools/call``, whose errors (raised) are framed here."""
        idle = self._idle_sessions
        session = idle.pop() if idle else self._session()
        session.mirror = envelope.capabilities
        call = BridgedCall(self, msg, target, envelope, session, stream, finish)
        if responses:
            call.prefilled = responses
        try:
            answer = await (dispatch or self._dispatch)(session, msg, call)
        except Exception as exc:
            if call.lock is None:
                self._give_back(session)
                return finish(_error_frame(msg, exc))
            self._ended(call, None, exc)
            await self._answered(call)
            return None
        except BaseException:  # cancelled: the round that waits for it must hear of it
            if call.lock is None:
                self._give_back(session)
            else:
                self._ended(call, None, None)
            raise
        if call.lock is None:  # it asked nothing: the common case, answered right here
            call.ended = True
            # Its session serves the next call: nothing refers to it any more (its exchange
            # closed with the call). What it leased goes back first.
            if self._release is not None:
                self._release(session.id)
            if len(idle) < MAX_IDLE_SESSIONS:
                idle.append(session)
            assert answer is not None  # a request always gets one
            return finish(answer)
        self._ended(call, answer, None)
        await self._answered(call)
        return None

    @staticmethod
    async def _answered(call: BridgedCall) -> None:
        """Wait until the driver of the call's first round has answered it: this task's
        return ends the exchange it came with (an HTTP response not given by then is lost)."""
        assert call.answered is not None
        await call.answered.wait()

    def _give_back(self, session: Session) -> None:
        """What a call that failed before asking leased goes back (its session is dropped)."""
        if self._release is not None:
            self._release(session.id)

    def _session(self) -> Session:
        session = Session(id=f"bridge-{next(self._session_ids)}", protocol_version=LATEST_STATELESS)
        session.client_capabilities = _RELAY_ALL
        return session

    def _ended(self, call: BridgedCall, answer: bytes | None, error: BaseException | None) -> None:
        call.ended = True
        call.answer = answer
        call.error = error
        call.wake()

    def _resume(self, state: object, method: str, target: str, args: str) -> BridgedCall:
        claims = self.sealer.open(state)
        call = self._calls.get(claims.call)
        if call is None or call.round == 0:
            raise invalid_state()
        if not claims.binds(method, target, args) or claims.round != call.round:
            raise invalid_state()
        return call

    async def _take(self, call: BridgedCall, responses: JsonObject) -> None:
        """The client's answers: to pending questions now, to later ones when they are asked."""
        for key, value in responses.items():
            question = call.asked.pop(key, None)
            if question is None:
                if call.prefilled is None:
                    call.prefilled = {}
                call.prefilled[key] = value
            else:
                await self._reply(call, question, value)

    async def _reply(self, call: BridgedCall, question: Question, value: object) -> None:
        problem = invalid_answer(question.method, value)
        if problem:
            error = InvalidParams(f"inputResponses: {problem}")
            await self._refuse(call, question, error)
            call.fail(error)
            return
        answer = {"jsonrpc": "2.0", "id": question.our_id, "result": value}
        await self._answer_backend(call.session, answer)

    async def _refuse(self, call: BridgedCall, question: Question, error: RpcError) -> None:
        message = {"jsonrpc": "2.0", "id": question.our_id, "error": error.to_error()}
        await self._answer_backend(call.session, message)

    async def asked(self, call: BridgedCall, question: Question) -> None:
        """A backend request of ``call`` came in: refuse it, answer it, or hold it."""
        if call.ended:
            refusal = RpcError("the request that caused it has been answered already")
            await self._refuse(call, question, refusal)
            return
        if call.lock is None:
            unparkable = self._drive(call)
            if unparkable is not None:
                await self._refuse(call, question, unparkable)
                return
        capability = CLIENT_CAPABILITY[question.method]
        if capability not in call.envelope.capabilities:
            refusal = RpcError(
                f"the client did not declare the {capability!r} capability",
                code=METHOD_NOT_FOUND,
            )
            await self._refuse(call, question, refusal)
            call.fail(
                MissingCapability(
                    f"This request needs the client capability {capability!r}",
                    data=required_capabilities(capability),
                )
            )
            return
        key = call.key_for(question.method, question.params)
        if call.prefilled is not None and key in call.prefilled:
            await self._reply(call, question, call.prefilled.pop(key))
            return
        call.asked[key] = question
        call.wake()

    def _drive(self, call: BridgedCall) -> RpcError | None:
        """``call`` asks for the first time: from now on rounds answer it, the first one by a
        driver task of its own (an error for the backend, and nothing changes, when it cannot
        be parked)."""
        if len(self._calls) >= MAX_PARKED:
            return RpcError("Only1MCP has too many calls waiting for their clients' input")
        try:
            call.digest = digest(call.msg["params"].get("arguments"))
        except InvalidParams as exc:
            return exc
        call.lock = asyncio.Lock()
        call.changed = asyncio.Event()
        call.answered = asyncio.Event()
        call.asked = {}
        call.id = secrets.token_urlsafe(16)
        self._calls[call.id] = call
        self._spawn(self._first_round(call))
        return None

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def stop(self, call: BridgedCall) -> None:
        """Cancel ``call``'s backend request as its client would: the backend is told, and the
        carrier stops waiting (its answer then is the cancellation; the round says why)."""
        if call.ended:
            return
        params = {"requestId": call.msg["id"], "reason": "the 2026 client's call ended"}
        cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": params}
        self._spawn(self._dispatch(call.session, cancel, None))

    async def _first_round(self, call: BridgedCall) -> None:
        assert call.lock is not None
        try:
            async with call.lock:
                try:
                    outcome = await self._next(call)
                finally:
                    call.stream = None
                frame = self._answer(call, call.msg["id"], outcome)
        except Exception:  # the client must get an answer, whatever happened
            log.exception("the first round of a bridged %s failed", call.method)
            call.fail(RpcError("Internal error"))
            self._forget(call)
            frame = jsonrpc.error(call.msg["id"], RpcError("Internal error"))
        try:
            with contextlib.suppress(OSError):
                await call.first.finish(*call.finish(frame))
        finally:
            assert call.answered is not None
            call.answered.set()

    async def _next(self, call: BridgedCall) -> Outcome:
        """Wait for the call to finish, fail, or ask (and then go quiet)."""
        assert call.changed is not None
        while True:
            if call.failure is not None:
                return Outcome(error=call.failure)
            if call.ended:
                return self._finished(call)
            if call.asked:
                await self._quiet(call, call.changed)
                if call.failure is None and not call.ended:
                    return Outcome(questions=dict(call.asked))
                continue
            call.changed.clear()
            await call.changed.wait()

    async def _quiet(self, call: BridgedCall, changed: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + QUIET_CAP
        while not call.ended:
            changed.clear()
            wait = min(QUIET, deadline - loop.time())
            if wait <= 0:
                return
            try:
                await asyncio.wait_for(changed.wait(), wait)
            except TimeoutError:
                return

    def _finished(self, call: BridgedCall) -> Outcome:
        exc = call.error
        if isinstance(exc, RpcError):
            return Outcome(error=exc)
        if exc is not None:
            log.error("bridged call failed", exc_info=exc)
            return Outcome(error=RpcError("Internal error"))
        if call.answer is None:
            return Outcome(error=RpcError("the call was cancelled"))
        return Outcome(answer=call.answer)

    def _answer(self, call: BridgedCall, req_id: RequestId, outcome: Outcome) -> bytes:
        if outcome.questions is None:
            self._forget(call)
            if outcome.error is not None:
                return jsonrpc.error(req_id, outcome.error)
            assert outcome.answer is not None
            return rewrite_id(outcome.answer, req_id)
        call.round += 1
        self._arm_expiry(call)
        claims = Claims(call.method, call.target, call.digest, call=call.id, round=call.round)
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
        if self._calls.pop(call.id, None) is None:
            return  # forgotten already
        if call.expiry is not None:
            call.expiry.cancel()
        self.stop(call)
        if self._release is not None:
            self._release(call.session.id)

    def close(self) -> None:
        """Stop every call that asked (their carriers end at once)."""
        for call in list(self._calls.values()):
            call.fail(RpcError("Only1MCP is shutting down"))
            self._forget(call)


def _error_frame(msg: JsonObject, exc: Exception) -> bytes:
    """The answer to ``msg`` that failed with ``exc`` before it asked anything: its error,
    or -32603 for a bug (logged), never an exception up to the front."""
    if isinstance(exc, RpcError):
        return jsonrpc.error(msg["id"], exc)
    log.error("failed to handle %s", msg.get("method"), exc_info=exc)
    return jsonrpc.error(msg["id"], unexpected(msg.get("method"), exc))
