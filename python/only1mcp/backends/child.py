"""What a stdio server's process starts with: an environment built from an allow-list, and
kernel limits.

The aggregator's environment holds its own secrets (tokens it interpolates into its config,
cloud credentials...); a server process inherits only the variables ``env_inherit`` names —
by default :data:`DEFAULT_INHERIT`, what a shell, a locale, ``uvx`` and ``npx`` need — plus
its ``env`` entries, which always pass. ``env_inherit: ["*"]`` inherits everything.

``rlimits`` are set in the child between fork and exec (``preexec_fn``), where the aggregator
itself is not affected, and are inherited by everything the server starts.

On Linux a server also dies with the aggregator (``PR_SET_PDEATHSIG``): without rlimits, set by
``setpriv --pdeathsig TERM`` exec'ing the server, not by a ``preexec_fn``. Any ``preexec_fn``
makes ``subprocess`` fork instead of vfork and wait for Python code in the child before exec:
10-20 ms a start on a busy 2-core host, against 1-2 ms through ``setpriv``; with 100 servers
(and as many capability probes) that was seconds of the cold start.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import resource
import shutil
import signal
import sys
from collections.abc import Callable, Mapping, Sequence

from only1mcp.config.schema import RlimitsConfig, StdioServerConfig

#: Inherited when a server sets no ``env_inherit``: names, or prefixes ending in ``*``.
DEFAULT_INHERIT = (
    # a process's basics: where programs are, whose home, which shell and terminal
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "TERM",
    "TMPDIR",
    "TMP",
    "TEMP",
    "TZ",
    # locale
    "LANG",
    "LANGUAGE",
    "LC_*",
    # where per-user caches and configs live (uv, npm, pip all follow XDG)
    "XDG_*",
    # uvx / uv: caches, installs and package indexes
    "UV_CACHE_DIR",
    "UV_TOOL_DIR",
    "UV_PYTHON_INSTALL_DIR",
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_NO_CACHE",
    "UV_OFFLINE",
    # npx / npm / node
    "NPM_CONFIG_CACHE",
    "NPM_CONFIG_PREFIX",
    "NPM_CONFIG_REGISTRY",
    "npm_config_cache",
    "npm_config_prefix",
    "npm_config_registry",
    "NODE_EXTRA_CA_CERTS",
    "NVM_DIR",
    # TLS trust and proxies, without which package downloads fail behind a corporate proxy
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)


def child_env(
    config: StdioServerConfig, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of ``config``'s process: the allowed part of ``environ`` (default: the
    aggregator's), then its ``env``."""
    source = os.environ if environ is None else environ
    patterns = DEFAULT_INHERIT if config.env_inherit is None else config.env_inherit
    names = {p for p in patterns if not p.endswith("*")}
    prefixes = tuple(p[:-1] for p in patterns if p.endswith("*"))
    env = {k: v for k, v in source.items() if k in names or k.startswith(prefixes)}
    env.update(config.env)
    return env


PreExec = Callable[[], None]


def child_start(
    program: str | None, command: str, args: Sequence[str], rlimits: RlimitsConfig | None
) -> tuple[list[str], PreExec | None]:
    """The argv and ``preexec_fn`` that start a server: ``program`` is ``command`` found on
    the path (None: not found, spawned as is, for the OS error to say so)."""
    wrapper = _setpriv()
    if rlimits is None and wrapper is not None and program is not None:
        return [wrapper, "--pdeathsig", "TERM", "--", program, *args], None
    return [program or command, *args], child_setup(rlimits)


@functools.cache
def _setpriv() -> str | None:
    """util-linux's ``setpriv`` (Linux only: the death signal is a Linux feature)."""
    return shutil.which("setpriv") if sys.platform == "linux" else None


def child_setup(rlimits: RlimitsConfig | None) -> PreExec | None:
    """What runs in the child before exec (``preexec_fn``): die with the aggregator (Linux),
    then the ``rlimits``."""
    if sys.platform != "linux" and rlimits is None:
        return None
    limits = _limits(rlimits) if rlimits is not None else []
    return functools.partial(_setup, sys.platform == "linux", limits)


def _limits(rlimits: RlimitsConfig) -> list[tuple[int, int]]:
    wanted = [
        (resource.RLIMIT_CPU, rlimits.cpu_seconds),
        (resource.RLIMIT_NOFILE, rlimits.open_files),
        (resource.RLIMIT_AS, rlimits.address_space_mb and rlimits.address_space_mb * 2**20),
    ]
    return [(which, value) for which, value in wanted if value is not None]


def _setup(pdeathsig: bool, limits: list[tuple[int, int]]) -> None:
    if pdeathsig:
        # If the aggregator is SIGKILLed, the kernel ends the child.
        with contextlib.suppress(Exception):
            ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    for which, value in limits:
        _, hard = resource.getrlimit(which)
        # Never above the hard limit the aggregator itself has (that would fail the start).
        limit = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(which, (limit, limit))
