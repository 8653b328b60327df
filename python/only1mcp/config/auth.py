"""The ``auth:`` section: how clients of the HTTP fronts prove who they are.

``modes: [none]`` (the default) keeps today's behaviour: no credentials, loopback binds only.
Otherwise every request but the protected resource metadata and ``/healthz`` needs an API key,
a JWT bearer token or an introspected OAuth token, as the listed modes allow.

Secrets (an API key given in clear, a JWT secret, the introspection client's secret) are
``SecretStr``: a repr or a dump shows ``**********``. An API key given in clear is hashed here
and its text is not kept.
"""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr, model_validator

from .policies import Count, Seconds, Strict, not_bool, problem

AuthMode = Literal["none", "api_key", "jwt", "introspection"]

#: Algorithms verified with a shared secret; the others need a public key (RFC 8725 §3.1).
HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
PUBLIC_KEY_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
#: The most clock skew a token's ``exp``/``nbf``/``iat`` are granted.
MAX_LEEWAY = 60
MIN_SECRET = 32  # RFC 7518 §3.2: an HS256 key at least as long as the hash
HASH_RE = re.compile(r"sha256:[0-9a-f]{64}")
KEY_NAME_RE = re.compile(r"[A-Za-z0-9_.@-]{1,64}")


def hash_key(key: str) -> str:
    """The stored form of an API key: ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def _check_url(url: str) -> str:
    if not re.fullmatch(r"https?://[^\s/?#]+[^\s]*", url):
        raise problem("must be an http:// or https:// URL")
    return url


Url = Annotated[str, AfterValidator(_check_url)]


def _check_key_name(name: str) -> str:
    if not KEY_NAME_RE.fullmatch(name):
        raise problem("use 1-64 characters of A-Z, a-z, 0-9, '_', '.', '@' and '-'")
    return name


def _hash_clear_key(data: Any) -> Any:
    """A key given in clear becomes its hash here: the text is not kept in the config."""
    if not isinstance(data, dict) or "key" not in data:
        return data
    data = dict(data)
    key = data.pop("key")
    if "hash" in data:
        raise problem("give the key's `hash` or the `key` itself, not both", ("key",))
    if not isinstance(key, str):
        raise problem("expected a string", ("key",))
    if len(key) < 16:
        raise problem("an API key needs at least 16 characters", ("key",))
    data["hash"] = hash_key(key)
    return data


def _check_hash(value: str) -> str:
    if not HASH_RE.fullmatch(value):
        raise problem("expected sha256:<64 lowercase hex digits>")
    return value


class ApiKeyConfig(Strict):
    """One API key: its principal is ``key:<name>``. Give ``hash: sha256:<hex>``, or the
    ``key`` itself (from ``${VAR}``), which is hashed at load."""

    name: Annotated[str, AfterValidator(_check_key_name)]
    hash: Annotated[str, AfterValidator(_check_hash)]
    roles: list[str] = Field(default_factory=list)

    _hash_clear = model_validator(mode="before")(_hash_clear_key)


Leeway = Annotated[int, BeforeValidator(not_bool), Field(ge=0, le=MAX_LEEWAY)]


class JwtConfig(Strict):
    """JWT bearer tokens: who issues them, for which audience, verified with which key."""

    issuer: Annotated[str, Field(min_length=1)]
    #: Accepted ``aud`` values; default: ``[auth.resource]`` (RFC 8707).
    audience: list[str] = Field(default_factory=list)
    algorithms: list[str] = Field(default_factory=lambda: ["RS256"], min_length=1)
    #: Exactly one of: a JWKS URL (cached, refreshed on an unknown ``kid``), a PEM public key
    #: file, or a shared secret (HS* algorithms only).
    jwks_url: Url | None = None
    key_file: str | None = None
    secret: SecretStr | None = None
    leeway: Leeway = 30
    #: Claims whose values (a list, or a space-separated string) become the principal's roles.
    role_claims: list[str] = Field(default_factory=lambda: ["roles", "scope"])

    @model_validator(mode="after")
    def _check_keys(self) -> JwtConfig:
        sources = [k for k in ("jwks_url", "key_file", "secret") if getattr(self, k) is not None]
        if len(sources) != 1:
            raise problem("give exactly one of `jwks_url`, `key_file` or `secret`")
        for index, alg in enumerate(self.algorithms):
            if alg not in HMAC_ALGORITHMS | PUBLIC_KEY_ALGORITHMS:
                raise problem(
                    "not an accepted algorithm (HS256/384/512, RS*, PS*, ES*, EdDSA; never none)",
                    ("algorithms", index),
                )
            if (alg in HMAC_ALGORITHMS) != (self.secret is not None):
                why = (
                    "HS* algorithms need `secret`"
                    if self.secret is None
                    else "a `secret` verifies HS* algorithms only"
                )
                raise problem(why, ("algorithms", index))
        if self.secret is not None and len(self.secret.get_secret_value()) < MIN_SECRET:
            raise problem(f"a JWT secret needs at least {MIN_SECRET} characters", ("secret",))
        return self


class IntrospectionConfig(Strict):
    """RFC 7662 token introspection, with a cache bounded in size and age."""

    url: Url
    client_id: Annotated[str, Field(min_length=1)]
    client_secret: SecretStr
    #: Seconds an answer is reused (never beyond the token's ``exp``).
    cache_ttl: Seconds = 60.0
    cache_size: Count = 10000
    timeout: Annotated[float, BeforeValidator(not_bool), Field(gt=0, le=60)] = 5.0


def _no_none_mix(modes: Any) -> Any:
    if isinstance(modes, list) and "none" in modes and len(modes) > 1:
        raise problem("`none` cannot be combined with other modes")
    return modes


class AuthConfig(Strict):
    """Which credentials the HTTP fronts accept; several modes may be combined."""

    modes: Annotated[
        list[AuthMode],
        AfterValidator(_no_none_mix),
        Field(min_length=1),
    ] = Field(default_factory=lambda: list[AuthMode](["none"]))
    #: The canonical URI of this MCP resource (RFC 8707): the JWT audience by default, and the
    #: ``resource`` of the metadata. Default: ``http://<front.host>:<front.port>/mcp``.
    resource: Url | None = None
    #: Listed in the protected resource metadata (RFC 9728).
    authorization_servers: list[Url] = Field(default_factory=list)
    #: Listed in the metadata and in each 401's ``scope``; default: the access roles' names.
    scopes_supported: list[str] = Field(default_factory=list)
    api_keys: list[ApiKeyConfig] = Field(default_factory=list)
    #: A YAML or JSON file holding a list of entries like ``api_keys``'s (relative paths are
    #: relative to the config file).
    api_keys_file: str | None = None
    jwt: JwtConfig | None = None
    introspection: IntrospectionConfig | None = None
    #: Verified tokens remembered (until their ``exp``) so a call redoes no signature check.
    token_cache_size: Count = 10000

    @model_validator(mode="after")
    def _check_modes(self) -> AuthConfig:
        names = [key.name for key in self.api_keys]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise problem("two API keys with the same name", ("api_keys", index, "name"))
        needs = {"jwt": self.jwt, "introspection": self.introspection}
        for mode, section in needs.items():
            if mode in self.modes and section is None:
                raise problem(f"mode `{mode}` needs an `auth.{mode}` section", ("modes",))
            if mode not in self.modes and section is not None:
                raise problem(f"add `{mode}` to `auth.modes` or remove this section", (mode,))
        has_keys = bool(self.api_keys) or self.api_keys_file is not None
        if "api_key" in self.modes and not has_keys:
            raise problem("mode `api_key` needs `api_keys` or `api_keys_file`", ("modes",))
        if "api_key" not in self.modes and has_keys:
            raise problem("add `api_key` to `auth.modes` or remove the keys", ("api_keys",))
        return self

    @property
    def enabled(self) -> bool:
        """Whether requests must authenticate (any mode but ``none``)."""
        return self.modes != ["none"]


class BackendOAuthConfig(Strict):
    """A backend's own OAuth client (``servers.<name>.oauth``): Only1MCP gets a token with the
    client-credentials grant and sends it to that backend (never a client's token)."""

    token_url: Url
    client_id: Annotated[str, Field(min_length=1)]
    client_secret: SecretStr
    scope: str | None = None
    #: RFC 8707 resource indicator: the backend's canonical URI, if its server wants one.
    resource: Url | None = None
