"""``--log-format json``: one JSON object per line, with the request id of the request that
logged it (the id its audit lines carry too)."""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

from only1mcp.telemetry.context import request_id


class JsonFormatter(logging.Formatter):
    converter = time.gmtime  # type: ignore[assignment]  # the Z in the timestamps

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = request_id()
        if rid is not None:
            line["request_id"] = rid
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()
