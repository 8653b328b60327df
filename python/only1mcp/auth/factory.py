"""Builds the :class:`Authenticator` that ``auth:`` describes (called by the composition root).

Files named by the config (``api_keys_file``, ``jwt.key_file``) are read here, relative to the
config file; a problem with one is a :class:`~only1mcp.errors.ConfigError` naming the key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from only1mcp.auth.keys import load_api_keys, resolve
from only1mcp.auth.metadata import ResourceMetadata
from only1mcp.config.auth import AuthConfig, JwtConfig
from only1mcp.errors import ConfigError

if TYPE_CHECKING:
    # Imported by the functions that build them: a gateway without authentication (every
    # start imports this module) then loads neither httpx nor cryptography (~9 MB, ~0.1 s).
    import httpx
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

    from only1mcp.auth.authenticator import Authenticator
    from only1mcp.auth.tokens import JwtVerifier

DEFAULT_ROLE_CLAIMS = ["roles", "scope"]


def build_authenticator(config: AuthConfig, resource: str, source: str) -> Authenticator:
    """The checks of every mode in ``config.modes`` (``resource``: this MCP resource's URI, the
    default token audience; ``source``: the config file)."""
    import httpx

    from only1mcp.auth.authenticator import Authenticator
    from only1mcp.auth.introspection import Introspector

    client = httpx.AsyncClient(follow_redirects=False, trust_env=False)
    keys = load_api_keys(config, source) if "api_key" in config.modes else None
    verifier = None
    if config.jwt is not None:
        verifier = _jwt(config.jwt, resource, source, client)
    introspector = None
    if config.introspection is not None:
        role_claims = config.jwt.role_claims if config.jwt else DEFAULT_ROLE_CLAIMS
        audience = config.jwt.audience if config.jwt and config.jwt.audience else [resource]
        introspector = Introspector(config.introspection, client, role_claims, audience)
    return Authenticator(keys, verifier, introspector, config.token_cache_size, client)


def check_files(config: AuthConfig, source: str) -> None:
    """Read the files ``config`` names (API keys, the JWT public key), as building would:
    ``only1mcp validate`` reports their problems without starting anything."""
    if "api_key" in config.modes:
        load_api_keys(config, source)
    if config.jwt is not None and config.jwt.key_file is not None:
        _public_key(config.jwt.key_file, source)


def build_metadata(config: AuthConfig, resource: str, scopes: list[str]) -> ResourceMetadata:
    """The RFC 9728 document (``scopes``: the default when ``scopes_supported`` is empty)."""
    return ResourceMetadata(
        resource,
        tuple(config.authorization_servers),
        tuple(config.scopes_supported or scopes),
    )


def _jwt(config: JwtConfig, resource: str, source: str, client: httpx.AsyncClient) -> JwtVerifier:
    from only1mcp.auth.jwks import JwksKeys
    from only1mcp.auth.tokens import JwtVerifier

    audience = config.audience or [resource]
    if config.jwks_url is not None:
        return JwtVerifier(config, audience, jwks=JwksKeys(config.jwks_url, client))
    if config.secret is not None:
        return JwtVerifier(config, audience, static_key=config.secret.get_secret_value().encode())
    assert config.key_file is not None
    return JwtVerifier(config, audience, static_key=_public_key(config.key_file, source))


def _public_key(name: str, source: str) -> PublicKeyTypes:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    path = resolve(name, source)
    key = "auth.jwt.key_file"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(source, key, f"cannot read {str(path)!r}: {exc.strerror}") from None
    try:
        return load_pem_public_key(data)
    except (ValueError, TypeError):
        raise ConfigError(
            source, key, f"{str(path)!r} is not a PEM public key (never give a private key)"
        ) from None
