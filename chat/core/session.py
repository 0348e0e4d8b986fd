"""A session: one client as the core sees it. No I/O; the transport subclasses it.

The core only ever calls `push` (queue bytes for this client) and `close` (end this client,
after flushing what is queued). The transport decides how bytes reach the socket.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chat.core.outbox import Outbox
from chat.core.ratelimit import TokenBucket
from chat.protocol.codec import Codec
from chat.protocol.events import Event
from chat.protocol.text import TEXT

if TYPE_CHECKING:
    from chat.core.accountjobs import Job
    from chat.core.rooms import Room


class Session(Outbox):
    __slots__ = (
        "account",
        "closing",
        "codec",
        "conn_id",
        "creating",
        "current",
        "folded",
        "guard",
        "ip",
        "nick",
        "oper",
        "peer",
        "preauth",
        "rooms",
        "waiting",
    )

    def __init__(
        self, conn_id: int, peer: str, max_messages: int, max_bytes: int, ip: str = ""
    ) -> None:
        super().__init__(max_messages, max_bytes)
        self.conn_id = conn_id
        self.peer = peer
        self.ip = ip  # the address, for limits per address (room creation)
        self.creating: TokenBucket | None = None  # room creation budget, made on first use
        self.codec: Codec = TEXT  # until the first line says otherwise
        self.nick: str | None = None
        self.folded = ""
        self.rooms: dict[str, Room] = {}  # folded name -> room, in join order
        self.current: Room | None = None
        self.closing = False
        self.oper = ""  # the `--oper` name this client identified as (server operator), or ""
        self.account: str | None = None
        """The account this client identified to (`chat.core.accounts`, --accounts): its folded
        name, the nick it was registered with, folded; None until then. Ban masks `$a:name`
        match it (`chat.core.moderation.Identity.account`); `Accounts.listeners` are told when
        it is set."""
        self.waiting: Job | None = None  # an account job the transport runs off the loop
        self.guard = 0.0  # holding a registered nick unidentified: rename deadline (0: none)
        self.preauth: str | None = None  # a password given before the nick (IRC PASS)

    # `push(data)` (from Outbox) queues bytes for this client; on overflow it is cut.

    def send(self, event: Event) -> None:
        """Encode `event` in this session's dialect and queue it."""
        self.push(self.codec.encode(event))

    def full(self, data: bytes) -> bool:
        """A push would pass the outbox's bounds: here (no transport to write to) that makes
        a slow consumer; the transport first tries writing (`ChatProtocol.full`)."""
        if not self.closing:
            self.overflow()
        return False

    # --- hooks for the transport (`wake` comes from Outbox) -------------------------------
    def overflow(self) -> None:
        """Cut this client as a slow consumer. Must not touch rooms synchronously."""
        self.closing = True
        self.seal()

    def close(self, reason: str) -> None:
        """End this client after flushing what is queued. Must not touch rooms synchronously."""
        self.closing = True
        self.seal()
