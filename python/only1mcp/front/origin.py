"""DNS-rebinding protection: which Origin and Host headers a request may carry.

A browser page on a foreign site can reach a loopback server; its requests carry that site's
Origin (and, after DNS rebinding, a foreign Host). Loopback origins and hosts are always allowed;
others only when configured.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from only1mcp.config.schema import FrontConfig

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
DECIDED_LIMIT = 1024


class OriginPolicy:
    """``allowed_origins``: origins served besides loopback ones (``"*"``: any; the Host check
    still applies). See :mod:`only1mcp.front.cors` for how CORS origins join them."""

    def __init__(self, allowed_origins: list[str], bind_host: str) -> None:
        self.allowed_origins = frozenset(o.rstrip("/") for o in allowed_origins)
        self.any_origin = "*" in self.allowed_origins
        self.bind_host = bind_host
        # Only a loopback-bound server checks Host: behind a proxy the Host is the public name.
        self.check_host = bind_host in LOOPBACK_HOSTS
        self._decided: dict[tuple[bytes | None, bytes | None], bool] = {}

    def allows(self, origin: bytes | None, host: bytes | None) -> bool:
        """Both headers as they came, decided once per distinct pair (every request asks)."""
        key = (origin, host)
        allowed = self._decided.get(key)
        if allowed is None:
            allowed = self.origin_ok(_text(origin)) and self.host_ok(_text(host))
            if len(self._decided) < DECIDED_LIMIT:  # a client cycling headers can't grow it
                self._decided[key] = allowed
        return allowed

    def origin_ok(self, origin: str | None) -> bool:
        if origin is None:
            return True  # not a browser
        if self.any_origin or origin.rstrip("/") in self.allowed_origins:
            return True
        try:
            host = urlsplit(origin).hostname
        except ValueError:
            return False
        return host is not None and _is_loopback(host)

    def host_ok(self, host: str | None) -> bool:
        if not self.check_host or host is None:
            return True
        return _loopback_host_header(host)


def served_origins(front: FrontConfig) -> list[str]:
    """The origins a front serves besides loopback ones: ``allowed_origins`` and the CORS
    origins (a browser page CORS lets read the answers must be served in the first place)."""
    cors = front.cors.allow_origins if front.cors is not None else []
    return [*front.allowed_origins, *cors]


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


def _loopback_host_header(host: str) -> bool:
    """Whether a Host header names a loopback address."""
    try:
        name = urlsplit(f"//{host}").hostname
    except ValueError:
        return False
    return name is not None and _is_loopback(name)


def _is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS or host.startswith("127.")
