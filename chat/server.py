"""The asyncio layer: accept connections, move bytes between sockets and the hub, shut down.

Each connection gets one handler task (the reader). Output never goes through that task: see
`chat.connection` and `chat.flusher`. Idle clients are found by one sweeper task (`chat.idle`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import Counter
from collections.abc import Sequence
from typing import Any

import structlog

from chat import idle, tls
from chat.cluster.broker import Broker, InProcess
from chat.connection import Client
from chat.flusher import Flusher
from chat.hub import LINK_DOWN, Hub, Limits
from chat.names import fold
from chat.protocol import commands as c
from chat.protocol import events as e
from chat.protocol.codec import is_json_hello
from chat.protocol.errors import (
    CLUSTER_DOWN,
    FLOOD,
    IDLE,
    LINE_TOO_LONG,
    NICK_TAKEN,
    RATE_LIMITED,
    SERVER_FULL,
    TOO_MANY_CONNECTIONS,
    ProtocolError,
)
from chat.protocol.jsonl import JSON
from chat.protocol.lines import TOO_LONG, LineSplitter
from chat.ratelimit import TokenBucket, Verdict
from chat.settings import Settings
from chat.stats import Stats

log = structlog.get_logger("chat.server")

READ_SIZE = 64 * 1024
UNKNOWN_PEER = "unknown"
SHUTDOWN_LINGER = 0.5
"""On shutdown, seconds a flushed client gets to close its side before its socket is closed."""
REFUSAL_GRACE = 1.0
"""Seconds a refused connection gets to read its refusal before it is aborted."""


Deferred = tuple[c.Command, str, Sequence[bytes | object]]
"""A command whose nick must be reserved cluster-wide first: (command, nick, lines after it)."""


class ChatServer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.broker = _broker(settings)
        self.hub = Hub(
            Limits(
                default_room=settings.default_room,
                max_rooms_per_client=settings.max_rooms_per_client,
                max_rooms=settings.max_rooms,
                max_room_members=settings.max_room_members,
            ),
            broker=self.broker,
        )
        self.clients: dict[int, Client] = {}
        self.per_ip: Counter[str] = Counter()
        self._ids = itertools.count(1)
        self._servers: list[asyncio.Server] = []
        self._accepting = False
        self._sweeper: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.flusher: Flusher
        self.port = 0
        self.tls_port = 0

    @property
    def stats(self) -> Stats:
        return self.hub.stats

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.flusher = Flusher(self._loop)
        s = self.settings
        await self.broker.start(self.hub)  # cluster mode: no broker, no node (exit 1)
        if s.plain:
            plain = await asyncio.start_server(
                self._serve, s.host, s.port, limit=READ_SIZE, backlog=4096
            )
            self._servers.append(plain)
            self.port = plain.sockets[0].getsockname()[1]
        if s.tls_cert:
            secure = await asyncio.start_server(
                self._serve,
                s.host,
                s.tls_port,
                limit=READ_SIZE,
                backlog=4096,
                ssl=tls.server_context(s.tls_cert, s.tls_key),
                ssl_handshake_timeout=tls.HANDSHAKE_TIMEOUT,
            )
            self._servers.append(secure)
            self.tls_port = secure.sockets[0].getsockname()[1]
        if not self._servers:
            raise OSError("nothing to serve: --no-plain needs --tls-cert")
        self._accepting = True
        self._sweeper = asyncio.create_task(
            idle.run_sweeper(
                self.clients.values, self.settings.idle_timeout, self._warn_idle, self._cut_idle
            )
        )
        log.info("server.started", host=s.host, port=self.port, tls_port=self.tls_port)

    # --- one connection ----------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._loop is not None
        addr = writer.get_extra_info("peername")
        peer = _peer(addr)
        ip = addr[0] if isinstance(addr, tuple) else UNKNOWN_PEER
        s = self.settings
        if len(self.clients) >= s.max_clients or not self._accepting:
            await self._refuse(reader, writer, peer, SERVER_FULL, "the server is full")
            return
        if s.max_per_ip and self.per_ip[ip] >= s.max_per_ip:
            message = f"{s.max_per_ip} connections from your address already"
            await self._refuse(reader, writer, peer, TOO_MANY_CONNECTIONS, message)
            return
        conn_id = next(self._ids)
        client = Client(self, writer, conn_id, peer, self._loop.time())
        client.ip = ip
        self.per_ip[ip] += 1
        client.task = asyncio.current_task()
        self.clients[conn_id] = client
        log.info("client.connected", conn_id=conn_id, peer=peer)
        bucket = TokenBucket(s.msg_rate, s.msg_burst, self._loop.time()) if s.msg_rate else None
        self.hub.connect(client)
        splitter = LineSplitter(self.settings.max_line)
        reason = "eof"
        try:
            while data := await reader.read(READ_SIZE):
                if not client.closing:  # a closing client's input is discarded (lingering close)
                    later = self._received(client, splitter, bucket, data)
                    while later is not None:  # cluster mode: a nick to reserve first
                        later = await self._reserve_then(client, bucket, later)
                del data  # hold nothing while waiting: 19,000 idle readers add up
        except (ConnectionError, OSError):
            reason = "reset"
        finally:
            if not client.closing:
                client.end(reason, None)
            writer.close()
            self.forget(client, client.reason or reason)

    def _received(
        self, client: Client, splitter: LineSplitter, bucket: TokenBucket | None, data: bytes
    ) -> Deferred | None:
        lines = splitter.feed(data)
        if not lines:
            return None  # a partial line is not activity (a slowloris is cut when idle)
        now = client.last_seen = asyncio.get_running_loop().time()
        client.warned = False
        return self._lines(client, bucket, lines, now)

    def _lines(
        self,
        client: Client,
        bucket: TokenBucket | None,
        lines: Sequence[bytes | object],
        now: float,
    ) -> Deferred | None:
        for i, line in enumerate(lines):
            if bucket is not None and not self._admit(client, bucket, now):
                if client.closing:
                    return None
                continue
            command = self._line(client, line)
            if command is not None:
                nick = self.hub.nick_claimed(client, command) if self.broker.clustered else None
                if nick is not None:
                    return command, nick, lines[i + 1 :]
                self.hub.handle(client, command)
            if client.closing:
                return None
        return None

    async def _reserve_then(
        self, client: Client, bucket: TokenBucket | None, later: Deferred
    ) -> Deferred | None:
        """Reserve a nick with the cluster (this client's reading waits), then carry on."""
        command, nick, rest = later
        folded = fold(nick)
        error = await self.broker.reserve(folded)
        if client.closing:
            if error is None:
                self.broker.release(folded)
            return None
        if error == NICK_TAKEN:
            message = f'nick "{nick}" is taken on another node; pick another'
            self.hub.error(client, ProtocolError(error, message))
        elif error is not None:
            self.hub.error(client, ProtocolError(CLUSTER_DOWN, f"can't claim a nick: {LINK_DOWN}"))
        else:
            self.hub.handle(client, command)
            if client.folded != folded:
                self.broker.release(folded)
        return self._lines(client, bucket, rest, asyncio.get_running_loop().time())

    async def _refuse(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: str,
        code: str,
        message: str,
    ) -> None:
        """Say no in one text line (no dialect is known yet), then close without RST."""
        self.stats.refused += 1
        self.stats.errors[code] += 1
        log.warning("client.refused", peer=peer, reason=code)
        try:
            writer.write(f"! {code}: {message}; try again later\n".encode())
            writer.write_eof()
        except OSError:
            writer.transport.abort()
        else:
            await _linger(reader, writer, REFUSAL_GRACE)

    def _admit(self, client: Client, bucket: TokenBucket, now: float) -> bool:
        """Charge one line to the client's token bucket; warn, drop or cut a flooder."""
        verdict = bucket.take(now)
        if verdict is Verdict.OK:
            return True
        if verdict is Verdict.WARN:
            rate = self.settings.msg_rate
            message = f"more than {rate:g} lines/s: slow down; lines are being dropped"
            self.hub.error(client, ProtocolError(RATE_LIMITED, message))
        elif verdict is Verdict.CUT:
            self.stats.errors[FLOOD] += 1
            log.info("client.flood", conn_id=client.conn_id, nick=client.nick, peer=client.peer)
            client.end(FLOOD, e.Error(FLOOD, "too many lines dropped for flooding; disconnecting"))
        return False

    def _line(self, client: Client, line: bytes | object) -> c.Command | None:
        """Decode one line; errors are answered here, a command is returned to be handled."""
        if line is TOO_LONG:
            limit = self.settings.max_line
            self.hub.error(
                client,
                ProtocolError(LINE_TOO_LONG, f"lines are at most {limit} bytes; it was dropped"),
            )
            return None
        assert isinstance(line, bytes)
        if client.nick is None and is_json_hello(line):
            client.codec = JSON
        try:
            return client.codec.decode(line)
        except ProtocolError as err:
            self.hub.error(client, err)
            return None

    def forget(self, client: Client, reason: str) -> None:
        """Remove a client from the hub and the table. Idempotent; runs outside fan-out loops."""
        if self.clients.pop(client.conn_id, None) is None:
            return
        self.per_ip[client.ip] -= 1
        if not self.per_ip[client.ip]:
            del self.per_ip[client.ip]
        nick = client.nick
        self.hub.disconnect(client, reason)
        self.stats.disconnected(reason)
        log.info(
            "client.disconnected",
            conn_id=client.conn_id,
            peer=client.peer,
            nick=nick,
            reason=reason,
        )

    # --- idle ---------------------------------------------------------------------------------
    def _warn_idle(self, client: Any) -> None:
        left = self.settings.idle_timeout * 0.2
        client.send(
            e.Notice(f"you have been idle; you will be disconnected in {left:.0f}s", "idle-warning")
        )

    def _cut_idle(self, client: Any) -> None:
        log.info("client.idle", conn_id=client.conn_id, nick=client.nick)
        client.end(
            IDLE, e.Error(IDLE, f"idle for {self.settings.idle_timeout:.0f}s; disconnecting")
        )

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
        clients = list(self.clients.values())
        for client in clients:
            client.end("shutdown", e.Bye("server shutting down"), grace=timeout)
        await self._drain_all(clients, timeout)
        await self.broker.stop()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        log.info("server.stopped", stats_connections=self.stats.connections)

    async def _drain_all(self, clients: list[Client], timeout: float) -> None:
        """Wait until every client has its output handed to the kernel (then `SHUTDOWN_LINGER`
        more for it to close its side), or `timeout` passes; abort whoever is left."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        flushed: dict[Client, float] = {}
        pending = {c.task for c in clients if c.task is not None and not c.task.done()}
        while pending and loop.time() < deadline:
            _, pending = await asyncio.wait(pending, timeout=0.05)
            now = loop.time()
            for client in clients:
                transport = client.writer.transport
                if client.task not in pending or transport.get_write_buffer_size():
                    continue
                if now - flushed.setdefault(client, now) >= SHUTDOWN_LINGER:
                    transport.abort()  # the kernel still sends what it holds, then FIN
        for client in clients:
            client.writer.transport.abort()
        if pending:
            await asyncio.wait(pending, timeout=1.0)


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, grace: float) -> None:
    """After our FIN, discard input until the peer closes (or `grace` passes), then close."""
    try:
        async with asyncio.timeout(grace):
            while await reader.read(READ_SIZE):
                pass
    except (TimeoutError, ConnectionError, OSError):
        pass
    writer.transport.abort()


def _broker(settings: Settings) -> Broker:
    if not settings.nats:
        return InProcess()
    from chat.cluster.natsbroker import NatsBroker  # nats-py only loads in cluster mode

    return NatsBroker(settings.nats, settings.node_name, settings.node_ttl)


def _peer(addr: Any) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        return f"{addr[0]}:{addr[1]}"
    return UNKNOWN_PEER  # reset before we asked: getpeername() failed
