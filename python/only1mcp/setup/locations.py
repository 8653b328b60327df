"""Where the desktop MCP clients keep their server lists, per operating system.

=============  ==============================================================================
client         files (first found wins for ``--from auto``)
=============  ==============================================================================
Claude Desktop macOS ``~/Library/Application Support/Claude/claude_desktop_config.json``,
               Windows ``%APPDATA%\\Claude\\claude_desktop_config.json``,
               Linux ``$XDG_CONFIG_HOME/Claude/claude_desktop_config.json`` (``~/.config``)
Cursor         the project's ``.cursor/mcp.json``, then ``~/.cursor/mcp.json``
               (``%USERPROFILE%\\.cursor\\mcp.json`` on Windows)
VS Code        the workspace's ``.vscode/mcp.json``, then the user profile's ``mcp.json``:
               macOS ``~/Library/Application Support/Code/User/mcp.json``,
               Windows ``%APPDATA%\\Code\\User\\mcp.json``, Linux ``~/.config/Code/User/mcp.json``
=============  ==============================================================================
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path


class Client(StrEnum):
    """Whose config file is read (``auto``: the first file found, or the file's shape)."""

    claude = "claude"
    cursor = "cursor"
    vscode = "vscode"
    auto = "auto"


def _app_dirs(platform: str, home: Path, environ: Mapping[str, str]) -> Path:
    """Where applications keep their per-user settings on ``platform``."""
    if platform == "darwin":
        return home / "Library" / "Application Support"
    if platform == "win32":
        return Path(environ.get("APPDATA") or home / "AppData" / "Roaming")
    return Path(environ.get("XDG_CONFIG_HOME") or home / ".config")


def candidates(
    client: Client,
    *,
    platform: str = sys.platform,
    home: Path | None = None,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[Path]:
    """The files ``client`` may keep its servers in, most specific first (for ``auto``: every
    client's, Claude Desktop's first)."""
    home = Path.home() if home is None else home
    cwd = Path.cwd() if cwd is None else cwd
    apps = _app_dirs(platform, home, os.environ if environ is None else environ)
    table = {
        Client.claude: [apps / "Claude" / "claude_desktop_config.json"],
        Client.cursor: [cwd / ".cursor" / "mcp.json", home / ".cursor" / "mcp.json"],
        Client.vscode: [cwd / ".vscode" / "mcp.json", apps / "Code" / "User" / "mcp.json"],
    }
    if client is Client.auto:
        return [path for paths in table.values() for path in paths]
    return table[client]
