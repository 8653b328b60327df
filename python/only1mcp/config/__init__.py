"""Configuration: the schema (pydantic models) and the loader (files, ``${VAR}``, Claude Desktop).

>>> config = load_config("examples/solo.yaml")          # doctest: +SKIP
>>> list(config.enabled_servers())                       # doctest: +SKIP
['time', 'git']
"""

from .loader import EXTENSIONS, load_config, parse_config
from .schema import (
    Config,
    FrontConfig,
    HttpServerConfig,
    Isolation,
    Protocol,
    ServerConfig,
    StdioServerConfig,
    redacted,
)

__all__ = [
    "EXTENSIONS",
    "Config",
    "FrontConfig",
    "HttpServerConfig",
    "Isolation",
    "Protocol",
    "ServerConfig",
    "StdioServerConfig",
    "load_config",
    "parse_config",
    "redacted",
]
