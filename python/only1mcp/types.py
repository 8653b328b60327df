"""Type aliases shared across the package: JSON-RPC shapes and ASGI callables."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

JsonObject = dict[str, Any]
RequestId = int | str

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
