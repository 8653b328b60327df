"""The configuration model: what a valid Only1MCP configuration is.

Every rule a configuration must follow lives here, as pydantic v2 validation, so that a config
built in code (``Config.model_validate(...)``) obeys the same rules as one read from a file. The
loader (``loader.py``) only reads files, interpolates ``${VAR}``, imports the Claude Desktop
format and turns validation errors into :class:`~only1mcp.errors.ConfigError`.

Rules that pydantic cannot word well raise :func:`problem` errors: their context carries the
human message and, when the error belongs to a key below the one being validated, that key.
"""

from __future__ import annotations

import enum
import re
from typing import Annotated, Any, Literal
from urllib.parse import SplitResult, urlsplit, urlunsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    SecretStr,
    Tag,
    field_validator,
    model_validator,
)

from only1mcp.catalog.naming import uri_scheme
from only1mcp.catalog.shaping import Shape

from .access import AccessConfig
from .admin import AdminConfig, is_loopback
from .audit import AuditConfig
from .auth import AuthConfig, BackendOAuthConfig
from .cluster import ClusterConfig
from .policies import (
    MASK,
    PROBLEM,
    SECRET_MAPS,
    BreakerConfig,
    Count,
    HealthConfig,
    KeyPath,
    RestartConfig,
    Retry,
    Seconds,
    Strategy,
    Strict,
    Timeout,
    TimeoutsConfig,
    check_hash_key,
    check_progress_cap,
    not_bool,
    problem,
)
from .shaping import DiscoveryConfig, DiscoveryField, Schemas, Shaping
from .telemetry import MetricsConfig, TracingConfig

__all__ = [
    "PROBLEM",
    "Config",
    "FrontConfig",
    "HttpServerConfig",
    "KeyPath",
    "PoolServerConfig",
    "Protocol",
    "ServerConfig",
    "StdioServerConfig",
    "redacted",
]

NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
SEPARATOR_RE = re.compile(r"[A-Za-z0-9_.-]+")
ENV_PATTERN_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\*?|\*")
ORIGIN_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
#: Accepted spellings of ``transport`` (and of its alias ``type``).
TRANSPORTS = {
    "stdio": "stdio",
    "http": "http",
    "streamable-http": "http",
    "streamableHttp": "http",
    "sse": "sse",
}


MIN_SECRET = 16


def _check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise problem("bad server name: use 1-64 characters of A-Z, a-z, 0-9, '_' and '-'")
    return name


def _check_prefix(prefix: str | None) -> str | None:
    if prefix and not NAME_RE.fullmatch(prefix):
        raise problem("must be \"\" or 1-64 characters of A-Z, a-z, 0-9, '_' and '-'")
    return prefix


def _check_command(command: str) -> str:
    if not command.strip():
        raise problem("must not be empty")
    return command


def _split(url: str) -> SplitResult | None:
    """``url`` split, or None when its host or port cannot be parsed."""
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        return None
    return parts


def _check_url(url: str) -> str:
    parts = _split(url)
    if parts is None:
        raise problem("not a valid URL (bad host or port)")
    if parts.scheme not in ("http", "https"):
        raise problem("must be an http:// or https:// URL")
    if not parts.hostname:
        raise problem("URL has no host")
    if any(ch.isspace() for ch in url):
        raise problem("URL must not contain spaces")
    return url


def _check_secret(secret: SecretStr) -> SecretStr:
    if len(secret.get_secret_value()) < MIN_SECRET:
        raise problem(f"a secret needs at least {MIN_SECRET} characters")
    return secret


def _check_origin(origin: str) -> str:
    parts = _split(origin)
    if (
        parts is None
        or not ORIGIN_SCHEME_RE.fullmatch(parts.scheme)
        or not parts.hostname
        or "@" in parts.netloc
        or parts.path
        or parts.query
        or parts.fragment
    ):
        raise problem(
            "an Origin is scheme://host[:port] with no path, e.g. 'https://app.example.com'"
        )
    return origin


def _check_cors_origin(origin: str) -> str:
    return origin if origin == "*" else _check_origin(origin)


def _check_env_pattern(pattern: str) -> str:
    if not ENV_PATTERN_RE.fullmatch(pattern):
        raise problem(
            "an environment variable name (A-Z, a-z, 0-9, '_'), or a prefix ending in '*'"
        )
    return pattern


Prefix = Annotated[str | None, AfterValidator(_check_prefix)]


def _normalize_server(data: Any) -> Any:
    """Resolve the ``type`` alias; refuse unknown transports, both command and url."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    key = "transport"
    if "type" in data:
        if "transport" in data:
            raise problem("give `transport` or its alias `type`, not both", ("type",))
        key = "type"
        data["transport"] = data.pop("type")
    if "transport" in data:
        raw = data["transport"]
        if not isinstance(raw, str) or raw not in TRANSPORTS:
            raise problem(
                "unknown transport; use 'stdio', 'http' or 'sse' "
                "('streamable-http' and 'streamableHttp' also mean http)",
                (key,),
            )
        data["transport"] = TRANSPORTS[raw]
    if "command" in data and "url" in data:
        raise problem("a server has `command` (stdio) or `url` (http), not both")
    return data


def _transport_tag(value: Any) -> str:
    """Which model validates a server entry: the explicit transport, else inferred."""
    if isinstance(value, dict):
        if "replicas" in value:
            return "pool"
        raw = value.get("transport", value.get("type"))
        if isinstance(raw, str) and raw in TRANSPORTS:
            return "stdio" if TRANSPORTS[raw] == "stdio" else "http"  # sse: an http model too
        if "url" in value and "command" not in value:
            return "http"
        # Neither `command` nor `url`: report the missing key of the likelier kind.
        return "http" if "headers" in value and "command" not in value else "stdio"
    transport = str(getattr(value, "transport", "stdio"))
    return "http" if transport == "sse" else transport  # a model: stdio, http, sse or pool


class Isolation(enum.StrEnum):
    """Who shares a backend process (or HTTP session)."""

    #: One instance for every client session, requests multiplexed by id (the default).
    SHARED = "shared"
    #: One instance per client session, started on first use and stopped with the session: for
    #: stateful servers, and for exact routing of a stdio server's sampling/elicitation requests.
    #: A bridged 2026 call is a session of one call: it leases an instance for as long as it runs.
    SESSION = "session"
    #: Handshake sessions share one instance (as ``shared``); each bridged 2026 call leases one of
    #: its own (kept warm between calls): for a server whose tools ask their 2026 callers
    #: questions under concurrency, without a process per handshake session.
    CALL = "call"


class Protocol(enum.StrEnum):
    """Which protocol era Only1MCP speaks with a server."""

    #: Probe with ``server/discover`` (2026-07-28); fall back to the ``initialize`` handshake.
    AUTO = "auto"
    #: ``initialize`` right away: no probe (for servers that never answer a pre-initialize
    #: request, or choke on it).
    HANDSHAKE = "handshake"
    #: Stateless MCP 2026-07-28 only: ``server/discover``, no fallback.
    STATELESS = "2026-07-28"


class _Server(Shaping):
    """What every server kind shares besides its transport (and the shaping keys)."""

    #: None: the server's name; "": no prefix.
    prefix: Prefix = None
    enabled: bool = True
    #: Seconds per request.
    timeout: Timeout = 30.0
    isolation: Isolation = Isolation.SHARED
    #: A shared handshake-era server whose lists vary with the client's capabilities gets one
    #: instance per capability set of its clients (variants.py); False: its one shared
    #: instance, initialized with every capability, serves every client.
    capability_instances: bool = True
    protocol: Protocol = Protocol.AUTO
    health: HealthConfig = HealthConfig()
    breaker: BreakerConfig = BreakerConfig()
    timeouts: TimeoutsConfig = TimeoutsConfig()
    restart: RestartConfig = RestartConfig()

    @model_validator(mode="after")
    def _check_progress_cap(self) -> Any:
        check_progress_cap(self.timeout, self.timeouts)
        return self


class RlimitsConfig(Strict):
    """``setrlimit`` limits for a stdio server, set in the child before it runs."""

    #: CPU seconds (RLIMIT_CPU): the kernel ends the process when it has used them.
    cpu_seconds: Count | None = None
    #: Open file descriptors (RLIMIT_NOFILE).
    open_files: Count | None = None
    #: Virtual address space in MiB (RLIMIT_AS). Runtimes that reserve much more than they use
    #: (Node.js, the JVM) need a generous value.
    address_space_mb: Count | None = None


class _StdioTransport(Strict):
    """How to start a child process spoken to over stdin/stdout."""

    transport: Literal["stdio"] = "stdio"
    command: Annotated[str, AfterValidator(_check_command)]
    args: list[str] = Field(default_factory=list)
    #: Merged over the aggregator's own environment by the backend.
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    #: Restart the process when its process group's resident memory exceeds this (MiB).
    memory_limit_mb: Count | None = None
    #: The aggregator's environment variables the process inherits: names, or prefixes ending
    #: in ``*`` (``LC_*``). None: a minimal safe list (see only1mcp.backends.child); nothing
    #: else of the aggregator's environment (its secrets) reaches the server. ``env`` entries
    #: are always passed.
    env_inherit: list[Annotated[str, AfterValidator(_check_env_pattern)]] | None = None
    #: Kernel limits applied to the process (and inherited by its children).
    rlimits: RlimitsConfig | None = None

    _normalize = model_validator(mode="before")(_normalize_server)


class _HttpTransport(Strict):
    """Where to reach an HTTP server: Streamable HTTP, or the legacy HTTP+SSE transport of MCP
    2024-11-05 with ``transport: sse`` (``url`` is then the SSE stream's URL)."""

    transport: Literal["http", "sse"] = "http"
    url: Annotated[str, AfterValidator(_check_url)]
    headers: dict[str, str] = Field(default_factory=dict)
    #: Client credentials for a token of this backend's own (Streamable HTTP only).
    oauth: BackendOAuthConfig | None = None

    _normalize = model_validator(mode="before")(_normalize_server)

    @model_validator(mode="after")
    def _check_oauth(self) -> Any:
        if self.oauth is None:
            return self
        if self.transport != "http":
            raise problem("`oauth` is supported for transport http only", ("oauth",))
        if any(name.lower() == "authorization" for name in self.headers):
            raise problem("give an Authorization header or `oauth`, not both", ("oauth",))
        return self


class StdioServerConfig(_Server, _StdioTransport):
    """A backend started as a child process and spoken to over stdin/stdout."""


class HttpServerConfig(_Server, _HttpTransport):
    """A backend reached over HTTP (Streamable HTTP or legacy SSE)."""


class StdioReplicaConfig(_StdioTransport):
    """One process of a pool."""

    #: Share of the traffic (weighted_random) or of the hash ring (consistent_hash).
    weight: Count = 1


class HttpReplicaConfig(_HttpTransport):
    """One URL of a pool."""

    weight: Count = 1


ReplicaConfig = Annotated[
    Annotated[StdioReplicaConfig, Tag("stdio")] | Annotated[HttpReplicaConfig, Tag("http")],
    Discriminator(_transport_tag),
]


def _normalize_pool(data: Any) -> Any:
    if isinstance(data, dict):
        for key in ("command", "url", "type", "transport"):
            if key in data and not (key == "transport" and data[key] == "pool"):
                raise problem(
                    f"a server with `replicas` has no `{key}` of its own; set it on each replica",
                    (key,),
                )
    return data


class PoolServerConfig(_Server):
    """A logical server served by several replicas (processes and/or URLs)."""

    transport: Literal["pool"] = "pool"
    replicas: list[ReplicaConfig] = Field(min_length=1)
    strategy: Strategy = Strategy.ROUND_ROBIN
    #: What consistent_hash hashes: ``session``, ``header:<Name>`` or ``argument:<name>``.
    hash_key: Annotated[str, AfterValidator(check_hash_key)] | None = None
    retry: Retry = Retry.SAFE

    _normalize = model_validator(mode="before")(_normalize_pool)

    @model_validator(mode="after")
    def _check_hash_key(self) -> PoolServerConfig:
        if self.hash_key is not None and self.strategy is not Strategy.CONSISTENT_HASH:
            raise problem("applies only to `strategy: consistent_hash`", ("hash_key",))
        return self

    def replica_servers(self) -> list[StdioServerConfig | HttpServerConfig]:
        """Each replica as a server config of its own, with the pool's policies."""
        shared = {key: getattr(self, key) for key in _Server.model_fields}
        servers: list[StdioServerConfig | HttpServerConfig] = []
        for replica in self.replicas:
            fields = {key: getattr(replica, key) for key in type(replica).model_fields}
            del fields["weight"]
            if isinstance(replica, StdioReplicaConfig):
                servers.append(StdioServerConfig(**fields, **shared))
            else:
                servers.append(HttpServerConfig(**fields, **shared))
        return servers


ServerConfig = Annotated[
    Annotated[StdioServerConfig, Tag("stdio")]
    | Annotated[HttpServerConfig, Tag("http")]
    | Annotated[PoolServerConfig, Tag("pool")],
    Discriminator(_transport_tag),
]
"""One backend server; without ``transport``: ``command`` means stdio, ``url`` means http,
``replicas`` a pool."""

ServerName = Annotated[str, AfterValidator(_check_name)]


class CorsConfig(Strict):
    """CORS for browser-based MCP clients on other origins.

    Every origin listed here is also allowed by the DNS-rebinding check (``allowed_origins``):
    one list decides whether a browser page may call, the CORS headers only tell the browser.
    ``"*"`` allows any origin (never with credentials)."""

    allow_origins: list[Annotated[str, AfterValidator(_check_cors_origin)]] = Field(min_length=1)
    #: Let the browser send cookies / HTTP auth and read the answer (``Authorization`` headers
    #: set by the page's script need no credentials mode).
    allow_credentials: bool = False
    #: Seconds a browser may cache a preflight's answer.
    max_age: Annotated[int, BeforeValidator(not_bool), Field(ge=0)] = 600

    @model_validator(mode="after")
    def _check_wildcard(self) -> CorsConfig:
        if "*" in self.allow_origins and self.allow_credentials:
            raise problem(
                "'*' cannot be combined with allow_credentials: true; list the origins",
                ("allow_origins",),
            )
        return self


class FrontConfig(BaseModel):
    """The endpoint that MCP clients connect to."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(default="127.0.0.1", min_length=1)
    #: 0 picks a free port.
    port: Annotated[int, BeforeValidator(not_bool), Field(ge=0, le=65535)] = 8765
    #: Origins allowed besides loopback ones.
    allowed_origins: list[Annotated[str, AfterValidator(_check_origin)]] = []
    #: Secrets that seal the requestState of 2026-07-28 multi round-trip calls; the first
    #: seals, all unseal (rotation). Empty: a per-process key.
    state_keys: list[Annotated[SecretStr, AfterValidator(_check_secret)]] = []
    #: Seconds the calls in flight at SIGTERM/SIGINT (or the end of stdin) get to finish
    #: before each is answered "Only1MCP is shutting down" (-32603).
    shutdown_grace: Seconds = 3.0
    #: Seconds a handshake session may stay idle (no request, no open stream) before it ends
    #: and what it holds (per-session backends, its event log) is freed.
    session_ttl: Timeout = 3600.0
    #: Sessions open at once; when full the least recently used idle one is ended, and when
    #: none is idle an ``initialize`` is refused with HTTP 503.
    max_sessions: Count = 10000
    #: The same bound per principal (authenticated identity; every client shares one when
    #: authentication is off); refused with HTTP 429 and ``Retry-After``.
    max_sessions_per_principal: Count = 1000
    #: Seconds a client has to send a whole request (head and body) once it begins it, or to
    #: begin one on a new connection; a slower client is answered 408 and disconnected.
    request_timeout: Timeout = 30.0
    #: Cross-origin access for browser clients (off by default: see :class:`CorsConfig`).
    cors: CorsConfig | None = None


class Config(BaseModel):
    """A whole configuration. Equality ignores :attr:`source`."""

    model_config = ConfigDict(extra="forbid")

    servers: dict[ServerName, ServerConfig] = Field(min_length=1)
    separator: str = "__"
    front: FrontConfig = Field(default_factory=lambda: FrontConfig())
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    auth: AuthConfig = AuthConfig()
    access: AccessConfig = AccessConfig()
    audit: AuditConfig = AuditConfig()
    #: Schema detail in lists for servers that do not set their own ``schemas``.
    schemas: Schemas = Schemas.FULL
    #: ``lazy``: tools are found with search_tools (see config/shaping.py).
    discovery: DiscoveryField = DiscoveryConfig()
    metrics: MetricsConfig = MetricsConfig()
    tracing: TracingConfig = TracingConfig()
    admin: AdminConfig = AdminConfig()
    #: Shared state for several processes (Redis); off by default.
    cluster: ClusterConfig = ClusterConfig()
    #: The file this configuration was loaded from (set by the loader; never dumped).
    source: str = Field(default="", exclude=True)

    # Key paths (as in the file) of strings that were built by ${VAR} interpolation, with the
    # string re-rendered with every substitution masked; see redacted().
    _masked: dict[KeyPath, str] = PrivateAttr(default_factory=dict)

    @field_validator("separator")
    @classmethod
    def _check_separator(cls, value: str) -> str:
        if not SEPARATOR_RE.fullmatch(value):
            raise problem("must be 1 or more characters of A-Z, a-z, 0-9, '_', '.' and '-'")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_log_level(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_prefixes(self) -> Config:
        owner: dict[str, str] = {}  # prefix, and the URI scheme it makes, → server
        for name, server in self.enabled_servers().items():
            prefix = self.exposed_prefix(name)
            if not prefix:
                continue
            key: KeyPath = ("servers", name) + (() if server.prefix is None else ("prefix",))
            if prefix in owner:
                raise problem(
                    f"same prefix as server '{owner[prefix]}'; give one of them another `prefix`",
                    key,
                )
            scheme = f"{uri_scheme(prefix)}+"
            if scheme in owner:
                raise problem(
                    f"its resource URIs would start '{scheme}' like server '{owner[scheme]}''s "
                    "('_' becomes '-' in a URI scheme); give one of them another `prefix`",
                    key,
                )
            owner[prefix] = owner[scheme] = name
        return self

    @model_validator(mode="after")
    def _check_key_roles(self) -> Config:
        """An API key's roles are roles of ``access.roles`` (a typo would deny it everything)."""
        for index, key in enumerate(self.auth.api_keys):
            self.access.check_roles(key.roles, ("auth", "api_keys", index, "roles"))
        return self

    @model_validator(mode="after")
    def _check_admin_exposure(self) -> Config:
        admin = self.admin
        auth = admin.auth or self.auth
        if admin.enabled and not auth.enabled and not is_loopback(admin.host):
            raise problem(
                "a non-loopback admin listener needs authentication: configure `auth` (or "
                "`admin.auth`), or bind 127.0.0.1",
                ("admin", "host"),
            )
        return self

    @property
    def admin_auth(self) -> AuthConfig:
        """The credentials the admin listener accepts: ``admin.auth``, else ``auth``."""
        return self.admin.auth or self.auth

    def enabled_servers(self) -> dict[str, ServerConfig]:
        """The servers with ``enabled: true``, in file order."""
        return {name: server for name, server in self.servers.items() if server.enabled}

    def shapes(self, kind: str) -> dict[str, Shape]:
        """Server → the Shape of its list of ``kind`` (servers without shaping are absent)."""
        found: dict[str, Shape] = {}
        for name, server in self.enabled_servers().items():
            shapes = server.shapes(self.schemas)
            if shapes is not None:
                found[name] = shapes[kind]
        return found

    def exposed_prefix(self, name: str) -> str:
        """The prefix put before the names of server ``name``'s tools: its prefix or its name."""
        prefix = self.servers[name].prefix
        return name if prefix is None else prefix

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Config):
            return NotImplemented
        return self.model_dump() == other.model_dump()


def _mask_userinfo(url: str) -> str:
    parts: SplitResult = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:{MASK}@{host}"))


def redacted(config: Config) -> dict[str, Any]:
    """A JSON-ready dump of ``config`` that is safe to print or log.

    Values of ``env`` and ``headers`` are replaced by ``"***"``, so is a password in a URL, and
    every substitution made by ``${VAR}`` interpolation elsewhere is masked in place.
    """
    data: dict[str, Any] = config.model_dump(mode="json")
    for path, masked in config._masked.items():
        parent: Any = data
        for step in path[:-1]:
            parent = child(parent, step)
        if isinstance(child(parent, path[-1]), str):
            parent[path[-1]] = masked
    for server in data["servers"].values():
        for transport in [server, *server.get("replicas", ())]:
            for secrets in SECRET_MAPS:
                if secrets in transport:
                    transport[secrets] = dict.fromkeys(transport[secrets], MASK)
            if "url" in transport:
                transport["url"] = _mask_userinfo(transport["url"])
    return data


def child(node: Any, step: str | int) -> Any:
    """``node[step]`` in a decoded document, or None where there is no such key or index."""
    if isinstance(node, dict):
        return node.get(step)
    if isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
        return node[step]
    return None
