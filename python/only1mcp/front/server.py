"""uvicorn, with Only1MCP's orderly shutdown (see :mod:`only1mcp.front.drain`)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from types import FrameType

import uvicorn
from uvicorn.server import HANDLED_SIGNALS


class DrainingServer(uvicorn.Server):
    """On SIGTERM/SIGINT uvicorn stops accepting and waits for its request tasks; this tells
    the app (``closing``, given those tasks) so it can end them in order; and the process
    exits 0, as a stop it was asked for (uvicorn would re-raise the signal after serving)."""

    def __init__(
        self, config: uvicorn.Config, closing: Callable[[set[asyncio.Task[None]]], None]
    ) -> None:
        super().__init__(config)
        self._closing = closing
        self._loop: asyncio.AbstractEventLoop | None = None

    def run(self, sockets: list[socket.socket] | None = None) -> None:
        super().run(sockets)
        if threading.current_thread() is threading.main_thread():
            # Served to the end: the process only winds down now. The interpreter's exit drops
            # Python signal handlers, and a repeated SIGTERM then would end it with 143.
            for sig in HANDLED_SIGNALS:
                signal.signal(sig, signal.SIG_IGN)

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._closing, self.server_state.tasks)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Handle SIGTERM/SIGINT from the start to the exit of the process, never re-raising
        one: a stop asked for ends with status 0, even when asked twice (a second signal after
        the serving, while the process winds down, would otherwise kill it)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        for sig in HANDLED_SIGNALS:
            signal.signal(sig, self.handle_exit)
        yield
