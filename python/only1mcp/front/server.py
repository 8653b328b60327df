"""uvicorn, with Only1MCP's orderly shutdown (see :mod:`only1mcp.front.drain`)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator
from types import FrameType

import uvicorn


class DrainingServer(uvicorn.Server):
    """On SIGTERM/SIGINT uvicorn stops accepting and waits for its request tasks; this tells
    the app (``closing``, given those tasks) so it can end them in order; and the process
    exits 0, as a stop it was asked for (uvicorn re-raises the signal after serving)."""

    def __init__(
        self, config: uvicorn.Config, closing: Callable[[set[asyncio.Task[None]]], None]
    ) -> None:
        super().__init__(config)
        self._closing = closing
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._closing, self.server_state.tasks)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            # Served to the end after the signal: exit normally rather than die of it.
            self._captured_signals.clear()
