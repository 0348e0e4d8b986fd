"""One client's I/O: the session the core sees, plus its socket.

Reading: the server's handler task feeds raw chunks to a `LineSplitter` and each line to the
codec and the hub. Writing: `push` (from the core) appends to the outbox; the first push into an
empty outbox hands the client to the shared `Flusher`, which writes everything pending in one
`write()` per loop pass. When the
kernel pushes back (the transport buffer passes its high-water mark) a writer task is started
for this client alone; it awaits `drain()` and writes the outbox in batches until it is empty.
"""

from __future__ import annotations

import asyncio
import collections
from typing import TYPE_CHECKING

import structlog

from chat.protocol.events import Event
from chat.session import Session

if TYPE_CHECKING:
    from chat.server import ChatServer

log = structlog.get_logger("chat.connection")

HIGH_WATER = 64 * 1024
"""Bytes the transport may buffer beyond the kernel before the client's writer task waits."""
CLOSE_GRACE = 2.0
"""Seconds a closing client gets to read its last lines before its socket is aborted."""


class Client(Session):
    __slots__ = (
        "_writer_task",
        "ip",
        "last_seen",
        "reason",
        "server",
        "task",
        "warned",
        "writer",
    )

    def __init__(
        self, server: ChatServer, writer: asyncio.StreamWriter, conn_id: int, peer: str, now: float
    ) -> None:
        s = server.settings
        super().__init__(conn_id, peer, s.queue_messages, s.queue_bytes)
        self.server = server
        self.writer = writer
        self.last_seen = now
        self.warned = False
        self.reason = ""
        self.ip = ""
        self.task: asyncio.Task[None] | None = None
        self._writer_task: asyncio.Task[None] | None = None
        _lighten(writer)

    # --- Session hooks -----------------------------------------------------------------------
    def wake(self) -> None:
        self.server.flusher.mark(self)

    def overflow(self) -> None:
        self.server.stats.errors["slow-consumer"] += 1
        self.end("slow-consumer", None)

    def close(self, reason: str) -> None:
        self.end(reason, None)

    # --- writing -----------------------------------------------------------------------------
    def flush(self) -> None:
        """Write everything queued in one call, unless the kernel is pushing back."""
        if not self._chunks or self._writer_task is not None:
            return
        transport = self.writer.transport
        if transport.is_closing():
            return
        if transport.get_write_buffer_size() > HIGH_WATER:
            self._writer_task = asyncio.create_task(self._write_when_drained())
            return
        transport.write(self.take())

    async def _write_when_drained(self) -> None:
        try:
            while self._chunks and not self.writer.transport.is_closing():
                await self.writer.drain()
                self.writer.transport.write(self.take())
        except (ConnectionError, OSError):
            pass
        finally:
            self._writer_task = None

    # --- ending ------------------------------------------------------------------------------
    def end(self, reason: str, last: Event | None, grace: float = CLOSE_GRACE) -> None:
        """Stop this client: flush what is queued plus `last`, half-close, abort after `grace`.

        A lingering close: we send FIN after the last bytes and keep reading (and discarding)
        until the peer closes too, because closing a socket with unread input makes the kernel
        send RST, and the peer may lose the lines we just wrote. Safe to call from inside a
        fan-out loop: rooms are left on the next loop pass.
        """
        if self.closing:
            return
        self.closing = True
        self.reason = reason
        self.seal()
        transport = self.writer.transport
        if not transport.is_closing():
            pending = self.take() if self._chunks else b""
            if last is not None:
                pending += self.codec.encode(last)
            try:
                if pending:
                    transport.write(pending)
                if transport.can_write_eof():
                    transport.write_eof()
                else:  # TLS cannot half-close: close() flushes, then sends close_notify
                    transport.close()
            except OSError:  # the peer is already gone
                transport.abort()
            else:
                asyncio.get_running_loop().call_later(grace, transport.abort)
        asyncio.get_running_loop().call_soon(self.server.forget, self, reason)


def _lighten(writer: asyncio.StreamWriter) -> None:
    """Give the stream's protocol a list, not a deque, for its `drain()` waiters.

    asyncio's FlowControlMixin creates a `collections.deque` per connection (about 620 bytes
    even when empty, a tenth of what a connection costs here). Waiters exist only while a
    client's kernel buffer is full, and the mixin only appends, removes and iterates them, which
    a list (56 bytes) does as well. Measured: -0.84 KiB per connection (docs/benchmarks.md).
    Guarded, so a future asyncio that changes this is left alone.
    """
    protocol = getattr(writer, "_protocol", None)
    waiters = getattr(protocol, "_drain_waiters", None)
    if type(waiters) is collections.deque and not waiters:
        protocol._drain_waiters = []  # type: ignore[union-attr]
