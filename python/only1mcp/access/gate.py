"""The gate: the one object the fronts and the router consult about a principal.

* :meth:`Gate.view` — what a principal's roles let it see: lists are filtered by it (the
  router), computed once per set of roles and catalog version, not per request.
* :meth:`Gate.admit` — before a call (``tools/call``, ``prompts/get``, ``resources/read``,
  ``resources/subscribe``, ``completion/complete`` of a prompt or resource): its grants, the
  policies of the roles that grant it and of the tool, the rate limits. A refusal raises
  :class:`~only1mcp.errors.AccessDenied` (403) or :class:`~only1mcp.errors.RateLimited` (429)
  and is audited; an admitted call gets a :class:`Ticket` the front hands to :meth:`done`
  with the answer, which audits it with its latency and outcome.

Lists show what the roles grant; policies (hours, networks, MFA) are checked when a call is
made, where the refusal can say which one failed. The app builds a gate only when
authentication is on (or an audit log wants the calls): without one, nothing is checked.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import orjson

from only1mcp.audit import AuditLog
from only1mcp.auth.principal import ANONYMOUS, Principal
from only1mcp.catalog import Catalog
from only1mcp.catalog.discovery import called
from only1mcp.catalog.naming import split_uri, uri_scheme
from only1mcp.config.access import RateConfig
from only1mcp.config.schema import Config
from only1mcp.config.shaping import Discovery
from only1mcp.errors import AccessDenied, RateLimited
from only1mcp.protocol.lists import BY_KIND
from only1mcp.types import JsonObject

from .policy import Policy
from .ratelimit import Buckets, LocalBuckets
from .roles import Role, Roles, compile_globs

_CACHE_LIMIT = 10_000  # names asked about, role sets seen (clients choose them): bounded
# method → (list kind, what the request names it by)
_BY_NAME = {"tools/call": "tools", "prompts/get": "prompts"}
_BY_URI = ("resources/read", "resources/subscribe")
_VERBS = {"tools": "call tool", "prompts": "get prompt", "resources": "read resource"}


def target(msg: JsonObject) -> tuple[str, str] | None:
    """(kind, exposed name or URI) a gated request names; None for a message that names none
    (or a malformed one, which the router refuses with -32602)."""
    method = msg.get("method")
    params = msg.get("params")
    if not isinstance(params, dict):
        return None
    kind = _BY_NAME.get(method) if method.__class__ is str else None
    if kind is not None:
        name = params.get("name")
        return (kind, name) if name.__class__ is str else None
    if method in _BY_URI:
        uri = params.get("uri")
        return ("resources", uri) if isinstance(uri, str) else None
    if method == "completion/complete":
        ref = params.get("ref")
        if isinstance(ref, dict):
            if ref.get("type") == "ref/prompt" and isinstance(ref.get("name"), str):
                return "prompts", ref["name"]
            if ref.get("type") == "ref/resource" and isinstance(ref.get("uri"), str):
                return "resources", ref["uri"]
    return None


@dataclass(slots=True)
class Ticket:
    """An admitted call, until :meth:`Gate.done` audits it."""

    principal: Principal
    session: str | None
    method: str
    kind: str
    name: str
    reason: str
    started: float


class View:
    """What one set of roles may see, and which of them grant a name (both cached)."""

    __slots__ = ("_granting", "_lists", "cleared", "roles")

    def __init__(self, roles: tuple[Role, ...]) -> None:
        self.roles = roles
        self._granting: dict[tuple[str, str], tuple[Role, ...]] = {}
        # kind → (the catalog, its version, what this view sees of it): a capability set's
        # catalog (variants.py) is another catalog, whatever its version
        self._lists: dict[str, tuple[Catalog, int, list[JsonObject]]] = {}
        #: (kind, name) → why a call of it may always go ahead: a role without a policy grants
        #: it and no tool rule applies (the gate's fast path; filled as calls come).
        self.cleared: dict[tuple[str, str], str] = {}

    def granting(self, kind: str, name: str) -> tuple[Role, ...]:
        """The roles of this view whose own grants cover ``name``."""
        key = (kind, name)
        found = self._granting.get(key)
        if found is None:
            found = tuple(role for role in self.roles if role.grants_name(kind, name))
            if len(self._granting) >= _CACHE_LIMIT:
                self._granting.clear()
            self._granting[key] = found
        return found

    def visible(self, kind: str, catalog: Catalog) -> list[JsonObject]:
        """``catalog``'s merged items this view may see (rebuilt when the catalog changes)."""
        cached = self._lists.get(kind)
        if cached is None or cached[0] is not catalog or cached[1] != catalog.version:
            key = BY_KIND[kind].id_field
            items = [item for item in catalog.merged() if self.granting(kind, item[key])]
            cached = self._lists[kind] = (catalog, catalog.version, items)
        return cached[2]


@dataclass(frozen=True, slots=True)
class _ToolRule:
    pattern: str
    policy: Policy | None
    rate: RateConfig | None


NOTHING = View(())


class Gate:
    def __init__(
        self,
        config: Config,
        audit: AuditLog,
        catalogs: Mapping[str, Catalog],
        resource_metadata: str = "",
        buckets: Buckets | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        access = config.access
        #: Authentication is on: what no role grants is refused (off: the gate only audits).
        self.enforcing = config.auth.enabled
        #: discovery: lazy — a call_tool is the call of the tool it wraps (catalog/discovery).
        self._lazy = config.discovery.mode is Discovery.LAZY
        self.roles = Roles(access)
        self.audit = audit
        self._auditing = audit.enabled  # else admitted calls need no ticket
        self._catalogs = catalogs
        self._buckets: Buckets = buckets if buckets is not None else LocalBuckets()
        self._clock = clock
        self._per_principal = access.rate_limits.per_principal
        self._tool_rules = [
            (
                compile_globs([pattern]),
                _ToolRule(
                    pattern,
                    Policy(rule.policy, access.mfa) if rule.policy is not None else None,
                    rule.rate,
                ),
            )
            for pattern, rule in access.tools.items()
        ]
        self._rules_for: dict[str, tuple[_ToolRule, ...]] = {}
        self._views: dict[frozenset[str], View] = {}  # by the roles a principal was granted
        self._by_held: dict[frozenset[str], View] = {}  # by those with inherited ones
        #: Where a refusal's challenge points clients (RFC 9728 protected resource metadata).
        self.resource_metadata = resource_metadata
        stdio = access.stdio_roles if access.stdio_roles is not None else list(access.roles)
        #: Who a stdio client is once authentication is on (a pipe has no credentials).
        self.stdio_principal = Principal("stdio", frozenset(stdio)) if self.enforcing else ANONYMOUS

    # ------------------------------------------------------------------ seeing

    def view(self, principal: Principal) -> View | None:
        """What ``principal`` may see; None: everything (authentication is off)."""
        if not self.enforcing:
            return None
        return self._views.get(principal.roles) or self._view(principal)

    def _view(self, principal: Principal) -> View:
        view = self._views.get(principal.roles)
        if view is None:
            held = self.roles.expand(principal.roles)
            view = self._by_held.get(held)
            if view is None:
                roles = tuple(self.roles.by_name[name] for name in sorted(held))
                view = View(roles) if roles else NOTHING
                self._by_held[held] = view
            if len(self._views) >= _CACHE_LIMIT:
                self._views.clear()
                self._by_held = {held: view}
            self._views[principal.roles] = view
        return view

    # ----------------------------------------------------------------- calling

    def admit(
        self,
        principal: Principal,
        msg: JsonObject,
        client: tuple[str, int] | None,
        session: str | None,
    ) -> Ticket | None:
        """Check a request before it is served (``client``: the peer's (address, port), as
        the ASGI scope has it). Raises AccessDenied or RateLimited (audited).

        A ticket for :meth:`done` when the call is to be audited; None when it is not (no
        audit log, or not a gated call)."""
        params = msg.get("params")
        if msg.get("method") == "tools/call" and isinstance(params, dict):
            # The common call, without a frame for target(). In lazy discovery a call_tool is
            # the call of the tool it wraps (search: no tool at all).
            name = called(params) if self._lazy else params.get("name")
            if not isinstance(name, str):
                return None  # malformed (the router says so), or lazy discovery's search
            named = ("tools", name)
        else:
            found = target(msg)
            if found is None:
                return None
            named = found
        started = time.perf_counter() if self._auditing else 0.0
        reason = "authentication off"
        if self.enforcing:
            try:
                # A call cleared before is two lookups; the rest is decided by _judge.
                view = self._views.get(principal.roles) or self._view(principal)
                cleared = view.cleared.get(named)
                if cleared is None:
                    reason = self._judge(view, principal, *named, client[0] if client else None)
                else:
                    reason = cleared
                    if self._per_principal is not None:
                        self._spend(principal, named[1], ())
            except (AccessDenied, RateLimited) as exc:
                refused = Ticket(principal, session, msg["method"], *named, reason, started)
                self._record(refused, "deny", exc.message, "refused")
                raise
        if not self._auditing:
            return None
        return Ticket(principal, session, msg["method"], *named, reason, started)

    def _judge(
        self, view: View, principal: Principal, kind: str, name: str, address: str | None
    ) -> str:
        """Why a call not cleared before may go ahead (for the audit), or raise why not:
        grants, the policies of the roles that grant it and of the tool, the buckets; a call
        that needs none of those is cleared for next time."""
        roles = view.granting(kind, name)
        if not roles:
            raise AccessDenied(
                f"Forbidden: {_what(principal, kind, name)}", self.roles.scopes_for(kind, name)
            )
        now: datetime.datetime | None = None
        granted_by: Role | None = None
        refusal = ""
        for role in roles:
            if role.policy is None:
                granted_by = role
                break
            now = now or _utc(self._clock())
            found = role.policy.refusal(principal, address, now)
            if found is None:
                granted_by = role
                break
            refusal = refusal or f"role {role.name}: {found}"
        if granted_by is None:
            raise AccessDenied(
                f"Forbidden: {_what(principal, kind, name)} now: {refusal}",
                self.roles.scopes_for(kind, name),
            )
        rules = self._rules(name) if kind == "tools" else ()
        for rule in rules:
            if rule.policy is not None:
                found = rule.policy.refusal(principal, address, now or _utc(self._clock()))
                if found is not None:
                    raise AccessDenied(f"Forbidden: {_what(principal, kind, name)} now: {found}")
        self._spend(principal, name, rules)
        reason = f"role {granted_by.name}"
        if granted_by.policy is None and not rules:
            if len(view.cleared) >= _CACHE_LIMIT:
                view.cleared.clear()
            view.cleared[(kind, name)] = reason
        return reason

    def _spend(self, principal: Principal, name: str, rules: tuple[_ToolRule, ...]) -> None:
        """Take a token from each bucket the call counts against (the tool's first)."""
        now = time.monotonic()
        for rule in rules:
            if rule.rate is not None:
                wait = self._buckets.take((rule.pattern, principal.id, name), rule.rate, now)
                if wait:
                    raise RateLimited(
                        f"Too many calls of {name!r}: at most {rule.rate.per_second:g}/s "
                        f"(burst {rule.rate.capacity})",
                        wait,
                    )
        if self._per_principal is not None:
            wait = self._buckets.take(("principal", principal.id), self._per_principal, now)
            if wait:
                rate = self._per_principal
                raise RateLimited(
                    f"Too many calls: at most {rate.per_second:g}/s (burst {rate.capacity})",
                    wait,
                )

    def _rules(self, name: str) -> tuple[_ToolRule, ...]:
        found = self._rules_for.get(name)
        if found is None:
            found = tuple(
                rule
                for pattern, rule in self._tool_rules
                if pattern is not None and pattern.match(name)
            )
            if len(self._rules_for) >= _CACHE_LIMIT:
                self._rules_for.clear()
            self._rules_for[name] = found
        return found

    def server(self, kind: str, name: str) -> str | None:
        """The server behind an exposed name, for the audit (None when none is known)."""
        for each in ("resources", "templates") if kind == "resources" else (kind,):
            entry = self._catalogs[each].lookup(name)
            if entry is not None:
                return entry.server
        split = split_uri(name) if kind == "resources" else None
        if split is not None:
            for server, prefix in self._catalogs["resources"].prefixes.items():
                if prefix and uri_scheme(prefix) == split[0]:
                    return server
        return None

    # ---------------------------------------------------------------- auditing

    def done(self, ticket: Ticket, answer: bytes | None) -> None:
        """Audit an admitted call with its answer (None: it went out another way)."""
        self._record(ticket, "allow", ticket.reason, outcome(answer))

    def _record(self, ticket: Ticket, decision: str, reason: str, result: str) -> None:
        self.audit.record(
            "call",
            ticket.principal,
            session=ticket.session,
            method=ticket.method,
            name=ticket.name,
            server=self.server(ticket.kind, ticket.name),
            decision=decision,
            reason=reason,
            latency_ms=round((time.perf_counter() - ticket.started) * 1000, 3),
            outcome=result,
        )


def outcome(answer: bytes | None) -> str:
    """``ok``, ``error`` (a JSON-RPC error answer) or ``answered`` (it went out elsewhere)."""
    if answer is None:
        return "answered"
    if b'"error"' not in answer:  # the common answer: no decoding
        return "ok"
    try:
        decoded = orjson.loads(answer)
    except orjson.JSONDecodeError:
        return "ok"
    return "error" if isinstance(decoded, dict) and "error" in decoded else "ok"


def _what(principal: Principal, kind: str, name: str) -> str:
    """Who may not do what, for a refusal's message."""
    return f"{principal.id or 'an anonymous client'} may not {_VERBS[kind]} {name!r}"


def _utc(now: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(now, datetime.UTC)
