"""The one error tree of Only1MCP.

Every error raised on purpose by this package derives from :class:`Only1MCPError`. Errors that
reach a client know their JSON-RPC code; foreign exceptions are translated at the edge with
``raise ... from exc`` so no stack trace ever reaches the wire.

    Only1MCPError
    ├── ConfigError              bad configuration file (file, key path, what is wrong)
    └── RpcError                 carries a JSON-RPC error code
        ├── ParseError           -32700 body is not JSON
        ├── InvalidRequest       -32600 not a JSON-RPC request object
        ├── MethodNotFound       -32601 unknown method
        ├── InvalidParams        -32602 bad params, unknown tool, bad cursor
        ├── InternalError        -32603 a bug on our side (never leaks details)
        │   └── ShuttingDown     -32603 the call was still running when Only1MCP stopped
        ├── RequestCancelled     -32800 the client cancelled the request it was waiting on
        ├── HeaderMismatch       -32020 (2026-07-28) an Mcp-* header disagrees with the body
        ├── MissingCapability    -32021 (2026-07-28) the request needs a client capability
        ├── UnsupportedVersion   -32022 (2026-07-28) a protocol version we do not serve
        ├── Unauthenticated      -32000 no or refused credentials (HTTP 401)
        ├── AccessDenied         -32003 the principal may not do this (HTTP 403)
        ├── RateLimited          -32029 the principal's or tool's rate limit is spent (HTTP 429)
        ├── TooManySessions      -32030 every session slot is taken by a busy session (HTTP 503)
        └── BackendError         -32000 a backend failed, timed out or is down
            ├── BackendUnavailable -32000 refused before sending: down, unhealthy, breaker open
            └── BackendTimeout   -32001 the backend did not answer within its timeout
"""

from __future__ import annotations

from typing import Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
BACKEND_ERROR = -32000
BACKEND_TIMEOUT = -32001
REQUEST_CANCELLED = -32800
HEADER_MISMATCH = -32020
MISSING_CAPABILITY = -32021
ACCESS_DENIED = -32003
RATE_LIMITED = -32029
TOO_MANY_SESSIONS = -32030
UNSUPPORTED_VERSION = -32022  # LSP's code; MCP expects no answer, but an HTTP POST needs an end


class Only1MCPError(Exception):
    """Base of every error raised on purpose by Only1MCP."""


class ConfigError(Only1MCPError):
    """A configuration file is unusable; the message names the file, the key and the problem."""

    def __init__(self, path: str, key: str, problem: str) -> None:
        self.path = path
        self.key = key
        self.problem = problem
        where = f"{path}: {key}" if key else path
        super().__init__(f"{where}: {problem}")


class RpcError(Only1MCPError):
    """An error that is answered to the client as a JSON-RPC error object."""

    code: int = INTERNAL_ERROR

    def __init__(self, message: str, data: Any = None, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data
        if code is not None:
            self.code = code

    def to_error(self) -> dict[str, Any]:
        """The JSON-RPC ``error`` member for this error."""
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            err["data"] = self.data
        return err


class ParseError(RpcError):
    code = PARSE_ERROR


class InvalidRequest(RpcError):
    code = INVALID_REQUEST


class MethodNotFound(RpcError):
    code = METHOD_NOT_FOUND


class InvalidParams(RpcError):
    code = INVALID_PARAMS


class InternalError(RpcError):
    code = INTERNAL_ERROR


class ShuttingDown(InternalError):
    """What a call still running when the grace period of a shutdown ends is answered."""

    def __init__(self) -> None:
        super().__init__(SHUTTING_DOWN)


SHUTTING_DOWN = "Only1MCP is shutting down"


def unexpected(method: object, exc: BaseException) -> InternalError:
    """What a client is told when handling its request raised something no layer expected (a
    bug): -32603 naming the request and the exception's kind, never its traceback (that goes
    to our log, where the message points)."""
    what = method if isinstance(method, str) else "the request"
    return InternalError(
        f"Only1MCP failed to handle {what}: internal error ({type(exc).__name__}). "
        "The request may be retried; if it keeps failing, report it with the Only1MCP log, "
        "which has the details"
    )


class RequestCancelled(RpcError):
    code = REQUEST_CANCELLED


class HeaderMismatch(RpcError):
    code = HEADER_MISMATCH


class MissingCapability(RpcError):
    code = MISSING_CAPABILITY


class UnsupportedVersion(RpcError):
    code = UNSUPPORTED_VERSION


class BackendError(RpcError):
    code = BACKEND_ERROR


class BackendUnavailable(BackendError):
    """The request was never sent, so any request may safely go to another replica."""


class BackendTimeout(BackendError):
    code = BACKEND_TIMEOUT


class Unauthenticated(RpcError):
    """No usable credentials: the HTTP front answers 401. ``refused``: a token or key was
    presented and refused (the challenge then says ``error="invalid_token"``)."""

    code = BACKEND_ERROR  # -32000: the code the MCP authorization examples use for a 401

    def __init__(self, why: str, refused: bool = True) -> None:
        super().__init__(f"Unauthorized: {why}")
        self.why = why
        self.refused = refused


class AccessDenied(RpcError):
    """Refused by authorization; ``scopes`` are the scopes (roles) any one of which would
    allow it, for the 403's ``WWW-Authenticate: Bearer error="insufficient_scope"``."""

    code = ACCESS_DENIED

    def __init__(self, message: str, scopes: tuple[str, ...] = ()) -> None:
        super().__init__(message, {"scopes": list(scopes)} if scopes else None)
        self.scopes = scopes


class RateLimited(RpcError):
    """A rate limit is spent; the client may retry after ``retry_after`` seconds."""

    code = RATE_LIMITED

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, {"retryAfter": retry_after})
        self.retry_after = retry_after


class TooManySessions(RpcError):
    """The gateway holds as many sessions as it may, none of them idle: retry later."""

    code = TOO_MANY_SESSIONS
