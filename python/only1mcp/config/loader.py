"""Reading configuration files: formats, ``${VAR}`` interpolation, Claude Desktop import.

Every failure becomes one :class:`~only1mcp.errors.ConfigError` naming the file, the key path
(``servers.git.args[2]``) and the problem. Messages name keys but never quote a configured
value, so that a secret (a token in ``env`` or ``headers``, an interpolated variable) cannot
reach a terminal or a log; for the same reason foreign exceptions are raised ``from None``
here, since their text (a pydantic ``input_value``, a YAML snippet) may quote the file.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from ..errors import ConfigError
from .policies import BreakerConfig, HealthConfig, RestartConfig, TimeoutsConfig
from .schema import (
    PROBLEM,
    Config,
    FrontConfig,
    HttpReplicaConfig,
    HttpServerConfig,
    KeyPath,
    PoolServerConfig,
    StdioReplicaConfig,
    StdioServerConfig,
    child,
)

__all__ = ["EXTENSIONS", "load_config", "parse_config"]

log = logging.getLogger("only1mcp.config")

#: Keys of a ``mcpServers`` entry that Only1MCP reads; others are logged and ignored.
CLAUDE_SERVER_KEYS = frozenset({"command", "args", "env", "cwd", "url", "headers", "type"})

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")
_VARIABLE = re.compile(r"(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(:-.*)?", re.DOTALL)
_TOML_POSITION = re.compile(r"^(.*) \((?:at line (\d+), column (\d+)|at end of document)\)$")
_MODELS: dict[str, type[BaseModel]] = {
    "stdio": StdioServerConfig,
    "http": HttpServerConfig,
    "pool": PoolServerConfig,
}
# The policy sections of a server.
_SECTIONS: dict[str, type[BaseModel]] = {
    "health": HealthConfig,
    "breaker": BreakerConfig,
    "timeouts": TimeoutsConfig,
    "restart": RestartConfig,
}
_REPLICA_MODELS: dict[str, type[BaseModel]] = {
    "stdio": StdioReplicaConfig,
    "http": HttpReplicaConfig,
}
_SIMPLE_MESSAGES = {
    "missing": "field required",
    "string_type": "expected a string",
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "finite_number": "must be a finite number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
    "list_type": "expected a list",
}
_BOUNDS = {
    "greater_than": ("gt", "must be greater than"),
    "greater_than_equal": ("ge", "must be at least"),
    "less_than": ("lt", "must be less than"),
    "less_than_equal": ("le", "must be at most"),
}

Problem = tuple[str, str]  # (rendered key path, message)


# --- public API -------------------------------------------------------------------------------


def load_config(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Config:
    """Read, interpolate and validate the configuration file at ``path``.

    The format follows the extension (``.yaml``/``.yml``, ``.toml``, ``.json``); ``environ``
    (default: ``os.environ``) supplies ``${VAR}`` values.
    """
    source = os.fspath(path)
    suffix = Path(source).suffix.lower()
    decode = _DECODERS.get(suffix)
    if decode is None:
        shown = f"'{suffix}'" if suffix else "(none)"
        raise ConfigError(
            source, "", f"unsupported file extension {shown}; use .yaml, .yml, .toml or .json"
        )
    text = _read_text(source)
    if not text.strip():
        raise ConfigError(source, "", "the file is empty")
    return parse_config(decode(text, source), source, environ)


def parse_config(data: Any, source: str, environ: Mapping[str, str] | None = None) -> Config:
    """Validate an already-decoded configuration (native or Claude Desktop ``mcpServers``).

    ``source`` names the origin in errors and becomes :attr:`Config.source`.
    """
    if data is None:
        raise ConfigError(source, "", "the configuration is empty")
    if not isinstance(data, Mapping):
        raise ConfigError(source, "", "expected a mapping at the top level, with a `servers` key")
    data = dict(data)
    root = "servers"
    if "mcpServers" in data:
        if "servers" in data:
            raise ConfigError(
                source, "", "both `servers` and `mcpServers` are present; use only one of them"
            )
        root = "mcpServers"
        data = _from_claude(data, source)
    elif "source" in data:
        raise ConfigError(source, "source", "unknown key")

    problems: list[tuple[KeyPath, str]] = []
    masked: dict[KeyPath, str] = {}
    data = _interpolate(data, (), environ if environ is not None else os.environ, problems, masked)
    if problems:
        raise _config_error(source, [(_render(key, data, root), text) for key, text in problems])
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems_ = [_describe(error, data, root) for error in exc.errors(include_url=False)]
        raise _config_error(source, problems_) from None
    config.source = source
    config._masked = masked
    return config


# --- files and formats ------------------------------------------------------------------------


def _read_text(source: str) -> str:
    try:
        raw = Path(source).read_bytes()
    except FileNotFoundError:
        raise ConfigError(source, "", "file not found") from None
    except IsADirectoryError:
        raise ConfigError(source, "", "is a directory, not a file") from None
    except PermissionError:
        raise ConfigError(source, "", "permission denied") from None
    except OSError as exc:
        raise ConfigError(source, "", f"cannot read: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(source, "", f"not UTF-8 text (bad byte at offset {exc.start})") from None


class _YamlLoader(yaml.SafeLoader):
    """Safe YAML that refuses duplicate keys (PyYAML silently keeps the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            key = self.construct_object(key_node)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{key}'", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def _load_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_YamlLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(source, "", f"{where}{exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, "", str(exc).splitlines()[0]) from None


def _load_toml(text: str, source: str) -> Any:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_POSITION.match(message)
        if match is None:
            raise ConfigError(source, "", _lower_first(message)) from None
        problem, line, column = match.groups()
        where = f"line {line}, column {column}" if line else "at end of file"
        raise ConfigError(source, "", f"{where}: {_lower_first(problem)}") from None


def _load_json(text: str, source: str) -> Any:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        for key, value in items:
            if key in obj:
                raise ConfigError(source, "", f"duplicate key '{key}'")
            obj[key] = value
        return obj

    # The stdlib parser, not orjson: it reports duplicate keys (orjson keeps the last one).
    try:
        return json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise ConfigError(source, "", f"{where}: {_lower_first(exc.msg)}") from None


_DECODERS: dict[str, Callable[[str, str], Any]] = {
    ".yaml": _load_yaml,
    ".yml": _load_yaml,
    ".toml": _load_toml,
    ".json": _load_json,
}
#: The file extensions :func:`load_config` understands.
EXTENSIONS = tuple(_DECODERS)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


# --- Claude Desktop / Cursor import -----------------------------------------------------------


def _from_claude(data: dict[str, Any], source: str) -> dict[str, Any]:
    """The native form of a ``{"mcpServers": {...}}`` file; other top-level keys are ignored."""
    servers = data["mcpServers"]
    if not isinstance(servers, dict):
        return {"servers": servers}
    native: dict[str, Any] = {}
    for name, entry in servers.items():
        if not isinstance(entry, dict):
            native[name] = entry
            continue
        native[name] = server = {k: v for k, v in entry.items() if k in CLAUDE_SERVER_KEYS}
        for key in [k for k in entry if k not in CLAUDE_SERVER_KEYS and k != "disabled"]:
            log.warning("%s: mcpServers.%s.%s: ignored (not used by Only1MCP)", source, name, key)
        if "disabled" in entry:
            disabled = entry["disabled"]
            if not isinstance(disabled, bool):
                key = _render(("servers", name, "disabled"), None, "mcpServers")
                raise ConfigError(source, key, "expected true or false")
            server["enabled"] = not disabled
    return {"servers": native}


# --- ${VAR} interpolation ---------------------------------------------------------------------


def _interpolate(
    node: Any,
    path: KeyPath,
    environ: Mapping[str, str],
    problems: list[tuple[KeyPath, str]],
    masked: dict[KeyPath, str],
) -> Any:
    """``node`` with ``${VAR}`` expanded in every string value (keys are left alone)."""
    if isinstance(node, str):
        if "$" not in node:
            return node
        value, mask, errors = _expand(node, environ)
        problems.extend((path, error) for error in errors)
        if mask is not None:
            masked[path] = mask
        return value
    if isinstance(node, dict):
        return {
            key: _interpolate(value, (*path, key), environ, problems, masked)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [
            _interpolate(value, (*path, index), environ, problems, masked)
            for index, value in enumerate(node)
        ]
    return node


def _expand(text: str, environ: Mapping[str, str]) -> tuple[str, str | None, list[str]]:
    """``text`` expanded, the same with substitutions masked (None if none), and errors.

    ``$$`` is a literal ``$``; ``${NAME}``, ``${env:NAME}`` (Cursor's spelling) and
    ``${NAME:-default}`` (default when NAME is unset or empty) are substituted; any other
    ``$`` is kept as is.
    """
    out: list[str] = []
    mask: list[str] = []
    errors: list[str] = []
    substituted = False
    pos = 0
    while (dollar := text.find("$", pos)) >= 0:
        out.append(text[pos:dollar])
        mask.append(text[pos:dollar])
        follower = text[dollar + 1 : dollar + 2]
        if follower != "{":
            literal = "$" if follower in ("$", "") else "$" + follower
            out.append(literal)
            mask.append(literal)
            pos = dollar + 1 + len(follower)
            continue
        end = text.find("}", dollar)
        if end < 0:
            errors.append("unclosed '${' (write $$ for a literal $)")
            return text, None, errors
        value, error = _lookup(text[dollar + 2 : end], environ)
        if error:
            errors.append(error)
        out.append(value)
        mask.append("***")
        substituted = True
        pos = end + 1
    out.append(text[pos:])
    mask.append(text[pos:])
    return "".join(out), "".join(mask) if substituted else None, errors


def _lookup(reference: str, environ: Mapping[str, str]) -> tuple[str, str | None]:
    match = _VARIABLE.fullmatch(reference)
    if match is None:
        name = reference.partition(":")[0]
        return "", (
            f"bad variable reference '${{{name}...}}': write ${{NAME}} or ${{NAME:-default}} "
            "with NAME of letters, digits and '_' (and $$ for a literal $)"
        )
    name, default = match.groups()
    value = environ.get(name)
    if default is not None and not value:
        return default[2:], None
    if value is None:
        return (
            "",
            f"environment variable '{name}' is not set (use ${{{name}:-default}} for a default)",
        )
    return value, None


# --- validation errors ------------------------------------------------------------------------


def _config_error(source: str, problems: list[Problem]) -> ConfigError:
    unique = list(dict.fromkeys(problems))
    if len(unique) == 1:
        key, text = unique[0]
        return ConfigError(source, key, text)
    lines = [f"{len(unique)} problems"]
    lines += [f"  {key}: {text}" if key else f"  {text}" for key, text in unique]
    return ConfigError(source, "", "\n".join(lines))


def _describe(error: ErrorDetails, data: Any, root: str) -> Problem:
    """The key path and human message of one pydantic error."""
    loc = list(error["loc"])
    tag = None
    # The union members pydantic tried are not keys of the file: a server's, then a replica's.
    if len(loc) >= 3 and loc[0] == "servers" and loc[2] in _MODELS:
        tag = str(loc.pop(2))
        if len(loc) >= 5 and loc[2] == "replicas" and loc[4] in _REPLICA_MODELS:
            tag = f"replica:{loc.pop(4)}"
    if loc and loc[-1] == "[key]":
        loc.pop()  # an error about a mapping key: report it at that key
    ctx = error.get("ctx", {})
    if error["type"] == PROBLEM:
        loc += ctx.get("key", ())
        return _render(tuple(loc), data, root), str(ctx["problem"])
    return _render(tuple(loc), data, root), _message(error, loc, tag)


def _message(error: ErrorDetails, loc: list[str | int], tag: str | None) -> str:
    kind = error["type"]
    ctx = error.get("ctx", {})
    if kind == "extra_forbidden":
        return _unknown_key(str(loc[-1]), loc[:-1], tag)
    if kind == "too_short" and loc == ["servers"]:
        return "at least one server is required"
    if kind in ("too_short", "string_too_short") and ctx.get("min_length") == 1:
        return "must not be empty"
    if kind == "string_type" and isinstance(error["input"], int | float):
        return "expected a string (put the value in quotes)"
    if kind == "literal_error":
        return f"must be {ctx['expected']}"
    if kind in _BOUNDS:
        name, text = _BOUNDS[kind]
        return f"{text} {ctx[name]}"
    if kind in _SIMPLE_MESSAGES:
        return _SIMPLE_MESSAGES[kind]
    return _lower_first(error["msg"].removeprefix("Value error, "))


def _unknown_key(key: str, parent: list[str | int], tag: str | None) -> str:
    model: type[BaseModel] | None = None
    if not parent:
        model = Config
    elif parent == ["front"]:
        model = FrontConfig
    elif tag is not None and tag.startswith("replica:") and len(parent) == 4:
        model = _REPLICA_MODELS[tag.removeprefix("replica:")]
        if hint := _misplaced(key, model, replica=True):
            return hint
    elif tag is not None and len(parent) == 2:
        model = _MODELS[tag]
        if hint := _misplaced(key, model, replica=False):
            return hint
    elif len(parent) == 3 and parent[2] in _SECTIONS:
        model = _SECTIONS[str(parent[2])]
    known = [name for name in model.model_fields if name != "source"] if model else []
    if model in _MODELS.values() or model in _REPLICA_MODELS.values():
        known.append("type")
    close = difflib.get_close_matches(key, known, n=1)
    return f"unknown key; did you mean '{close[0]}'?" if close else "unknown key"


def _misplaced(key: str, model: type[BaseModel], replica: bool) -> str:
    """A hint for a key that is valid elsewhere: the other transport, a pool, a replica."""
    if replica and key in PoolServerConfig.model_fields:
        return f"unknown key; `{key}` applies to the whole server, not to one replica"
    if model is PoolServerConfig:
        if key in StdioReplicaConfig.model_fields or key in HttpReplicaConfig.model_fields:
            return f"unknown key; `{key}` goes on each entry of `replicas`"
        return ""
    if key in PoolServerConfig.model_fields or key == "weight":
        return f"unknown key; `{key}` applies only to servers with `replicas`"
    mine = model.model_fields["transport"].default
    other = _MODELS["http" if mine == "stdio" else "stdio"]
    if key in other.model_fields:
        kind = other.model_fields["transport"].default
        return f"unknown key; `{key}` applies only to {kind} servers"
    return ""


def _render(path: KeyPath, data: Any, root: str) -> str:
    """``servers.git.args[2]``; keys that are not plain words are quoted: ``env["A.B"]``."""
    text = ""
    node = data
    for index, step in enumerate(path):
        if isinstance(step, int) and (isinstance(node, list) or not isinstance(node, dict)):
            text += f"[{step}]"
        else:
            name = root if index == 0 and step == "servers" else str(step)
            if _PLAIN_KEY.fullmatch(name):
                text += f".{name}" if text else name
            else:
                text += f"[{json.dumps(name)}]"
        node = child(node, step)
    return text
