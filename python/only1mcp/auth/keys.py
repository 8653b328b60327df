"""API keys: each stored as its SHA-256, bound to a principal ``key:<name>`` and its roles.

A presented key is hashed and compared with every stored hash in constant time
(``hmac.compare_digest``, no early exit), so the time taken says nothing about how close a guess
came. Keys come from ``auth.api_keys`` and from ``auth.api_keys_file`` (YAML or JSON, a list of
the same entries; relative to the config file).
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from only1mcp.auth.principal import Principal
from only1mcp.config.auth import ApiKeyConfig, AuthConfig
from only1mcp.errors import ConfigError

_ENTRIES = TypeAdapter(list[ApiKeyConfig])


class ApiKeys:
    """The configured keys; :meth:`find` turns a presented key into its principal."""

    def __init__(self, entries: list[ApiKeyConfig]) -> None:
        self._keys = [
            (bytes.fromhex(entry.hash.removeprefix("sha256:")), _principal(entry))
            for entry in entries
        ]

    def __len__(self) -> int:
        return len(self._keys)

    def find(self, presented: str) -> Principal | None:
        digest = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).digest()
        found: Principal | None = None
        for stored, principal in self._keys:
            if hmac.compare_digest(digest, stored):
                found = principal
        return found


def _principal(entry: ApiKeyConfig) -> Principal:
    return Principal(f"key:{entry.name}", frozenset(entry.roles))


def load_api_keys(config: AuthConfig, source: str) -> ApiKeys:
    """The keys of ``config`` and of its ``api_keys_file`` (``source``: the config file, whose
    directory relative paths start from; errors name it and the key)."""
    entries = list(config.api_keys)
    if config.api_keys_file is not None:
        entries += _read_file(config.api_keys_file, source)
    seen: set[str] = set()
    for entry in entries:
        if entry.name in seen:
            raise ConfigError(source, "auth.api_keys_file", f"API key {entry.name!r} given twice")
        seen.add(entry.name)
    return ApiKeys(entries)


def _read_file(name: str, source: str) -> list[ApiKeyConfig]:
    path = resolve(name, source)
    key = "auth.api_keys_file"
    try:
        data: Any = yaml.safe_load(path.read_text("utf-8"))
    except OSError as exc:
        raise ConfigError(source, key, f"cannot read {str(path)!r}: {exc.strerror}") from None
    except (yaml.YAMLError, UnicodeDecodeError):
        raise ConfigError(source, key, f"{str(path)!r} is not YAML or JSON") from None
    try:
        return _ENTRIES.validate_python(data or [])
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(step) for step in first["loc"])
        message = first.get("ctx", {}).get("problem", first["msg"])
        raise ConfigError(source, f"{key} ({str(path)!r}) [{where}]", message) from None


def resolve(name: str, source: str) -> Path:
    """``name`` as a path: relative ones start from the config file's directory."""
    path = Path(name).expanduser()
    if not path.is_absolute() and source:
        path = Path(source).parent / path
    return path
