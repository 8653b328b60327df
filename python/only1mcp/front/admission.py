"""A call through the gate on an HTTP front: admitted, or refused with the HTTP status and
headers the refusal calls for.

* Not allowed (grants, policies): 403 with ``WWW-Authenticate: Bearer
  error="insufficient_scope", scope="<every role that would allow it>",
  resource_metadata="…"`` (RFC 6750 §3.1, the MCP authorization spec's step-up).
* Over a rate limit: 429 with ``Retry-After`` in whole seconds (at least 1).

Either way the body is the JSON-RPC error with the request's id.
"""

from __future__ import annotations

import math

from only1mcp.access.gate import Gate, Ticket
from only1mcp.auth.challenge import bearer_challenge
from only1mcp.auth.principal import principal_of
from only1mcp.errors import AccessDenied, RateLimited
from only1mcp.front.wire import HttpError
from only1mcp.types import JsonObject, Scope


def admit(gate: Gate, msg: JsonObject, scope: Scope, session: str | None) -> Ticket | None:
    """:meth:`Gate.admit` for a request that came over HTTP, as the principal this request
    proved (in a session, the one that opened it, unless the session was taken over: then the
    caller's own rights, never the owner's); a refusal is an :class:`HttpError`."""
    try:
        # The peer as the server saw it (no X-Forwarded-For: it is not trusted).
        return gate.admit(principal_of(scope), msg, scope.get("client"), session)
    except (AccessDenied, RateLimited) as exc:
        raise refusal(gate, exc, msg) from None


def refusal(gate: Gate, exc: AccessDenied | RateLimited, msg: JsonObject) -> HttpError:
    """The HTTP answer to a call the gate refused: 403 with the step-up challenge, or 429."""
    if isinstance(exc, AccessDenied):
        challenge = bearer_challenge(gate.resource_metadata, exc.scopes, "insufficient_scope")
        return HttpError(403, exc, [(b"www-authenticate", challenge)], msg.get("id"))
    seconds = b"%d" % max(1, math.ceil(exc.retry_after))
    return HttpError(429, exc, [(b"retry-after", seconds)], msg.get("id"))
