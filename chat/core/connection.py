"""One client connection as a sans-I/O state machine: bytes in, commands to the hub, bytes out.

Theory of operation
-------------------
The transport (`chat.net.transport`) calls `receive_data(bytes, now)` with whatever the socket
gave it, then `process(now)`; the connection splits lines (bounded by `max_line`), charges each
to its token bucket, picks the dialect from the first line, decodes, and hands commands to the
hub. Everything the hub answers lands in this connection's outbox (it *is* a `Session`), and
the transport writes it out. No asyncio here: the transitions are tested in memory
(`tests/test_connection.py`).

States (`state`), and what moves a connection between them:

    HELLO -------- a nick is accepted (hello, /nick, a text first line) --------> REGISTERED
    HELLO | REGISTERED -- end(): quit, flood, idle, slow consumer, eof, error --> CLOSING
    CLOSING ------------------ the transport let go of the socket (lost) ------> CLOSED

In CLOSING, input is discarded and nothing more is queued but the one last event `end` was
given (a `bye` or an error line).

The boundary: decoding and handling raise only `ProtocolError`, which becomes an error line to
this client. Any other exception is a bug in the server: this connection ends with reason
`internal-error` (counted, logged once with its traceback) and nobody else is affected.

Fairness: one `process` call handles at most `LINES_PER_PASS` lines or `BYTES_PER_PASS` bytes
of input, then returns True ("more to do"); the transport stops reading this socket and calls
again on the next loop pass, after everyone else had a turn and the output was written. So no
loop pass can queue more than a bounded burst from any one sender.

Replies cost what they weigh: a command's reply to its sender costs one extra token of the
rate limit per `REPLY_UNIT` bytes (`/rooms`, `/who` on a big room).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import structlog

from chat.core.accountjobs import Outcome
from chat.core.hub import LINK_DOWN
from chat.core.ratelimit import TokenBucket, Verdict
from chat.core.session import Session
from chat.protocol import commands as c
from chat.protocol import events as e
from chat.protocol.codec import is_json_hello, is_json_value
from chat.protocol.errors import (
    BAD_JSON,
    CLUSTER_DOWN,
    FLOOD,
    IDLE,
    INTERNAL_ERROR,
    LINE_TOO_LONG,
    NICK_TAKEN,
    RATE_LIMITED,
    SLOW_CONSUMER,
    ProtocolError,
)
from chat.protocol.jsonl import JSON
from chat.protocol.lines import TOO_LONG, Line, LineSplitter
from chat.protocol.names import fold
from chat.protocol.text import TEXT

if TYPE_CHECKING:
    from chat.core.hub import Hub

log = structlog.get_logger("chat.connection")

LINES_PER_PASS = 64
BYTES_PER_PASS = 16 * 1024
"""Input handled per connection per loop pass, at most (whichever is reached first)."""
LINE_COST = BYTES_PER_PASS // LINES_PER_PASS
REPLY_UNIT = 4096
"""A reply to its sender costs one extra rate-limit token per this many bytes."""
CLOSE_GRACE = 2.0
"""Seconds a closing client gets to read its last lines before its socket is aborted."""
IDLE_WARN_AT = 0.8
"""Fraction of `--idle-timeout` of silence after which a client is warned."""


class State(enum.Enum):
    HELLO = "hello"
    REGISTERED = "registered"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Policy:
    """One connection's limits (from `Settings`; each is documented in docs/protocol.md)."""

    max_line: int = 4096
    queue_messages: int = 2048
    queue_bytes: int = 256 * 1024
    msg_rate: float = 20.0  # 0: no rate limit
    msg_burst: int = 40
    idle_timeout: float = 300.0


Reservation = tuple[c.Command, str]
"""A command waiting for its nick to be reserved cluster-wide: (command, nick)."""


class Dialect(Protocol):
    """A dialect with per-connection state (IRC: `chat.core.ircstate`), chosen by the listener.
    Without one, the first line picks a stateless codec (text or JSON)."""

    def decode(self, line: bytes) -> Iterable[c.Command]:
        """One line as core commands, handled one at a time as they are produced."""
        ...

    def reply(self, event: e.Event) -> bytes:
        """`event` as this client should get it (b"": nothing)."""
        ...


class Connection(Session):
    __slots__ = (
        "_lines",
        "_next",
        "_reply_bytes",
        "_splitter",
        "bucket",
        "closed",
        "dialect",
        "hub",
        "last_seen",
        "policy",
        "reason",
        "reserving",
        "secure",
        "warned",
    )

    def __init__(
        self, hub: Hub, policy: Policy, conn_id: int = 0, peer: str = "", ip: str = ""
    ) -> None:
        super().__init__(conn_id, peer, policy.queue_messages, policy.queue_bytes, ip)
        self.hub = hub
        self.policy = policy
        self.last_seen = 0.0
        self.warned = False
        self.reason = ""
        self.closed = False
        self.reserving: Reservation | None = None
        self.secure = False  # over TLS (the transport says): IRC offers SASL only then
        self.bucket: TokenBucket | None = None
        self.dialect: Dialect | None = None
        self._splitter = LineSplitter(policy.max_line)
        self._lines: list[Line] = []
        self._next = 0
        self._reply_bytes = 0

    @property
    def state(self) -> State:
        if self.closed:
            return State.CLOSED
        if self.closing:
            return State.CLOSING
        return State.HELLO if self.nick is None else State.REGISTERED

    # --- input ---------------------------------------------------------------------------------
    def start(self, now: float) -> None:
        """The socket is ready (a TLS one after its handshake): greet the client."""
        self.last_seen = now
        if self.policy.msg_rate:
            self.bucket = TokenBucket(self.policy.msg_rate, self.policy.msg_burst, now)
        self.hub.connect(self)

    def receive_data(self, data: bytes, now: float) -> None:
        """Bytes from the socket. Complete lines wait for `process`; a closing client's input
        is discarded (it is being closed gracefully)."""
        if self.closing:
            return
        lines = self._splitter.feed(data)
        if lines:  # a partial line is not activity (a slowloris is cut when idle)
            self.last_seen = now
            self.warned = False
            if self._lines:
                self._lines.extend(lines)
            else:
                self._lines = lines

    @property
    def pending(self) -> bool:
        """Lines received and not handled yet (the transport reads no more until they are)."""
        return self._next < len(self._lines)

    def process(self, now: float) -> bool:
        """Handle received lines, at most one pass's worth. True if lines are left for the next
        pass; False when done, closing, or waiting for a nick reservation (`reserving`)."""
        lines, i, spent = self._lines, self._next, 0
        try:
            while i < len(lines) and not self.parked and not self.closing:
                line = lines[i]
                i += 1
                self._line(line, now)
                spent += LINE_COST + (len(line) if isinstance(line, bytes) else 0)
                if spent >= BYTES_PER_PASS:
                    break
        except Exception as exc:  # the boundary: anything else is a bug of ours
            self.internal_error(exc)
        if i >= len(lines) or self.closing:
            self._lines, self._next = [], 0
            return False
        self._next = i
        return not self.parked

    @property
    def parked(self) -> bool:
        """Waiting for the transport: a nick reservation, or an account job (`waiting`)."""
        return self.reserving is not None or self.waiting is not None

    def _line(self, line: Line, now: float) -> None:
        if self.bucket is not None and not self._admit(now):
            return
        if line is TOO_LONG:
            limit = self.policy.max_line
            self._error(LINE_TOO_LONG, f"lines are at most {limit} bytes; it was dropped")
            return
        assert isinstance(line, bytes)
        self._reply_bytes = 0
        try:
            if self.dialect is None:
                command = self._decode(line)
                if command is not None:
                    self._command(command, now)
            else:
                for command in self.dialect.decode(line):
                    if self.closing or not self._command(command, now) or self.waiting:
                        break
        except ProtocolError as err:
            self.hub.error(self, err)
        self._charge(now)

    def _command(self, command: c.Command, now: float) -> bool:
        """Handle one command, or park it for a nick reservation (False: stop there)."""
        if self.hub.broker.clustered:
            nick = self.hub.nick_claimed(self, command)
            if nick is not None:
                self.reserving = (command, nick)  # the transport reserves it, then `reserved`
                return False
        self._handle(command, now)
        return True

    def _decode(self, line: bytes) -> c.Command | None:
        if self.nick is None:  # the first line picks the dialect
            if is_json_hello(line):
                self.codec = JSON
            elif self.codec is TEXT and is_json_value(line):
                message = 'a program starts with {"type":"hello",...}; a human with a nick'
                raise ProtocolError(BAD_JSON, message)
        return self.codec.decode(line)

    def _handle(self, command: c.Command, now: float) -> None:
        self.hub.handle(self, command)

    def _charge(self, now: float) -> None:
        """What this line's replies weighed (every push to this client while handling it, in
        any dialect) costs extra tokens: one per `REPLY_UNIT` bytes."""
        if self.bucket is not None and self._reply_bytes >= REPLY_UNIT:
            self.bucket.charge(self._reply_bytes // REPLY_UNIT, now)
        self._reply_bytes = 0

    def reserved(self, error: str | None, now: float) -> None:
        """The cluster answered the reservation of `reserving`'s nick (None: it is ours)."""
        if self.reserving is None:
            return
        command, nick = self.reserving
        self.reserving = None
        try:
            if error == NICK_TAKEN:
                self._error(NICK_TAKEN, f'nick "{nick}" is taken on another node; pick another')
            elif error is not None:
                self._error(CLUSTER_DOWN, f"can't claim a nick: {LINK_DOWN}")
            elif not self.closing:
                self._reply_bytes = 0
                self._handle(command, now)
                self._charge(now)
        except Exception as exc:  # the boundary, as in `process`
            self.internal_error(exc)
        finally:
            if error is None and self.folded != fold(nick):  # reserved, but not ours after all
                self.hub.broker.release(fold(nick))

    # --- accounts (issue 17): a job run off the loop, and the grace rename ----------------------
    def account_done(self, outcome: Outcome, now: float) -> None:
        """The transport ran the account job of `waiting` (`chat.net.accountdb`)."""
        job, self.waiting = self.waiting, None
        if job is None or self.closing or self.hub.accounts is None:
            return
        try:
            self._reply_bytes = 0
            self.hub.accounts.finish(self, job, outcome)
            self._charge(now)
        except Exception as exc:  # the boundary, as in `process`
            self.internal_error(exc)

    def inject(self, command: c.Command, now: float) -> bool:
        """Run `command` as if this client had sent it (the rename of a protected nick's
        holder); False when the client is parked or closing: try again later."""
        if self.closing or self.parked:
            return False
        try:
            self._reply_bytes = 0
            self._command(command, now)
            self._charge(now)
        except Exception as exc:  # the boundary, as in `process`
            self.internal_error(exc)
        return True

    def _admit(self, now: float) -> bool:
        """Charge one line to the token bucket; warn, drop or cut a flooder."""
        assert self.bucket is not None
        verdict = self.bucket.take(now)
        if verdict is Verdict.OK:
            return True
        if verdict is Verdict.WARN:
            rate = self.policy.msg_rate
            self._error(RATE_LIMITED, f"more than {rate:g} lines/s: slow down; lines are dropped")
        elif verdict is Verdict.CUT:
            log.info("client.flood", conn_id=self.conn_id, nick=self.nick, peer=self.peer)
            self.hub.stats.errors[FLOOD] += 1
            self.end(FLOOD, e.Error(FLOOD, "too many lines dropped for flooding; disconnecting"))
        return False

    def _error(self, code: str, message: str) -> None:
        self.hub.error(self, ProtocolError(code, message))

    # --- output --------------------------------------------------------------------------------
    def send(self, event: e.Event) -> None:
        """Encode `event` in this connection's dialect and queue it (a reply: it is weighed)."""
        data = self.codec.encode(event) if self.dialect is None else self.dialect.reply(event)
        if data:
            self.push(data)

    def push(self, data: bytes) -> None:
        """Queue bytes for this client alone (a reply, a private message): weighed for the
        rate limit while a line of this client's is being handled (`_charge`)."""
        self._reply_bytes += len(data)
        super().push(data)

    def refusal(self, code: str, message: str) -> bytes:
        """The one line refusing a connection at the door (`server-full`, ...): text, as no
        dialect is known yet, unless the listener chose one (IRC: `ERROR :...`)."""
        if self.dialect is None:
            return f"! {code}: {message}\n".encode()
        return self.dialect.reply(e.Error(code, message))

    # --- ending --------------------------------------------------------------------------------
    def end(self, reason: str, last: e.Event | None = None, grace: float = CLOSE_GRACE) -> None:
        """Stop this client: what is queued plus `last` is still sent, then the transport
        closes (`ended`). Safe inside a fan-out loop: rooms are left by the transport later."""
        if self.closing:
            return
        self.closing = True
        self.reason = reason
        self.seal()
        if last is not None:
            data = self.codec.encode(last) if self.dialect is None else self.dialect.reply(last)
            self._chunks.append(data)
            self.nbytes += len(data)
        self.ended(grace)

    def internal_error(self, exc: BaseException) -> None:
        """A bug met this client's input: end it alone, count it, log the traceback once."""
        self.hub.stats.errors[INTERNAL_ERROR] += 1
        log.error(
            "client.internal_error",
            conn_id=self.conn_id,
            peer=self.peer,
            nick=self.nick,
            error=f"{type(exc).__name__}: {exc}",
            exc_info=exc,
        )
        self.end(INTERNAL_ERROR, e.Error(INTERNAL_ERROR, "the server failed; disconnecting"))

    def lost(self) -> None:
        """The transport let go of the socket."""
        self.closing = True
        self.closed = True
        self.seal()

    # --- Session hooks -------------------------------------------------------------------------
    def overflow(self, waiting: int = 0) -> None:
        self.hub.stats.errors[SLOW_CONSUMER] += 1
        kib = max(waiting, self.nbytes) // 1024
        message = f"you are not reading: {kib} KiB are waiting for you; disconnecting"
        self.end(SLOW_CONSUMER, e.Error(SLOW_CONSUMER, message))

    def close(self, reason: str) -> None:
        self.end(reason)

    def ended(self, grace: float) -> None:
        """Hook: `end` was called; the transport flushes, half-closes and lets go."""

    # --- idle ----------------------------------------------------------------------------------
    def idle_check(self, now: float) -> None:
        """Warn a client silent for 80% of `--idle-timeout`; cut one silent for all of it."""
        timeout = self.policy.idle_timeout
        silent = now - self.last_seen
        if silent >= timeout:
            log.info("client.idle", conn_id=self.conn_id, nick=self.nick, peer=self.peer)
            self.end(IDLE, e.Error(IDLE, f"idle for {timeout:.0f}s; disconnecting"))
        elif silent >= timeout * IDLE_WARN_AT and not self.warned:
            self.warned = True
            left = timeout * (1 - IDLE_WARN_AT)
            text = f"you have been idle; you will be disconnected in {left:.0f}s"
            self.send(e.Notice(text, "idle-warning"))
