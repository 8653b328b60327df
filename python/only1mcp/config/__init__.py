"""Configuration: the schema (pydantic models) and the loader (files, ``${VAR}``, Claude Desktop).

>>> config = load_config("examples/solo.yaml")          # doctest: +SKIP
>>> list(config.enabled_servers())                       # doctest: +SKIP
['time', 'git']
"""

from .loader import EXTENSIONS, load_config, parse_config
from .policies import Retry, Strategy
from .schema import (
    Config,
    FrontConfig,
    HttpServerConfig,
    Isolation,
    PoolServerConfig,
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
    "PoolServerConfig",
    "Protocol",
    "Retry",
    "ServerConfig",
    "StdioServerConfig",
    "Strategy",
    "load_config",
    "parse_config",
    "redacted",
]
