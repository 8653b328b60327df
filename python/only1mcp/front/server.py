"""uvicorn, with Only1MCP's orderly shutdown (see :mod:`only1mcp.front.drain`)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from types import FrameType
from typing import Protocol

import uvicorn
from uvicorn.server import HANDLED_SIGNALS


class Companion(Protocol):
    """Another server of the process (the admin listener), run in the same event loop."""

    async def run_beside(self) -> None: ...
    def stop(self) -> None: ...


class DrainingServer(uvicorn.Server):
    """On SIGTERM/SIGINT uvicorn stops accepting and waits for its request tasks; this tells
    the app (``closing``, given those tasks) so it can end them in order; and the process
    exits 0, as a stop it was asked for (uvicorn would re-raise the signal after serving).

    ``companions`` serve beside it in its loop, and are told to stop with it."""

    def __init__(
        self,
        config: uvicorn.Config,
        closing: Callable[[set[asyncio.Task[None]]], None],
        companions: Sequence[Companion] = (),
    ) -> None:
        super().__init__(config)
        self._closing = closing
        self._companions = companions
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
        beside = [asyncio.ensure_future(companion.run_beside()) for companion in self._companions]
        try:
            await super().serve(sockets)
        finally:
            for companion in self._companions:
                companion.stop()
            await asyncio.gather(*beside, return_exceptions=True)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        for companion in self._companions:
            companion.stop()
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
