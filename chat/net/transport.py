"""The asyncio side of one connection: an `asyncio.Protocol` that only moves bytes.

`ChatProtocol` is at once the sans-I/O connection (`chat.core.connection.Connection`: lines,
dialect, limits, the hub) and the protocol of its socket, so a connection costs one Python
object and no task: bytes arrive in `data_received`, go to `receive_data`/`process`, and what
the hub queued leaves through the shared `Flusher` (one `write()` per client per loop pass).

- **Fair input.** When `process` says a pass's worth of input is used up, reading pauses and
  the rest is handled on the next loop pass, after everyone else and after the output of this
  pass was written.
- **Slow consumers** (`full`): a push that would pass the outbox's bounds first hands what is
  queued to the kernel; only bytes the kernel would not take count. A client is cut when, after
  that write, more than `--queue-bytes` (plus the 64 KiB the transport may hold) still wait.
- **Backpressure.** Past `HIGH_WATER` bytes in the transport, asyncio calls `pause_writing`:
  the outbox holds what comes (bounded as above) until `resume_writing`.
- **Closing** (`ended`): write what is queued plus the last event, half-close, keep reading
  and discarding until the peer closes (so the kernel does not answer unread input with RST
  and lose our last lines), abort after a grace.
- **TLS**: the socket is accepted as plain TCP, so a handshake in progress already counts
  toward `--max-clients` and `--max-per-ip`; the connection is upgraded with `start_tls`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
from typing import TYPE_CHECKING, Any

import structlog

from chat.core.accountjobs import Outcome
from chat.core.connection import Connection
from chat.net.tls import HANDSHAKE_TIMEOUT
from chat.protocol.errors import SLOW_CONSUMER
from chat.protocol.names import fold

if TYPE_CHECKING:
    from chat.net.server import ChatServer

log = structlog.get_logger("chat.transport")

HIGH_WATER = 64 * 1024
"""Bytes the transport may buffer beyond the kernel before writing pauses."""
REFUSAL_GRACE = 1.0
"""Seconds a refused connection gets to read its refusal before it is aborted."""
MAX_REFUSED_LINGERING = 1000
"""Refused sockets that may wait `REFUSAL_GRACE` for their peer at once; past it, abort."""
UNKNOWN_PEER = "unknown"


class ChatProtocol(Connection, asyncio.Protocol):
    __slots__ = (
        "_abort",
        "_paused",
        "_reading",
        "_tls",
        "forgotten",
        "server",
        "started",
        "transport",
    )

    def __init__(self, server: ChatServer, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(server.hub, server.policy)
        self.server = server
        self.transport: Any = None  # asyncio.Transport (an SSL one after the handshake)
        self.started = False  # greeted (a TLS one: after its handshake)
        self.forgotten = False  # out of the hub (`ChatServer.forget`)
        self._tls = tls
        self._paused = False  # the transport asked us to stop writing
        self._reading = True
        self._abort: asyncio.TimerHandle | None = None
        self.secure = tls is not None

    # --- asyncio.Protocol ----------------------------------------------------------------------
    def connection_made(self, transport: Any) -> None:  # uvloop's is no asyncio.Transport
        self.transport = transport
        addr = transport.get_extra_info("peername")
        if isinstance(addr, tuple) and len(addr) >= 2:
            self.peer, self.ip = f"{addr[0]}:{addr[1]}", str(addr[0])
        else:  # reset before we asked: getpeername() failed
            self.peer = self.ip = UNKNOWN_PEER
        refusal = self.server.admit(self)
        if refusal is not None:
            self._refuse(*refusal)
            return
        log.info("client.connected", conn_id=self.conn_id, peer=self.peer)
        if self._tls is None:
            self._ready()
        else:
            transport.pause_reading()  # TLS bytes are for the handshake, not for us
            self.server.spawn(self._handshake(self._tls))

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return  # a closing client's input is discarded (lingering close)
        self.receive_data(data, self.server.loop.time())
        self._work()

    def eof_received(self) -> bool:
        if not self.closing:
            self.end("eof")
        return False  # let the transport close once our last bytes are out

    def connection_lost(self, exc: Exception | None) -> None:
        if self._abort is not None:
            self._abort.cancel()
        reason = self.reason or ("reset" if exc is not None else "eof")
        self.lost()
        if self.conn_id:
            self.server.forget(self, reason)
            self.server.release(self)
        else:  # a refused connection
            self.server.refused.discard(self)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self.flush()

    # --- starting ------------------------------------------------------------------------------
    def _ready(self) -> None:
        self.transport.set_write_buffer_limits(high=HIGH_WATER)
        self.started = True
        self.start(self.server.loop.time())

    async def _handshake(self, context: ssl.SSLContext) -> None:
        loop, raw = self.server.loop, self.transport
        try:
            secure = await loop.start_tls(
                raw, self, context, server_side=True, ssl_handshake_timeout=HANDSHAKE_TIMEOUT
            )
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError) as err:
            error = f"{type(err).__name__}: {err}".rstrip(": ")
            log.info("client.tls_failed", conn_id=self.conn_id, peer=self.peer, error=error)
            self.reason = self.reason or "tls-failed"
            secure = None
        if secure is None or self.closing:  # failed, or cut (idle, shutdown) meanwhile
            raw.abort()
            if not self.closed:  # the raw transport's end does not reach us: finish here
                self.connection_lost(None)
            return
        self.transport = secure
        self._ready()

    def _refuse(self, code: str, message: str) -> None:
        """Say no in one text line (no dialect is known yet), then close without RST."""
        self.closing = True
        transport = self.transport
        if self._tls is not None or len(self.server.refused) >= MAX_REFUSED_LINGERING:
            transport.abort()  # nothing readable to say before a handshake; or too many waits
            return
        self.server.refused.add(self)
        transport.write(self.refusal(code, f"{message}; try again later"))
        transport.write_eof()
        self._abort = self.server.loop.call_later(REFUSAL_GRACE, transport.abort)

    # --- input ---------------------------------------------------------------------------------
    def _work(self) -> None:
        """Handle a pass's worth of input; pause reading while lines are left or a nick is
        being reserved, resume once done."""
        more = self.process(self.server.loop.time())
        if self.reserving is not None:
            self._pause_reading()
            self.server.spawn(self._reserve())
        elif self.waiting is not None:
            self._pause_reading()
            self.server.spawn(self._account())
        elif more:
            self._pause_reading()
            self.server.loop.call_soon(self._next_pass)
        elif not self._reading and not self.transport.is_closing():
            self._reading = True
            self.transport.resume_reading()

    def _next_pass(self) -> None:
        if not self.closing:
            self._work()

    def _pause_reading(self) -> None:
        if self._reading:
            self._reading = False
            self.transport.pause_reading()

    async def _reserve(self) -> None:
        """Cluster mode: reserve a nick cluster-wide (this client's input waits), go on."""
        assert self.reserving is not None
        _, nick = self.reserving
        error = await self.hub.broker.reserve(fold(nick))
        self.reserved(error, self.server.loop.time())
        if not self.closing:
            self._work()

    async def _account(self) -> None:
        """Accounts: run the parked job off the loop (this client's input waits), go on."""
        job, service = self.waiting, self.server.accounts
        assert job is not None
        outcome = Outcome.DOWN if service is None else await service.run(job)
        if self.waiting is job:
            self.account_done(outcome, self.server.loop.time())
        if not self.closing:
            self._work()

    def resume(self) -> None:
        """Something outside this client's input changed its state (a rename was injected):
        go on as after input."""
        if not self.closing:
            self._work()

    # --- output --------------------------------------------------------------------------------
    def wake(self) -> None:
        self.server.flusher.mark(self)

    def flush(self) -> None:
        """Write everything queued in one call, unless the transport asked us to wait."""
        if self._chunks and not self._paused and self.started and not self.transport.is_closing():
            self.transport.write(self.take())

    def full(self, data: bytes) -> bool:
        """A push would pass the outbox's bounds: write what is queued first, and take `data`
        unless the kernel would not take enough (then this client is a slow consumer)."""
        if self.closing:
            return False
        if not self._paused:
            self.flush()
        waiting = self.transport.get_write_buffer_size() + self.nbytes + len(data)
        if waiting <= self.max_bytes + HIGH_WATER and len(self._chunks) < self.max_messages:
            self.append(data)
            return True
        log.info(
            "client.slow_consumer",
            conn_id=self.conn_id,
            nick=self.nick,
            peer=self.peer,
            waiting=waiting,
        )
        self.overflow(waiting)
        return False

    # --- ending --------------------------------------------------------------------------------
    def ended(self, grace: float) -> None:
        loop = self.server.loop
        loop.call_soon(self.server.forget, self, self.reason)
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if not self.started:  # still in its TLS handshake: nothing to say
            transport.abort()
            return
        try:
            if self._chunks:
                transport.write(self.take())
            if transport.can_write_eof():
                transport.write_eof()
            else:  # TLS cannot half-close: close() flushes, then sends close_notify
                transport.close()
        except (OSError, RuntimeError):  # the peer is already gone
            transport.abort()
            return
        # A slow consumer that still has not read its last lines after the grace gets a reset:
        # a plain close would leave the kernel holding megabytes for it (FIN-WAIT-1).
        abort = _reset if self.reason == SLOW_CONSUMER else _close
        self._abort = loop.call_later(grace, abort, transport)
        if not self._reading and not transport.is_closing():
            self._reading = True
            transport.resume_reading()  # read (and discard) until the peer closes


def _close(transport: Any) -> None:
    transport.abort()  # the kernel still sends what it holds, then FIN


_LINGER_0 = struct.pack("ii", 1, 0)


def _reset(transport: Any) -> None:
    """Abort with RST, so the kernel drops what it still holds for this peer."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_0)
    transport.abort()
