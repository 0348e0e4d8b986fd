"""Run the sidecar inside the chat server's process, on the chat server's event loop.

No thread: uvicorn's `Server.serve()` is just a coroutine, run here as a task next to the chat
server. We bind the listening socket ourselves (so a bad port fails `start()` with an `OSError`,
and port 0 is known at once) and stop uvicorn from taking over SIGINT/SIGTERM, which belong to
`chat.cli`. A probe task ticks once a second: it measures how late its own sleep wakes up (the
event loop lag) and samples the counters into per-second rates. Both are O(1) per tick. A
stall of D seconds shows as a lag between D - TICK and D (the sleep may overlap the stall).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator

import structlog
import uvicorn

from chat.server import ChatServer
from chat.sidecar.app import create_app
from chat.sidecar.view import LocalView

log = structlog.get_logger("chat.sidecar")

TICK = 1.0
"""Seconds between probe ticks: rate sampling and lag measurement."""
STOP_TIMEOUT = 3.0


class _EmbeddedUvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn would install its own SIGINT/SIGTERM handlers; the chat server owns them.
        yield


class Sidecar:
    def __init__(
        self, server: ChatServer, host: str = "127.0.0.1", port: int = 0, tick: float = TICK
    ) -> None:
        self.server = server
        self.host = host
        self.requested_port = port
        self.tick = tick
        self.view = LocalView(server.hub)
        self.app = create_app(self.view)
        self.port = 0
        self._uvicorn: _EmbeddedUvicorn | None = None
        self._serving: asyncio.Task[None] | None = None
        self._probe: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

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
        self._uvicorn = _EmbeddedUvicorn(config)
        self._probe = asyncio.create_task(self._run_probe(), name="stats-probe")
        self._serving = asyncio.create_task(self._uvicorn.serve([sock]), name="stats-http")
        # Startup is a few loop passes; the socket already queues connections meanwhile.
        while not self._uvicorn.started:
            if self._serving.done():
                self._probe.cancel()
                self._serving.result()  # re-raise why it stopped
                raise RuntimeError("the stats sidecar stopped during startup")
            await asyncio.sleep(0.01)
        log.info("stats.started", host=self.host, port=self.port)

    async def _run_probe(self) -> None:
        loop = asyncio.get_running_loop()
        sampler, room_rates = self.view.sampler, self.view.room_rates
        sampler.tick(loop.time())
        pruned = loop.time()
        while True:
            before = loop.time()
            await asyncio.sleep(self.tick)
            now = loop.time()
            sampler.tick(now, now - before - self.tick)
            if now - pruned > room_rates.FORGET_AFTER:
                room_rates.prune(self.view.clock())
                pruned = now

    async def stop(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
        if self._uvicorn is None or self._serving is None:
            return
        self._uvicorn.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self._serving), STOP_TIMEOUT + 1.0)
        except TimeoutError:
            self._uvicorn.force_exit = True
            self._serving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._serving
        self._uvicorn = None
        log.info("stats.stopped")


@contextlib.asynccontextmanager
async def running_sidecar(
    server: ChatServer, host: str = "127.0.0.1", port: int = 0, tick: float = TICK
) -> AsyncIterator[Sidecar]:
    """Serve the sidecar for `server` for the duration of an `async with` block."""
    sidecar = Sidecar(server, host, port, tick)
    await sidecar.start()
    try:
        yield sidecar
    finally:
        await sidecar.stop()
