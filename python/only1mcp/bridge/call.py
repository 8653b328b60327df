"""One bridged 2026 call (:mod:`only1mcp.bridge.calls`): what it carries from round to round,
and the relay's way to it — it is the ``Reply`` its backend request is forwarded with, so the
server's questions, progress and logs about it arrive here."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from only1mcp.errors import RpcError
from only1mcp.protocol.stateless import LOG_LEVELS, Envelope
from only1mcp.relay import CLIENT_CAPABILITY, Reply
from only1mcp.session import Session
from only1mcp.types import JsonObject, RequestId

if TYPE_CHECKING:
    from only1mcp.bridge.calls import Bridge

INPUT_KEY = "io.only1mcp/inputKey"
KIND_NAMES = {"sampling/createMessage": "sampling", "elicitation/create": "elicitation"}
KIND_NAMES["roots/list"] = "roots"
_FIRST_ROUND = object()  # progress_token: take it from the first round's request

# The front's form of an answer frame: (HTTP status, frame as the client gets it).
Finish = Callable[[bytes], tuple[int, bytes]]


class RoundReply(Reply, Protocol):
    """A round's channel to its client (the open POST): what precedes its answer (``push``),
    and the answer itself when a call's first round is answered from the side (``finish``)."""

    def finish(self, status: int, frame: bytes) -> Awaitable[None]: ...


@dataclass(slots=True)
class Question:
    our_id: RequestId  # the id the relay gave the backend's request
    method: str
    params: JsonObject


@dataclass(slots=True)
class Outcome:
    """How a round ends: the backend's answer, questions for the client, or an error."""

    answer: bytes | None = None
    questions: dict[str, Question] | None = None
    error: RpcError | None = None


class BridgedCall:
    """One bridged request, from its first round to its last, and the relay's way to it (its
    ``Reply``): backend requests become questions, progress goes to the open POST under the
    current round's token, logs only on request.

    A call that asks nothing sets only what its carrier needs; the rest is made when it first
    asks (:meth:`Bridge._drive`): class attributes are the defaults. What every call sets is
    in slots, so a call that asks nothing makes no instance dict (one allocation less)."""

    __slots__ = (
        "__dict__",
        "bridge",
        "envelope",
        "finish",
        "first",
        "msg",
        "session",
        "stream",
        "target",
    )

    id = ""  # minted when it first asks
    digest = ""  # of its arguments, taken then too
    round = 0
    failure: RpcError | None = None
    ended = False  # the backend call is over: answered, failed, or cancelled
    answer: bytes | None = None
    error: BaseException | None = None
    lock: asyncio.Lock | None = None
    changed: asyncio.Event | None = None  # set on anything a round waits for
    answered: asyncio.Event | None = None  # set once the first round's answer is out
    expiry: asyncio.TimerHandle | None = None
    stream: RoundReply | None  # the open POST of the current round (None between rounds)
    progress_token: object = _FIRST_ROUND  # the current round's (the first's is in params)
    prefilled: dict[str, Any] | None = None  # answers given before their question
    asked: dict[str, Question]  # questions waiting for the client (made on the first one)
    _minted: itertools.count[int] | None = None

    def __init__(
        self,
        bridge: Bridge,
        msg: JsonObject,
        target: str,
        envelope: Envelope,
        session: Session,
        first: RoundReply,
        finish: Finish,
    ) -> None:
        self.bridge = bridge
        self.msg = msg  # the first round's request
        self.target = target
        self.envelope = envelope
        self.session = session
        self.stream = self.first = first  # where the first round's answer goes
        self.finish = finish

    @property
    def method(self) -> str:
        method: str = self.msg["method"]
        return method

    def key_for(self, method: str, params: JsonObject) -> str:
        meta = params.get("_meta")
        if isinstance(meta, dict) and isinstance(meta.get(INPUT_KEY), str):
            key: str = meta.pop(INPUT_KEY)
            if not meta:
                del params["_meta"]
            return key
        if self._minted is None:
            self._minted = itertools.count(1)
        return f"{KIND_NAMES[method]}-{next(self._minted)}"

    def wake(self) -> None:
        if self.changed is not None:
            self.changed.set()

    def fail(self, error: RpcError) -> None:
        """End the call with ``error``; its backend request is cancelled."""
        self.failure = error
        self.bridge.stop(self)
        self.wake()

    # ------------------------------------------------------------- as the relay's Reply

    async def push(self, frame: bytes) -> None:
        msg = orjson.loads(frame)
        method = msg.get("method")
        if "id" in msg and method in CLIENT_CAPABILITY:
            params = msg.get("params")
            question = Question(msg["id"], method, params if isinstance(params, dict) else {})
            await self.bridge.asked(self, question)
        elif method == "notifications/progress":
            await self._progress(msg)
        elif method == "notifications/message" and self._wants_log(msg):
            await self._send(frame)

    async def detach(self) -> None:
        """The backend paused its stream; it resumes by itself, nothing to tell the client."""

    async def _progress(self, msg: JsonObject) -> None:
        token = self.progress_token
        if token is _FIRST_ROUND:
            token = progress_token(self.msg["params"])
        params = msg.get("params")
        if token is None or not isinstance(params, dict):
            return
        params["progressToken"] = token
        await self._send(orjson.dumps(msg))

    def _wants_log(self, msg: JsonObject) -> bool:
        wanted = self.envelope.log_level
        level = (msg.get("params") or {}).get("level")
        if wanted is None or level not in LOG_LEVELS:
            return False
        return LOG_LEVELS.index(level) >= LOG_LEVELS.index(wanted)

    async def _send(self, frame: bytes) -> None:
        stream = self.stream
        if stream is not None:
            with contextlib.suppress(OSError):
                await stream.push(frame)


def progress_token(params: JsonObject) -> object:
    meta = params.get("_meta")
    return meta.get("progressToken") if isinstance(meta, dict) else None


def invalid_answer(method: str, value: object) -> str:
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
