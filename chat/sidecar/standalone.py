"""`chat-stats`: the stats sidecar of a whole cluster, as a process of its own.

It connects to NATS, listens to the reports every chat node publishes on `chat.core.stats.<node>`
(`chat.sidecar.cluster.ClusterStats`) and serves the embedded sidecar's HTTP API over them:
the same endpoints with the numbers merged across nodes, plus `/nodes` for each node's own.

Startup is strict and running is forgiving. If no NATS server answers within
`--connect-timeout` seconds it exits 1 with one error line, so a wrong URL fails loudly instead
of hanging (a supervisor or compose restarts it if NATS is merely late). Once connected it
reconnects forever if NATS goes away; meanwhile it serves what it has, and nodes drop out as
their latest report ages past `--stale-after`.

Like the embedded sidecar it binds the listening socket itself (port 0 works, a busy port
fails at once) and owns SIGINT/SIGTERM: both stop it cleanly with exit code 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import nats.errors
import structlog
from nats.aio.client import Client

from chat import log as chat_log
from chat.settings import build_parser, option
from chat.sidecar.app import create_app
from chat.sidecar.cluster import STALE_AFTER, ClusterStats
from chat.sidecar.http import MAX_CONNECTIONS, TIMEOUT, HttpServer

log = structlog.get_logger("chat.sidecar.standalone")

DESCRIPTION = (
    "HTTP stats of a chat cluster: merges the reports the chat-server nodes started with "
    "--nats publish, with a per-node breakdown at /nodes"
)
STOP_TIMEOUT = 3.0
ENV_PREFIX = "CHAT_STATS_"
"""chat-stats' environment variables (`CHAT_STATS_PORT`): its own, so that a variable meant
for chat-server (`CHAT_PORT`, the chat port) never sets chat-stats' HTTP port."""
RECONNECT_WAIT = 1
"""Seconds between attempts to reach a NATS server (startup and reconnection)."""
ATTEMPT_TIMEOUT = 2
"""Seconds one connection attempt may take."""


_opt = option


@dataclass(frozen=True)
class StatsSettings:
    """`chat-stats` options; each is a flag and a `CHAT_STATS_*` variable (`ENV_PREFIX`)."""

    nats: str = _opt("", "NATS server URL(s), comma-separated (required)")
    host: str = _opt("127.0.0.1", "address to serve HTTP on")
    port: int = _opt(8080, "HTTP port (0 picks a free one)", lo=0, hi=65535)
    max_connections: int = _opt(
        MAX_CONNECTIONS,
        "HTTP connections held at once; past it the oldest idle one is closed, or 503",
        lo=1,
    )
    timeout: float = _opt(
        TIMEOUT, "seconds an HTTP connection may take to send a request, or idle", gt=0
    )
    stale_after: float = _opt(
        STALE_AFTER,
        "seconds without a report after which a node is dropped (nodes report every second)",
        gt=0,
    )
    connect_timeout: float = _opt(
        5.0, "seconds to keep trying NATS at startup before exiting with code 1", gt=0
    )
    log_level: str = _opt("info", "log level", ["debug", "info", "warning", "error"])
    log_format: str = _opt(
        "auto", "log format (auto: pretty on a TTY, else JSON)", ["auto", "json", "pretty"]
    )

    @property
    def urls(self) -> list[str]:
        return [u.strip() for u in self.nats.split(",") if u.strip()]

    @classmethod
    def from_args(
        cls, argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
    ) -> StatsSettings:
        parser = build_parser(cls, DESCRIPTION, environ, "chat-stats", prefix=ENV_PREFIX)
        settings = cls(**vars(parser.parse_args(argv)))
        if not settings.urls:
            parser.error(f"--nats (or {ENV_PREFIX}NATS) is required: the NATS URL(s) the nodes use")
        return settings


class StartupError(Exception):
    """Why `chat-stats` could not start (one line, for the log)."""


def redact(url: str) -> str:
    """`url` without its user:password part, fit for a log."""
    head, at, tail = url.rpartition("@")
    if not at:
        return url
    scheme = head.split("://", 1)[0] + "://" if "://" in head else ""
    return scheme + tail


async def connect(urls: list[str], timeout: float, closed: asyncio.Event) -> Client:
    """A NATS connection that reconnects forever, or StartupError if none is made in time.

    nats-py retries its first connection too when reconnecting is allowed, so the first
    connection is bounded by `timeout` here, reporting the last error nats-py saw."""
    nc = Client()
    last_error: list[str] = []

    async def on_error(err: Exception) -> None:
        last_error[:] = [str(err) or type(err).__name__]
        log.debug("stats.nats_error", error=last_error[0])

    async def on_disconnected() -> None:
        if not nc.is_closed:  # closing on purpose (shutdown) is no news
            log.warning("stats.nats_disconnected")

    async def on_reconnected() -> None:
        url = nc.connected_url.geturl() if nc.connected_url else ""
        log.info("stats.nats_reconnected", url=redact(url))

    async def on_closed() -> None:
        closed.set()

    try:
        await asyncio.wait_for(
            nc.connect(
                servers=urls,
                name="chat-stats",
                connect_timeout=ATTEMPT_TIMEOUT,
                reconnect_time_wait=RECONNECT_WAIT,
                max_reconnect_attempts=-1,
                error_cb=on_error,
                disconnected_cb=on_disconnected,
                reconnected_cb=on_reconnected,
                closed_cb=on_closed,
            ),
            timeout,
        )
    except (TimeoutError, OSError, nats.errors.Error) as err:
        why = last_error[0] if last_error else str(err) or type(err).__name__
        where = ", ".join(redact(u) for u in urls)
        message = f"cannot connect to NATS at {where} within {timeout:g} s: {why}"
        raise StartupError(message) from None
    return nc


async def serve(settings: StatsSettings) -> int:
    """Run until SIGINT/SIGTERM (0) or until the NATS connection is closed for good (1)."""
    closed = asyncio.Event()
    nc = await connect(settings.urls, settings.connect_timeout, closed)
    view = ClusterStats(nc, stale_after=settings.stale_after)
    http = HttpServer(
        create_app(view),
        settings.host,
        settings.port,
        max_connections=settings.max_connections,
        timeout=settings.timeout,
    )
    try:
        await view.start()
        await http.start()
        assert http.serving is not None
        log.info(
            "stats.started",
            host=settings.host,
            port=http.port,
            nats=[redact(u) for u in settings.urls],
            stale_after=settings.stale_after,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        waits = [asyncio.ensure_future(e.wait()) for e in (stop, closed)]
        try:
            await asyncio.wait([*waits, http.serving], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        if stop.is_set():
            return 0
        if closed.is_set():
            log.error("stats.nats_closed")
            return 1
        http.serving.result()  # uvicorn stopped on its own: re-raise why
        return 1
    finally:
        await http.stop()
        await view.stop()
        with contextlib.suppress(nats.errors.Error, OSError):
            await nc.close()
        log.info("stats.stopped")


def main(argv: Sequence[str] | None = None) -> None:
    settings = StatsSettings.from_args(argv)
    chat_log.configure(settings.log_level, settings.log_format)
    try:
        code = asyncio.run(serve(settings))
    except (StartupError, OSError) as err:
        log.error("stats.failed", error=str(err))
        code = 1
    except KeyboardInterrupt:  # before the signal handlers were in place
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
