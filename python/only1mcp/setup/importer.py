"""``only1mcp import``: an Only1MCP config from the server list of Claude Desktop, Cursor or
VS Code.

* Claude Desktop (``claude_desktop_config.json``) and Cursor (``mcp.json``):
  ``{"mcpServers": {name: {"command", "args", "env"} | {"url", "headers"}}}``; Cursor also
  writes ``type`` and ``${env:NAME}``, ``${userHome}``, ``${workspaceFolder}``.
* VS Code (``.vscode/mcp.json``, JSON with comments): ``{"inputs": [...], "servers": {name:
  {"type": "stdio" | "http" | "sse", "command", "args", "env", "url", "headers"}}}``; a
  ``${input:ID}`` (a value VS Code prompts for) becomes an environment variable ``${ID}``
  (upper-cased), with a comment saying so.

Names that are not valid server names are made valid and reported; keys Only1MCP has no use for
(``envFile``, ``disabled`` aside) are reported and left out. Bad input raises
:class:`~only1mcp.errors.ConfigError` naming the file, the key and the problem.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import json5
import typer
import yaml
from rich.console import Console

from only1mcp.config import parse_config
from only1mcp.config.schema import NAME_RE, TRANSPORTS
from only1mcp.errors import ConfigError

from .locations import Client, candidates
from .templates import refuse_overwrite

#: Keys of a server entry that become Only1MCP keys.
COPIED = ("command", "args", "env", "cwd", "url", "headers")
#: Keys that are read for what they mean, not copied.
READ = ("type", "transport", "disabled", "envFile")
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_JSON5_ERROR = re.compile(r"^<string>:(\d+) (.*) at column (\d+)$")
_NOT_NAME = re.compile(r"[^A-Za-z0-9_-]+")
_NOT_VARIABLE = re.compile(r"[^A-Za-z0-9_]+")


@dataclass(slots=True)
class Imported:
    """What one client file becomes: server entries in Only1MCP's form, and what to tell."""

    source: str
    client: Client
    #: the key of the client's file that holds the servers (``mcpServers``, ``servers``)
    root: str = "mcpServers"
    servers: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: server → comment lines written above it
    notes: dict[str, list[str]] = field(default_factory=dict)
    #: the client's name → the valid server name it became
    renamed: dict[str, str] = field(default_factory=dict)
    #: environment variables the file now needs → why (a VS Code input's description)
    variables: dict[str, str] = field(default_factory=dict)

    def note(self, server: str, text: str) -> None:
        self.notes.setdefault(server, []).append(text)


# --- reading ----------------------------------------------------------------------------------


def read(path: Path, client: Client = Client.auto) -> Imported:
    """Read a client's config file at ``path`` (``auto``: tell the client by the file's shape)."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(source, "", "file not found") from None
    except OSError as exc:
        raise ConfigError(source, "", f"cannot read: {exc.strerror or exc}") from None
    data = _decode(text, source)
    if isinstance(data, dict) and isinstance(data.get("mcp"), dict):
        data = data["mcp"]  # VS Code's settings.json keeps the same under "mcp"
    if not isinstance(data, dict):
        raise ConfigError(source, "", "expected a JSON object at the top level")
    root = "servers" if client is Client.vscode else "mcpServers"
    if client is Client.auto:
        root = "mcpServers" if "mcpServers" in data else "servers"
        client = Client.vscode if root == "servers" else _claude_or_cursor(path)
    servers = data.get(root)
    if not isinstance(servers, dict) or not servers:
        found = ", ".join(f"`{key}`" for key in data) or "nothing"
        raise ConfigError(
            source, root, f"expected a non-empty object of servers here (the file has {found})"
        )
    imported = Imported(source, client, root)
    inputs = _inputs(data.get("inputs"), source)
    workspace = _workspace(path)
    names = _names(list(servers), imported)
    for name, entry in servers.items():
        context = _Context(source, f"{root}.{name}", imported, names[name], inputs, workspace)
        imported.servers[names[name]] = _server(entry, context)
    return imported


def _claude_or_cursor(path: Path) -> Client:
    """Both write ``mcpServers``: Cursor's files live in a ``.cursor`` folder."""
    return Client.cursor if ".cursor" in path.resolve().parts else Client.claude


def _decode(text: str, source: str) -> Any:
    # JSON5 reads JSON, and the comments and trailing commas VS Code's and Cursor's files have.
    try:
        return json5.loads(text, allow_duplicate_keys=False)
    except ValueError as exc:
        message = str(exc)
        match = _JSON5_ERROR.match(message)
        if match:
            line, problem, column = match.groups()
            message = f"line {line}, column {column}: {problem[:1].lower()}{problem[1:]}"
        raise ConfigError(source, "", f"not valid JSON: {message}") from None


def _workspace(path: Path) -> Path:
    """The folder ``${workspaceFolder}`` means: the one holding ``.vscode``/``.cursor``."""
    folder = path.resolve().parent
    return folder.parent if folder.name in (".vscode", ".cursor") else folder


def _inputs(raw: Any, source: str) -> dict[str, str]:
    """VS Code's ``inputs``: id → description."""
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise ConfigError(source, "inputs", "expected a list")
    found: dict[str, str] = {}
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise ConfigError(source, f"inputs[{index}]", "expected an object with an `id`")
        found[item["id"]] = str(item.get("description") or "")
    return found


def _names(originals: list[str], imported: Imported) -> dict[str, str]:
    """Each client name → a valid, unique server name (1-64 of A-Z a-z 0-9 _ -)."""
    taken = {name for name in originals if NAME_RE.fullmatch(name)}
    names: dict[str, str] = {}
    for original in originals:
        if NAME_RE.fullmatch(original):
            names[original] = original
            continue
        base = _NOT_NAME.sub("-", original).strip("-")[:60] or "server"
        name, counter = base, 2
        while name in taken:
            name, counter = f"{base}-{counter}", counter + 1
        taken.add(name)
        names[original] = imported.renamed[original] = name
    return names


# --- one server -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Context:
    source: str
    key: str  # the entry's key path in the client's file, for errors
    imported: Imported
    name: str  # its Only1MCP name
    inputs: dict[str, str]
    workspace: Path

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(self.source, f"{self.key}.{key}" if key else self.key, problem)


def _server(entry: Any, ctx: _Context) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise ctx.error("", "expected an object with `command` (a program) or `url`")
    if "command" not in entry and "url" not in entry:
        raise ctx.error("", "has neither `command` (a program to start) nor `url`")
    server: dict[str, Any] = {}
    for key in COPIED:
        if key in entry:
            server[key] = _value(key, entry[key], ctx)
    transport = _transport(entry, ctx)
    if transport is not None:
        server["transport"] = transport
    if entry.get("disabled") is True:
        server["enabled"] = False
    if "envFile" in entry:
        ctx.imported.note(
            ctx.name,
            f"envFile {entry['envFile']!r} was not read: put its variables in `env` "
            "or in Only1MCP's environment (names listed in env_inherit)",
        )
    ignored = [key for key in entry if key not in COPIED and key not in READ]
    if ignored:
        ctx.imported.note(ctx.name, f"left out (no use here): {', '.join(sorted(ignored))}")
    return server


def _transport(entry: dict[str, Any], ctx: _Context) -> str | None:
    raw = entry.get("type", entry.get("transport"))
    if raw is None:
        url = entry.get("url")
        if isinstance(url, str) and url.rstrip("/").endswith("/sse"):
            ctx.imported.note(ctx.name, "its URL ends in /sse: read as the legacy HTTP+SSE one")
            return "sse"
        return None
    if not isinstance(raw, str) or raw not in TRANSPORTS:
        known = "', '".join(TRANSPORTS)
        raise ctx.error("type", f"unknown type {raw!r}; expected one of '{known}'")
    transport = TRANSPORTS[raw]
    return None if transport == ("stdio" if "command" in entry else "http") else transport


def _value(key: str, value: Any, ctx: _Context) -> Any:
    """One copied key's value, checked, with the client's variables made Only1MCP's."""
    if key in ("command", "cwd", "url"):
        if not isinstance(value, str) or not value.strip():
            raise ctx.error(key, "expected a non-empty string")
        return _text(value, f"{key}", ctx)
    if key == "args":
        if not isinstance(value, list) or not all(isinstance(a, str | int | float) for a in value):
            raise ctx.error(key, "expected a list of strings")
        return [_text(str(arg), f"{key}[{i}]", ctx) for i, arg in enumerate(value)]
    if not isinstance(value, dict) or not all(
        isinstance(v, str | int | float | bool) for v in value.values()
    ):
        raise ctx.error(key, "expected an object of strings")
    return {str(k): _text(_scalar(v), f"{key}.{k}", ctx) for k, v in value.items()}


def _scalar(value: str | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _text(value: str, key: str, ctx: _Context) -> str:
    """``value`` in Only1MCP's ``${VAR}`` syntax: the client's variables translated, every
    other ``$`` doubled (Only1MCP reads ``$$`` as a literal ``$``)."""
    out: list[str] = []
    pos = 0
    for match in _VARIABLE.finditer(value):
        out.append(value[pos : match.start()].replace("$", "$$"))
        out.append(_variable(match.group(1), key, ctx))
        pos = match.end()
    out.append(value[pos:].replace("$", "$$"))
    return "".join(out)


def _variable(reference: str, key: str, ctx: _Context) -> str:
    kind, _, name = reference.partition(":")
    if kind == "input" and name:
        variable = _NOT_VARIABLE.sub("_", name).strip("_").upper()
        if not variable or variable[0].isdigit():
            variable = f"INPUT_{variable}"
        why = ctx.inputs.get(name, "")
        ctx.imported.variables[variable] = why
        ctx.imported.note(
            ctx.name, f"${{input:{name}}} (VS Code asked for it) is now ${{{variable}}}"
        )
        return f"${{{variable}}}"
    if kind == "env" and name:
        return f"${{{name}}}"
    if reference == "userHome":
        return "${HOME}"
    if reference in ("workspaceFolder", "workspaceRoot"):
        ctx.imported.note(ctx.name, f"${{{reference}}} became {ctx.workspace}")
        return str(ctx.workspace).replace("$", "$$")
    if reference == "workspaceFolderBasename":
        return ctx.workspace.name.replace("$", "$$")
    if reference in ("pathSeparator", "/"):
        return os.sep
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(:-.*)?", reference):
        return f"${{{reference}}}"  # already an environment variable
    raise ctx.error(
        key, f"variable ${{{reference}}} has no equivalent here: write the value, or ${{ENV_VAR}}"
    )


# --- checking and writing ---------------------------------------------------------------------


class _Anything(Mapping[str, str]):
    """An environment in which every variable is set, to check the file's shape before the
    variables it names exist (a set one keeps its value: a URL is still checked)."""

    def __getitem__(self, name: str) -> str:
        return os.environ.get(name) or "x"

    def __iter__(self) -> Iterator[str]:
        return iter(os.environ)

    def __len__(self) -> int:
        return len(os.environ)


def check(imported: Imported) -> None:
    """Raise ConfigError when the result would not load, naming the client's file and its
    key (``mcpServers.my.notes.url``), where the user can fix it."""
    try:
        parse_config({"servers": imported.servers}, imported.source, _Anything())
    except ConfigError as exc:
        raise ConfigError(imported.source, _client_key(imported, exc.key), exc.problem) from None


def _client_key(imported: Imported, key: str) -> str:
    """``servers.NAME.rest`` as the client's file spells it."""
    head, _, rest = key.partition(".")
    if head != "servers" or not rest:
        return key
    original = {new: old for old, new in imported.renamed.items()}
    for name in sorted(imported.servers, key=len, reverse=True):
        if rest == name or rest.startswith(f"{name}.") or rest.startswith(f"{name}["):
            tail = rest[len(name) :]
            return f"{imported.root}.{original.get(name, name)}{tail}"
    return f"{imported.root}.{rest}"


def render(imported: Imported) -> str:
    """The Only1MCP YAML config, with comments: where it came from, what changed, why."""
    lines = [
        f"# Only1MCP — imported from {imported.client.value} ({imported.source})",
        "# by `only1mcp import`. Every key is documented in docs/configuration.md.",
        "#",
        "# `env` and `headers` values were copied as they are: move secrets out of the file",
        "# with ${VAR} (an environment variable, read when Only1MCP starts).",
    ]
    if imported.variables:
        lines += ["#", "# Set these environment variables before `only1mcp start`:"]
        lines += [
            f"#   {name}" + (f" — {why}" if why else "") for name, why in imported.variables.items()
        ]
    lines += [
        "",
        "front:",
        "  host: 127.0.0.1          # loopback: no authentication needed",
        "  port: 8765               # clients connect to http://127.0.0.1:8765/mcp",
        "",
        "servers:",
    ]
    renamed = {new: old for old, new in imported.renamed.items()}
    for name, server in imported.servers.items():
        if name in renamed:
            lines.append(f"  # was {renamed[name]!r}: not a valid server name (A-Z a-z 0-9 _ -)")
        lines += [f"  # {text}" for text in imported.notes.get(name, ())]
        body = yaml.safe_dump({name: server}, sort_keys=False, allow_unicode=True, width=96)
        lines += [f"  {line}" for line in body.splitlines()]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def find(client: Client) -> Path:
    """The first existing config file of ``client`` (of any client for ``auto``)."""
    tried = candidates(client)
    for path in tried:
        if path.is_file():
            return path
    listed = "\n  ".join(str(path) for path in tried)
    raise FileNotFoundError(f"no {client.value} config file found; looked for:\n  {listed}")


def import_command(
    path: Annotated[
        Path | None,
        typer.Argument(help="The client's config file (default: its usual place, listed above)."),
    ] = None,
    client: Annotated[
        Client, typer.Option("--from", "-f", help="claude, cursor, vscode, or auto.")
    ] = Client.auto,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The config file to write; - for stdout.")
    ] = Path("only1mcp.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Import the MCP servers of Claude Desktop, Cursor or VS Code.

    Writes an Only1MCP config from the client's file. Without PATH, the client's usual files
    are read: Claude Desktop's claude_desktop_config.json (macOS ~/Library/Application
    Support/Claude, Windows %APPDATA%/Claude, Linux ~/.config/Claude), Cursor's
    .cursor/mcp.json then ~/.cursor/mcp.json, VS Code's .vscode/mcp.json then the user
    profile's Code/User/mcp.json.
    """
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        source = find(client) if path is None else path
        imported = read(source, client)
        to_stdout = str(output) == "-"
        check(imported)
        text = render(imported)
        if to_stdout:
            sys.stdout.write(text)
        else:
            refuse_overwrite(output, force)
            output.write_text(text, encoding="utf-8")
    except (ConfigError, OSError) as exc:
        err.print(f"[red]import:[/red] {exc}")
        raise typer.Exit(2 if isinstance(exc, ConfigError) else 1) from exc
    _report(err, imported, source, output)


def _report(err: Console, imported: Imported, source: Path, output: Path) -> None:
    where = "stdout" if str(output) == "-" else str(output)
    err.print(f"imported {len(imported.servers)} servers from {source} → {where}")
    for old, new in imported.renamed.items():
        err.print(f"  renamed {old!r} → {new!r} (server names are 1-64 of A-Z a-z 0-9 _ -)")
    for name, why in imported.variables.items():
        err.print(f"  set ${name} before starting" + (f" ({why})" if why else ""))
    if where != "stdout":
        err.print(f"next: only1mcp validate {output} && only1mcp start --config {output}")
