"""`chat-server`: parse settings, configure logs, pick the loop, serve until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Sequence

import structlog

from chat import log as chat_log
from chat.core.accountjobs import AccountStore
from chat.core.broker import Broker, InProcess
from chat.net.loops import new_loop
from chat.net.server import ChatServer
from chat.settings import Settings


def broker(settings: Settings) -> Broker:
    """The in-process broker, or with --nats the cluster's (nats-py loads only then)."""
    if not settings.nats:
        return InProcess()
    from chat.cluster.natsbroker import NatsBroker

    return NatsBroker(
        settings.nats,
        settings.node_name,
        settings.node_ttl,
        settings.history_size,
        settings.history_bytes,
        settings.nats_connect_timeout,
    )


def account_store(settings: Settings, chosen: Broker) -> AccountStore | None:
    """With --accounts and --nats, the accounts live in JetStream KV; else (None) in SQLite
    under --data-dir (`chat.net.accountdb`)."""
    if not settings.accounts or not settings.nats:
        return None
    from chat.cluster.accountkv import AccountKV
    from chat.cluster.natsbroker import NatsBroker

    assert isinstance(chosen, NatsBroker)
    return AccountKV(chosen)


async def serve(settings: Settings) -> None:
    asyncio.get_running_loop().set_exception_handler(chat_log.asyncio_exception)
    chosen = broker(settings)
    server = ChatServer(settings, chosen, account_store(settings, chosen))
    await server.start()
    sidecar = None
    if settings.stats_port:  # the HTTP stats sidecar, on this same loop (chat.sidecar)
        try:
            from chat.sidecar.embed import Sidecar
        except ImportError as err:
            raise SystemExit(f"--stats-port needs pip install 'chat[stats]': {err}") from None
        sidecar = Sidecar(
            server,
            settings.stats_host,
            settings.stats_port,
            max_connections=settings.stats_max_connections,
            timeout=settings.stats_timeout,
        )
        await sidecar.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    if sidecar is not None:
        await sidecar.stop()
    await server.shutdown()


def main(argv: Sequence[str] | None = None) -> None:
    settings = Settings.from_args(argv)
    chat_log.configure(settings.log_level, settings.log_format)
    loop = new_loop(settings.loop)
    structlog.get_logger("chat").info("server.loop", loop=type(loop).__module__)
    try:
        with asyncio.Runner(loop_factory=lambda: loop) as runner:
            runner.run(serve(settings))
    except OSError as err:
        structlog.get_logger("chat").error("server.failed", error=str(err))
        sys.exit(1)


if __name__ == "__main__":
    main()
