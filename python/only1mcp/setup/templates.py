"""``only1mcp init``: write a commented starting configuration.

Three templates, kept as commented YAML files beside this module (``yaml/``): ``solo`` (one
person on loopback), ``team`` (API keys, roles, rate limits, an audit log) and ``enterprise``
(OIDC tokens, roles from claims, MFA). Each loads with :func:`only1mcp.config.load_config` as
written (``tests/cli/test_init.py``).

The team template gets a fresh random API key per teammate: the file keeps their SHA-256 only,
and the plain keys are shown once, on the terminal.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

#: The file ``init`` writes when ``--output`` is not given.
DEFAULT_OUTPUT = Path("only1mcp.yaml")
#: Teammates of the team template, each given a generated key.
TEAM = ("alice", "bob", "ci")
KEY_BYTES = 32


class Template(StrEnum):
    solo = "solo"
    team = "team"
    enterprise = "enterprise"


@dataclass(frozen=True, slots=True)
class Rendered:
    """A template made ready for one file: its text, and the plain API keys it hashes."""

    text: str
    keys: dict[str, str] = field(default_factory=dict)


def template_text(template: Template) -> str:
    """The template as shipped (placeholders ``@FILE@`` and ``@NAME_HASH@`` in it)."""
    return resources.files(__package__).joinpath("yaml", f"{template}.yaml").read_text("utf-8")


def render(template: Template, file_name: str) -> Rendered:
    """``template`` for a file called ``file_name``, with new API keys where it needs them."""
    text = template_text(template).replace("@FILE@", file_name)
    keys: dict[str, str] = {}
    for name in TEAM:
        placeholder = f"@{name.upper()}_HASH@"
        if placeholder in text:
            keys[name] = secrets.token_urlsafe(KEY_BYTES)
            digest = hashlib.sha256(keys[name].encode()).hexdigest()
            text = text.replace(placeholder, f"sha256:{digest}")
    return Rendered(text, keys)


def refuse_overwrite(output: Path, force: bool) -> None:
    """Raise FileExistsError, with what to do, when ``output`` exists and ``force`` is off."""
    if output.exists() and not force:
        raise FileExistsError(
            f"{output} already exists and was left as it is: pass --force to replace it, "
            "or --output to write another file"
        )


def write(template: Template, output: Path, force: bool = False) -> Rendered:
    """Write ``template`` to ``output`` (refused when it exists, unless ``force``)."""
    refuse_overwrite(output, force)
    rendered = render(template, str(output))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(rendered.text, encoding="utf-8")
    return rendered


def init(
    template: Annotated[
        Template, typer.Option("--template", "-t", help="solo, team or enterprise.")
    ] = Template.solo,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The config file to write.")
    ] = DEFAULT_OUTPUT,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Write a commented starting config.

    Templates: solo (one person, loopback, two demo servers), team (API keys, roles, rate
    limits, an audit log) or enterprise (OIDC tokens, roles from claims, MFA). The team
    template's API keys are generated and shown once; the file keeps their SHA-256."""
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        rendered = write(template, output, force)
    except OSError as exc:  # FileExistsError included: the refusal, with what to do
        err.print(f"[red]init:[/red] {exc}")
        raise typer.Exit(1) from exc
    typer.echo(f"wrote {output} ({template} template)")
    if rendered.keys:
        err.print(
            "API keys (shown this once; the file keeps only their SHA-256) — give each to "
            "its holder:"
        )
        for name, key in rendered.keys.items():
            err.print(f"  {name}: {key}", markup=False)
    typer.echo(f"next: only1mcp validate {output} && only1mcp start --config {output}")
