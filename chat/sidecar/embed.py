"""Run the sidecar inside the chat server's process, on the chat server's event loop.

No thread: `chat.sidecar.http.HttpServer` runs uvicorn as a task next to the chat server, on a
socket bound here (a bad port fails `start()` with an `OSError`), leaving SIGINT/SIGTERM to
`chat.cli`. A probe task ticks once a second: it measures how late its own sleep wakes up (the
event loop lag) and samples the counters into per-second rates. Both are O(1) per tick. A
stall of D seconds shows as a lag between D - TICK and D (the sleep may overlap the stall).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog

from chat.core.statsview import LocalView
from chat.net.server import ChatServer
from chat.sidecar.app import create_app
from chat.sidecar.http import FD_BASE, MAX_CONNECTIONS, TIMEOUT, HttpServer

log = structlog.get_logger("chat.sidecar")

TICK = 1.0
"""Seconds between probe ticks: rate sampling and lag measurement."""


class Sidecar:
    def __init__(
        self,
        server: ChatServer,
        host: str = "127.0.0.1",
        port: int = 0,
        tick: float = TICK,
        *,
        max_connections: int = MAX_CONNECTIONS,
        timeout: float = TIMEOUT,
    ) -> None:
        self.server = server
        self.host = host
        self.requested_port = port
        self.tick = tick
        self.max_connections = max_connections
        self.timeout = timeout
        self.view = LocalView(server.hub)
        self.app = create_app(self.view)
        self.port = 0
        self._http: HttpServer | None = None
        self._probe: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        self._http = HttpServer(
            self.app,
            self.host,
            self.requested_port,
            max_connections=self.max_connections,
            timeout=self.timeout,
            in_use=self.fds_in_use,
        )
        self._probe = asyncio.create_task(self._run_probe(), name="stats-probe")
        try:
            await self._http.start()
        except BaseException:
            self._probe.cancel()
            raise
        self.port = self._http.port
        log.info("stats.started", host=self.host, port=self.port)

    def fds_in_use(self) -> int:
        """File descriptors the chat side holds: a base, and one per chat connection (TLS
        handshakes in progress included). O(1): HTTP refuses near the limit by this count."""
        return FD_BASE + len(self.server.clients)

    @property
    def http(self) -> HttpServer | None:
        """The HTTP server while started (its `refused` and `timed_out` counters)."""
        return self._http

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
        if self._http is None:
            return
        await self._http.stop()
        self._http = None
        log.info("stats.stopped")


@contextlib.asynccontextmanager
async def running_sidecar(
    server: ChatServer,
    host: str = "127.0.0.1",
    port: int = 0,
    tick: float = TICK,
    *,
    max_connections: int = MAX_CONNECTIONS,
    timeout: float = TIMEOUT,
) -> AsyncIterator[Sidecar]:
    """Serve the sidecar for `server` for the duration of an `async with` block."""
    sidecar = Sidecar(server, host, port, tick, max_connections=max_connections, timeout=timeout)
    await sidecar.start()
    try:
        yield sidecar
    finally:
        await sidecar.stop()
