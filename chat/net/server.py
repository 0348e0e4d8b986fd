"""The asyncio layer: listeners, admission, the table of clients, and shutdown.

Each accepted socket gets a `chat.net.transport.ChatProtocol` (its protocol and its sans-I/O
connection at once); output goes through the shared `chat.net.flusher.Flusher`; idle clients are
found by one sweeper task (`chat.net.idle`). Nothing here parses a byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import ssl
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import fields
from typing import Any, TypeVar

import structlog

from chat.core import ircstate
from chat.core.accountjobs import AccountStore
from chat.core.accounts import AccountPolicy, Accounts
from chat.core.broker import Broker, InProcess
from chat.core.connection import Policy
from chat.core.hub import Hub, Limits
from chat.core.stats import Stats
from chat.net import idle, tls
from chat.net.accountdb import AccountService, SqliteAccounts
from chat.net.bandb import BanStore
from chat.net.flusher import Flusher
from chat.net.historydb import HistoryDB
from chat.net.transport import ChatProtocol
from chat.protocol import events as e
from chat.protocol.errors import SERVER_FULL, TOO_MANY_CONNECTIONS
from chat.settings import Settings, version

log = structlog.get_logger("chat.server")
T = TypeVar("T")

SHUTDOWN_LINGER = 0.5
"""On shutdown, seconds a flushed client gets to close its side before its socket is closed."""
SHUTDOWN_POLL = 0.05
BACKLOG = 4096


class ChatServer:
    def __init__(
        self,
        settings: Settings,
        broker: Broker | None = None,
        account_store: AccountStore | None = None,
    ) -> None:
        self.settings = s = settings
        self.broker = broker or InProcess()  # the cluster's, when `chat.cli` was given --nats
        # The core's limits and one connection's policy are named as the settings are.
        limits = _pick(Limits, s, room_create_per_address=s.max_per_ip > 0)
        self.hub = Hub(limits, broker=self.broker)
        self.hub.operators.offload = self._offload  # operator passwords: off the loop
        self.policy = _pick(Policy, s)
        self.clients: dict[int, ChatProtocol] = {}
        """Every admitted socket, TLS handshakes in progress included."""
        self.per_ip: Counter[str] = Counter()
        self.refused: set[ChatProtocol] = set()
        """Refused sockets waiting for their peer to read the refusal."""
        self._ids = itertools.count(1)
        self._servers: list[asyncio.Server] = []
        self._accepting = False
        self._all_gone = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self.historydb: HistoryDB | None = None
        self.bandb: BanStore | None = None
        # accounts (--accounts): the rules in the core, the jobs run here (chat.net.accountdb)
        self.accounts: AccountService | None = None
        self._account_store = account_store
        self._grace: dict[ChatProtocol, asyncio.TimerHandle] = {}
        if s.accounts:
            rules = Accounts(self.hub, AccountPolicy(grace=s.nick_grace))
            rules.schedule = self._schedule_grace  # type: ignore[assignment]
        self.loop: asyncio.AbstractEventLoop
        self.flusher: Flusher
        self.port = 0
        self.tls_port = 0
        self.irc_port = 0
        self.irc_tls_port = 0

    @property
    def stats(self) -> Stats:
        return self.hub.stats

    def _offload(self, work: Callable[[], bool], done: Callable[[bool], None]) -> None:
        """Run `work` (a password check: ~50 ms of scrypt) in a worker thread; `done` gets its
        result back on the loop."""
        future = asyncio.get_running_loop().run_in_executor(None, work)
        future.add_done_callback(_done(done))

    async def start(self) -> None:
        self.loop = loop = asyncio.get_running_loop()
        self.flusher = Flusher(loop)
        self.hub.soon = self.flusher.soon  # a room's messages of a loop pass go out together
        s = self.settings
        await self.broker.start(self.hub)  # cluster mode: no broker, no node (exit 1)
        if s.history_db and self.hub.history is not None:
            self.historydb = await HistoryDB.open(s.history_db, self.hub.history)
        if s.history_db:  # server bans are kept in the same file
            self.bandb = await BanStore.open(s.history_db, self.hub.operators, self.hub.moderation)
        if s.accounts and self.hub.accounts is not None:
            store = self._account_store or SqliteAccounts(s.data_dir)
            await store.open(self.hub.accounts.known)
            self.accounts = AccountService(store)
        if s.plain:
            plain = await loop.create_server(
                lambda: ChatProtocol(self), s.host, s.port, backlog=BACKLOG
            )
            self._servers.append(plain)
            self.port = plain.sockets[0].getsockname()[1]
        context = tls.server_context(s.tls_cert, s.tls_key) if s.tls_cert else None
        if context is not None:
            secure = await loop.create_server(
                lambda: ChatProtocol(self, context), s.host, s.tls_port, backlog=BACKLOG
            )
            self._servers.append(secure)
            self.tls_port = secure.sockets[0].getsockname()[1]
        if s.irc:
            await self._start_irc(context)
        if not self._servers:
            raise OSError("nothing to serve: --no-plain needs --tls-cert")
        self._accepting = True
        self._sweeper = asyncio.create_task(
            idle.run_sweeper(self.clients.values, s.idle_timeout), name="idle-sweeper"
        )
        log.info(
            "server.started",
            host=s.host,
            port=self.port,
            tls_port=self.tls_port,
            irc_port=self.irc_port,
            irc_tls_port=self.irc_tls_port,
        )

    async def _start_irc(self, context: ssl.SSLContext | None) -> None:
        """The IRC listeners: the same clients, with an IRC state (`chat.core.ircstate`)."""
        s, loop = self.settings, self.loop
        info = ircstate.server_info(self.hub.limits, version(), self.stats.started)

        def irc_client(tls_context: ssl.SSLContext | None) -> ChatProtocol:
            client = ChatProtocol(self, tls_context)
            ircstate.attach(client, info)
            return client

        if s.plain:
            irc = await loop.create_server(
                lambda: irc_client(None), s.host, s.irc_port, backlog=BACKLOG
            )
            self._servers.append(irc)
            self.irc_port = irc.sockets[0].getsockname()[1]
        if context is not None:
            secure = await loop.create_server(
                lambda: irc_client(context), s.host, s.irc_tls_port, backlog=BACKLOG
            )
            self._servers.append(secure)
            self.irc_tls_port = secure.sockets[0].getsockname()[1]

    # --- the table of clients --------------------------------------------------------------
    def admit(self, client: ChatProtocol) -> tuple[str, str] | None:
        """Count a new socket in, or say why not: `(error code, message)`."""
        s = self.settings
        reason = None
        if len(self.clients) >= s.max_clients or not self._accepting:
            reason = SERVER_FULL, "the server is full"
        elif s.max_per_ip and self.per_ip[client.ip] >= s.max_per_ip:
            reason = TOO_MANY_CONNECTIONS, f"{s.max_per_ip} connections from your address already"
        if reason is not None:
            self.stats.refused += 1
            self.stats.errors[reason[0]] += 1
            log.warning("client.refused", peer=client.peer, reason=reason[0])
            return reason
        client.conn_id = next(self._ids)
        self.clients[client.conn_id] = client
        self.per_ip[client.ip] += 1
        self._all_gone.clear()
        return None

    def forget(self, client: ChatProtocol, reason: str) -> None:
        """Take a client out of the hub: its rooms, its nick, the stats. Once per client; runs
        outside fan-out loops. Its socket stays counted until `release`."""
        if client.forgotten:
            return
        client.forgotten = True
        if not client.started:  # a TLS handshake that never finished
            log.info("client.disconnected", conn_id=client.conn_id, peer=client.peer, reason=reason)
            return
        nick = client.nick
        timer = self._grace.pop(client, None)
        if timer is not None:
            timer.cancel()
        self.hub.disconnect(client, reason)
        self.stats.disconnected(reason)
        log.info(
            "client.disconnected",
            conn_id=client.conn_id,
            peer=client.peer,
            nick=nick,
            reason=reason,
        )

    def release(self, client: ChatProtocol) -> None:
        """The socket is closed: stop counting it."""
        if self.clients.pop(client.conn_id, None) is None:
            return
        self.per_ip[client.ip] -= 1
        if not self.per_ip[client.ip]:
            del self.per_ip[client.ip]
        if not self.clients:
            self._all_gone.set()

    def _schedule_grace(self, client: ChatProtocol, delay: float) -> None:
        """`Accounts.schedule`: look at `client`'s nick again in `delay` seconds (one timer
        per client holding a registered nick unidentified; none for anyone else)."""
        old = self._grace.pop(client, None)
        if old is not None:
            old.cancel()
        self._grace[client] = self.loop.call_later(delay, self._grace_due, client)

    def _grace_due(self, client: ChatProtocol) -> None:
        self._grace.pop(client, None)
        accounts = self.hub.accounts
        if accounts is None or client.closing:
            return
        command = accounts.expire(client)
        if command is not None and client.inject(command, self.loop.time()):
            client.resume()  # a nick to reserve (cluster): the transport takes it from here

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a per-connection step (a TLS handshake, a nick reservation) as a kept task."""
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("server.task_failed", error=repr(exc), exc_info=exc)

    # --- shutdown -----------------------------------------------------------------------------
    async def shutdown(self) -> None:
        """Stop accepting, tell every client, flush within `shutdown_timeout`, then abort."""
        if not self._accepting:
            return
        self._accepting = False
        for server in self._servers:
            server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
        log.info("server.stopping", clients=len(self.clients))
        self.broker.leave()
        timeout = self.settings.shutdown_timeout
        for client in list(self.clients.values()):
            client.end("shutdown", e.Bye("server shutting down"), grace=timeout)
        await self._drain_all(timeout)
        for task in list(self._tasks):
            task.cancel()
        if self.accounts is not None:
            await self.accounts.close()
        await self.broker.stop()
        if self.historydb is not None:
            await self.historydb.close()
        if self.bandb is not None:
            await self.bandb.close()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        log.info("server.stopped", stats_connections=self.stats.connections)

    async def _drain_all(self, timeout: float) -> None:
        """Wait until every client has closed, or has had its output handed to the kernel
        `SHUTDOWN_LINGER` seconds ago, or `timeout` passes; abort whoever is left."""
        loop = self.loop
        deadline = loop.time() + timeout
        flushed: dict[ChatProtocol, float] = {}
        while self.clients and loop.time() < deadline:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_gone.wait(), SHUTDOWN_POLL)
            now = loop.time()
            for client in list(self.clients.values()):
                transport = client.transport
                if transport.get_write_buffer_size():
                    continue
                if now - flushed.setdefault(client, now) >= SHUTDOWN_LINGER:
                    transport.abort()  # the kernel still sends what it holds, then FIN
        for client in list(self.clients.values()):
            client.transport.abort()
        for client in list(self.refused):
            client.transport.abort()
        if self.clients:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_gone.wait(), 1.0)


def _done(done: Callable[[bool], None]) -> Callable[[asyncio.Future[bool]], None]:
    def finished(future: asyncio.Future[bool]) -> None:
        try:
            ok = future.result()
        except Exception:
            log.exception("moderation.verify_failed")
            ok = False
        done(ok)

    return finished


def _pick(cls: type[T], settings: Settings, **extra: Any) -> T:
    """`cls` (a dataclass of limits) with every field the settings also have, plus `extra`."""
    names = {f.name for f in fields(cls)} & {f.name for f in fields(settings)}  # type: ignore[arg-type]
    return cls(**{name: getattr(settings, name) for name in names}, **extra)
