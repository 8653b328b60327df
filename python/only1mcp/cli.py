"""The ``only1mcp`` command: serve over HTTP or stdio, validate a config, list and call tools."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import orjson
import typer
from rich.console import Console

from only1mcp import __version__
from only1mcp.config import Config, load_config
from only1mcp.errors import ConfigError
from only1mcp.front.origin import LOOPBACK_HOSTS
from only1mcp.setup.importer import import_command
from only1mcp.setup.templates import init as init_command
from only1mcp.terminal import admin_client as admin_api
from only1mcp.terminal.status import status as status_command
from only1mcp.terminal.tools import select, tool_table

app = typer.Typer(
    help="One MCP endpoint in front of many MCP servers.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish, pwsh
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)

ConfigOption = Annotated[
    Path,
    typer.Option(
        "--config", "-c", envvar="ONLY1MCP_CONFIG", help="YAML, TOML or JSON config file."
    ),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"only1mcp {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """One MCP endpoint in front of many MCP servers."""


def _load(path: Path) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        _config_error(exc)


def _config_error(exc: ConfigError) -> NoReturn:
    err.print(f"[red]config error:[/red] {exc}", highlight=False, markup=True)
    raise typer.Exit(2) from exc


class LogFormat(StrEnum):
    text = "text"
    json = "json"


LogFormatOption = Annotated[
    LogFormat,
    typer.Option(
        "--log-format",
        help="text, or json: one JSON object per line, with the request id the audit log has.",
    ),
]


def _setup_logging(level: str, form: LogFormat = LogFormat.text) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if form is LogFormat.json:
        from only1mcp.telemetry.logs import JsonFormatter

        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler])
    # One line per backend HTTP request is noise at INFO.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))


@app.command()
def start(
    config: ConfigOption,
    host: Annotated[str | None, typer.Option(help="Address to bind (default from config).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (default from config).")] = None,
    open_ok: Annotated[
        bool,
        typer.Option(
            "--i-know-this-is-open",
            help="Allow a non-loopback bind without authentication (anyone may call any tool).",
        ),
    ] = False,
    log_format: LogFormatOption = LogFormat.text,
    watch: Annotated[
        bool,
        typer.Option(
            envvar="ONLY1MCP_WATCH",
            help="Reload the config when its file changes (SIGHUP reloads it too).",
        ),
    ] = True,
) -> None:
    """Serve every configured server at http://HOST:PORT/mcp (and /sse for HTTP+SSE clients)."""
    from only1mcp.app import http_app
    from only1mcp.front.http import serve_http
    from only1mcp.front.origin import OriginPolicy, served_origins
    from only1mcp.terminal.progress import StartProgress, transports

    cfg = _load(config)
    bind = host or cfg.front.host
    _check_exposure(bind, cfg, open_ok)
    _setup_logging(cfg.log_level, log_format)
    policy = OriginPolicy(served_origins(cfg.front), bind)
    try:
        # live lines on a terminal, then a table; JSON logs get one log line per server
        plain = log_format is LogFormat.json
        progress = StartProgress(err, transports(cfg), False if plain else None, not plain)
        # reads the files auth names (keys, …)
        service = http_app(cfg, policy, watch=watch, start_watch=progress)
    except ConfigError as exc:
        _config_error(exc)
    admin = service.admin.bind() if service.admin is not None else None
    serve_http(
        service.front,
        bind,
        cfg.front.port if port is None else port,
        service.asgi,
        [c for c in (admin, service.triggers) if c is not None],
    )


def _check_exposure(bind: str, cfg: Config, open_ok: bool) -> None:
    """A non-loopback bind needs authentication, or the explicit ``--i-know-this-is-open``."""
    if bind in LOOPBACK_HOSTS or bind.startswith("127."):
        return
    if cfg.auth.enabled:
        if cfg.auth.resource is None:
            err.print(
                "note: auth.resource is not set; tokens must name "
                f"http://{cfg.front.host}:{cfg.front.port}/mcp as their audience. Set it to the "
                "URL clients use (docs/security.md)"
            )
        return
    if not open_ok:
        err.print(
            f"refusing to bind {bind!r}: it is not a loopback address and no authentication is "
            "configured (auth.modes: [none]); configure `auth` (docs/security.md), bind "
            "127.0.0.1 behind an authenticating proxy, or pass --i-know-this-is-open"
        )
        raise typer.Exit(2)
    err.print(
        f"[bold red]WARNING: serving {bind!r} WITHOUT AUTHENTICATION: anyone who can reach "
        "this address can call every tool of every server[/bold red]",
        highlight=False,
        markup=True,
    )


@app.command()
def stdio(config: ConfigOption, log_format: LogFormatOption = LogFormat.text) -> None:
    """Serve MCP on stdin/stdout, for desktop clients such as Claude Desktop."""
    from only1mcp.app import stdio_front

    cfg = _load(config)
    _setup_logging(cfg.log_level, log_format)

    async def serve() -> None:
        front = stdio_front(cfg)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, front.closed.set)
        await front.serve()

    asyncio.run(serve())
    # Stopped in order: a repeated SIGTERM while the process winds down must not end it 143.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)


@app.command()
def validate(file: Annotated[Path, typer.Argument(help="Config file to check.")]) -> None:
    """Check a config file without starting any server."""
    from only1mcp.auth.factory import check_files

    cfg = _load(file)
    try:
        check_files(cfg.auth, cfg.source)
    except ConfigError as exc:
        _config_error(exc)
    servers = cfg.enabled_servers()
    typer.echo(f"{file}: ok ({len(servers)} enabled servers: {', '.join(servers)})")


async def _with_gateway(cfg: Config, work: Any) -> Any:
    from only1mcp.app import assemble

    core = assemble(cfg)
    await core.gateway.start()
    try:
        return await work(core)
    finally:
        await core.gateway.stop()


@app.command("list")
def list_tools(config: ConfigOption) -> None:
    """Start the servers once and print each with its state and tools."""
    cfg = _load(config)
    _setup_logging("error")

    async def work(core: Any) -> None:
        from only1mcp.admin import views

        Console().print(tool_table(views.tools(core.gateway)))
        _report_down(core.gateway.failures())

    asyncio.run(_with_gateway(cfg, work))


def _report_down(failures: dict[str, str]) -> None:
    for name, reason in failures.items():
        err.print(f"[red]server {name} is down:[/red] {reason}", highlight=False)


@app.command()
def tools(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Start the servers of this config once (default: ask the running aggregator).",
        ),
    ] = None,
    admin: admin_api.AdminOption = admin_api.DEFAULT_ADMIN,
    api_key: admin_api.ApiKeyOption = None,
    token: admin_api.TokenOption = None,
    search: Annotated[
        str | None, typer.Option("--search", "-s", help="Rank the tools for this request (BM25).")
    ] = None,
    limit: Annotated[int, typer.Option(help="How many matches --search shows.", min=1)] = 10,
) -> None:
    """List the tools, of the running aggregator or of a config.

    One row per tool: its exposed name, its server, the first line of its description; from
    the admin API, or from the servers of --config started once. --search ranks them with the
    BM25 index that search_tools uses."""
    if config is None:
        try:
            listed = admin_api.AdminClient(admin, api_key, token).get("/api/tools")["tools"]
        except admin_api.AdminError as exc:
            err.print(f"[red]tools:[/red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from exc
    else:
        _setup_logging("error")

        async def work(core: Any) -> list[dict[str, Any]]:
            from only1mcp.admin import views

            _report_down(core.gateway.failures())
            return views.tools(core.gateway)

        listed = asyncio.run(_with_gateway(_load(config), work))
    Console().print(tool_table(select(listed, search, limit)))


@app.command()
def call(
    name: Annotated[str, typer.Argument(help="Exposed tool name, e.g. time__get_current_time.")],
    config: ConfigOption,
    args: Annotated[str, typer.Option("--args", help="Tool arguments as a JSON object.")] = "{}",
) -> None:
    """Start the servers once, call one tool, print its result as JSON."""
    from only1mcp.app import Core
    from only1mcp.session import Session

    cfg = _load(config)
    try:
        arguments = orjson.loads(args)
    except orjson.JSONDecodeError as exc:
        err.print(f"--args is not JSON: {exc}")
        raise typer.Exit(2) from exc
    if not isinstance(arguments, dict):
        err.print("--args must be a JSON object")
        raise typer.Exit(2)
    _setup_logging("error")

    async def work(core: Core) -> bytes | None:
        msg = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": name, "arguments": arguments},
        }
        return await core.router.handle(Session(id="cli"), msg)

    answer = orjson.loads(asyncio.run(_with_gateway(cfg, work)) or b"{}")
    typer.echo(orjson.dumps(answer.get("result", answer), option=orjson.OPT_INDENT_2).decode())
    if "error" in answer or answer.get("result", {}).get("isError"):
        raise typer.Exit(1)


# First run: a commented config from a template, or one imported from a desktop client's file.
app.command("init")(init_command)
app.command("import")(import_command)
# The running aggregator, through its admin listener.
app.command("status")(status_command)
