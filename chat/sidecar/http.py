"""uvicorn serving a FastAPI app on the running event loop, on a socket bound here.

Shared by the embedded sidecar (`chat.sidecar.embed`, inside chat-server) and `chat-stats`
(`chat.sidecar.standalone`). No thread: `uvicorn.Server.serve()` is a coroutine, run as a task.
We bind the listening socket ourselves, so a busy port fails `start()` with an `OSError` and
port 0 is known at once, and uvicorn does not take over SIGINT/SIGTERM: they belong to the
program, which has more to shut down than HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

STOP_TIMEOUT = 3.0


class _Uvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # SIGINT/SIGTERM belong to the program, which has more than HTTP to stop.
        yield


class HttpServer:
    """`start()` binds and serves; `stop()` shuts down gracefully, then forcibly."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        self.app, self.host, self.requested_port = app, host, port
        self.port = 0
        self.serving: asyncio.Task[None] | None = None
        self._uvicorn: _Uvicorn | None = None

    async def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.create_server((self.host, self.requested_port), family=family, backlog=128)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            ws="none",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=int(STOP_TIMEOUT),
        )
        self._uvicorn = _Uvicorn(config)
        self.serving = asyncio.create_task(self._uvicorn.serve([sock]), name="stats-http")
        while not self._uvicorn.started:  # a few loop passes; the socket queues meanwhile
            if self.serving.done():
                self.serving.result()  # re-raise why it stopped
                raise RuntimeError("the HTTP server stopped during startup")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._uvicorn is None or self.serving is None:
            return
        self._uvicorn.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self.serving), STOP_TIMEOUT + 1.0)
        except TimeoutError:
            self._uvicorn.force_exit = True
            self.serving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.serving
        self._uvicorn = None
