"""The client's connection: JSON lines over TCP (or TLS), with reconnects. No UI code here.

Theory of operation. `Connection.run()` drives one `Lifecycle` (client/lifecycle.py):
CONNECTING opens the socket (the very first failure raises `Unreachable`: there is no session
to keep); REGISTERING says hello and settles the nick; ONLINE feeds events to `on_event` after
updating `state`; a lost link goes to RECONNECTING, which waits (exponential backoff with
jitter) and connects again; `quit()` or a fatal refusal goes to CLOSED, which nothing leaves.

Registration has one outcome per server answer: `welcome` goes online; `nick-taken` tries
`nick_`, `nick__`, ... (at most 3, never the same nick twice) and then asks the user; a
`bad-nick`, or no nick at all, asks the user (`needs_nick`; the UI sends the answer with
`choose_nick`); `cluster-down` asks again later; `bad-version` is fatal (`Fatal`).

A reconnect is quiet: one local line when the link drops, one when it is back; the rooms are
taken back by client/rejoin.py, whose answers are passed on marked `quiet` (state updated,
nothing shown). Lines typed while offline wait in a bounded queue and go out after the rejoin;
past the bound they are refused, never dropped silently.

A room's past goes through client/backlog.py: each rejoin carries `since` (the last line shown),
the missed lines come out once, in order, under one line saying how many (or that some are
missing); a join of your own asks for the room's recent lines, shown as history.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import ssl
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from client.backlog import Backlog
from client.errors import Fatal, Unreachable, why
from client.lifecycle import Lifecycle, Phase
from client.nicks import MAX_FALLBACKS, RULE, fallback
from client.rejoin import Rejoin
from client.render import duration
from client.state import State

__all__ = ["Connection", "Event", "Fatal", "Unreachable", "local"]
Event = dict[str, Any]
PROTOCOL_VERSION = 1
MAX_PENDING = 100
"""Lines kept while offline; more are refused with a notice."""
KEEPALIVE = 60.0
"""Seconds between pings (the server cuts clients silent for its idle timeout, 300 s)."""
CONNECT_TIMEOUT = 10.0
LINE_LIMIT = 1 << 20
"""Longest server line read (a /rooms reply with 100 long topics is ~35 KB)."""


def local(text: str, level: str = "info") -> Event:
    """An event made by the client itself (connection state, refusals), for the UI."""
    return {"type": "local", "level": level, "text": text}


class Connection:
    def __init__(
        self,
        host: str,
        port: int,
        nick: str | None,
        on_event: Callable[[Event], None],
        *,
        ssl_context: ssl.SSLContext | None = None,
        backoff: tuple[float, float] = (0.5, 30.0),
        rng: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host, self.port = host, port
        self.state = State(nick or "")
        self.wanted_nick = nick  # what the user asked for last; taken back on reconnect
        self.on_event = on_event
        self.ssl_context = ssl_context
        self.backoff = backoff
        self.rng, self.clock = rng, clock
        self.life = Lifecycle()
        self.needs_nick = False  # registering, waiting for the user to type a nick
        self.attempt = 0  # failed tries since the link was lost (for the toolbar)
        self.next_try: float | None = None  # clock time of the next try, while waiting
        self.lost_at: float | None = None  # clock time the link was lost
        self.pending: deque[Event] = deque()
        self.connected = asyncio.Event()  # set while ONLINE
        self.opened = asyncio.Event()  # set once a socket was opened: the UI may start
        self._writer: asyncio.StreamWriter | None = None
        self._fatal: str | None = None
        self._tried: set[str] = set()  # nicks refused in this registration (folded)
        self._fallbacks = 0  # automatic nick_ tries in this registration
        self._retries = 0  # cluster-down answers in this registration
        self._typed = False  # the nick being tried was typed at the prompt (no fallbacks)
        self._rejoin = Rejoin()
        self.backlog = Backlog()  # each room's position, kept across reconnects
        self._warned_offline = False
        self._last_refusal = ""
        self._bye = ""  # the reason the server gave for closing, if it gave one
        # accounts: the last password sent, and once the server accepted it, what re-identifies
        # after a reconnect. In this process's memory only: never written, logged or shown.
        self._secret: tuple[str | None, str] | None = None
        self.credentials: tuple[str, str] | None = None

    @property
    def rejoining(self) -> bool:
        """Between a reconnect's welcome and the end of the rejoin."""
        return self._rejoin.active

    @property
    def tls(self) -> bool:
        return self.ssl_context is not None

    def _move(self, phase: Phase) -> bool:
        moved = self.life.to(phase)
        self.state.link = self.life.link
        return moved

    # --- what the UI calls --------------------------------------------------------------------
    def send(self, command: Event) -> bool:
        """Send now, or queue while offline. False (and a notice) if the queue is full."""
        if self.life.phase is Phase.CLOSED:
            return False
        if command.get("type") in ("register", "identify"):
            account = command.get("account")
            self._secret = (str(account) if account else None, str(command["password"]))
        if self._writer is not None and self.life.phase is Phase.ONLINE and not self._rejoin.active:
            self._write(self._writer, command)
            return True
        if len(self.pending) >= MAX_PENDING:
            refused = f"not connected, {MAX_PENDING} lines wait already: not sent"
            self.on_event(local(refused, "error"))
            return False
        self.pending.append(command)
        if not self._warned_offline:
            self._warned_offline = True
            self.on_event(local("not connected: lines wait until the link is back", "warn"))
        return True

    def choose_nick(self, nick: str) -> None:
        """The user's answer to `needs_nick` (or a `/nick` while registering)."""
        self.wanted_nick = nick
        self._typed = True
        self.needs_nick = False  # answered; if the link is down, the next hello says it
        if self.life.phase is Phase.REGISTERING and self._writer is not None:
            self._hello(self._writer, nick)

    async def quit(self, reason: str = "") -> None:
        """Say goodbye and stop for good. Safe to call twice, and from any phase."""
        writer = self._writer  # run() may clear self._writer while we await below
        if not self._move(Phase.CLOSED):
            return
        self.connected.clear()
        if writer is None or writer.is_closing():
            return
        with contextlib.suppress(ConnectionError, OSError, RuntimeError, TimeoutError):
            self._write(writer, {"type": "quit", "reason": reason})
            await asyncio.wait_for(writer.drain(), 2)
        writer.close()

    # --- the session loop ---------------------------------------------------------------------
    async def run(self) -> None:
        """Connect and stay connected until `quit()`. `Unreachable` if the first connect fails,
        `Fatal` if the server refuses this client for good."""
        first = True
        while not self.life.done:
            try:
                opened = await self._open()
            except (OSError, TimeoutError, ValueError) as err:  # ValueError: a bad host name
                if first:
                    self._move(Phase.CLOSED)
                    raise Unreachable(f"cannot reach {self.host}:{self.port}: {why(err)}") from None
                self.attempt += 1
                self._move(Phase.RECONNECTING)
                await self._wait()
                continue
            if opened is None:  # quit() while connecting
                break
            first = False
            reader, writer = opened
            reason = "the server closed the connection"
            try:
                reason = await self._session(reader, writer)
            except (ConnectionError, OSError, ValueError) as err:  # ValueError: a huge line
                reason = why(err)
            finally:
                self._writer = None
                self.connected.clear()
                writer.close()
            if self._fatal is not None:
                raise Fatal(self._fatal)
            if self.life.done:
                break
            self._lost(reason)
            await self._wait()

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        opening = asyncio.ensure_future(
            asyncio.wait_for(
                asyncio.open_connection(
                    self.host, self.port, ssl=self.ssl_context, limit=LINE_LIMIT,
                    server_hostname=self.host if self.ssl_context else None,
                ),
                CONNECT_TIMEOUT,
            )
        )  # fmt: skip
        closed = asyncio.ensure_future(self.life.closed.wait())
        await asyncio.wait({opening, closed}, return_when=asyncio.FIRST_COMPLETED)
        closed.cancel()
        if not opening.done():
            opening.cancel()
            await asyncio.wait({opening})  # let it finish cancelling; its outcome is moot
            return None
        reader, writer = opening.result()
        if not self._move(Phase.REGISTERING):
            writer.close()
            return None
        self.opened.set()
        return reader, writer

    def _lost(self, reason: str) -> None:
        was_online = self.life.phase is Phase.ONLINE
        if was_online:
            self._rejoin.remember(self.state)
            self.lost_at = self.clock()
        self.backlog.lost()
        self.attempt += 1
        self._move(Phase.RECONNECTING)
        if was_online or self.attempt == 1:
            self.on_event(local(f"link lost ({reason}); reconnecting", "warn"))

    async def _wait(self) -> None:
        """Sleep before the next try (or until quit); the toolbar shows the countdown."""
        base, cap = self.backoff
        delay = min(cap, base * 2 ** max(0, self.attempt - 1)) * (0.5 + self.rng() / 2)
        self.next_try = self.clock() + delay
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.life.closed.wait(), delay)
        self.next_try = None
        self._move(Phase.CONNECTING)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
        """One connection's life; returns why it ended."""
        self._writer = writer
        self._tried, self._fallbacks, self._retries, self._bye = set(), 0, 0, ""
        if self.wanted_nick:
            self.needs_nick = False
            self._hello(writer, self.wanted_nick)
        else:
            self._ask_nick(f"pick a nick ({RULE})")
        keepalive = asyncio.create_task(self._keepalive(writer))
        try:
            while line := await reader.readline():
                self._line(writer, line)
                if self._fatal is not None:
                    break
        finally:
            keepalive.cancel()
        return self._bye or "the server closed the connection"

    def _line(self, writer: asyncio.StreamWriter, line: bytes) -> None:
        if not line.startswith(b"{"):
            text = line[2:].decode(errors="replace").strip()
            if line.startswith(b"! ") and text != self._last_refusal:  # refused: server full
                self._last_refusal = text
                self.on_event(local(text, "error"))
            return  # the text greeting
        try:
            ev = json.loads(line)
        except ValueError:
            return
        if not isinstance(ev, dict) or not isinstance(ev.get("type"), str):
            return
        if ev["type"] == "account" and self._secret is not None:
            self.credentials = (str(ev.get("account", "")), self._secret[1])
            self._secret = None
        if self.life.phase is Phase.REGISTERING:
            self._registering(writer, ev)
        elif self.life.phase is Phase.ONLINE:
            self._online(writer, ev)

    # --- registration -------------------------------------------------------------------------
    def _hello(self, writer: asyncio.StreamWriter, nick: str) -> None:
        self.state.nick = nick
        self._write(writer, {"type": "hello", "version": PROTOCOL_VERSION, "nick": nick})

    def _ask_nick(self, why: str) -> None:
        self.needs_nick = True
        self.on_event(local(f"{why}: type a nick", "warn"))

    def _registering(self, writer: asyncio.StreamWriter, ev: Event) -> None:
        kind, code = ev["type"], ev.get("code")
        message = str(ev.get("message", ""))
        if kind == "welcome":
            self._welcomed(writer, ev)
        elif kind == "error" and code == "nick-taken":
            self._tried.add(self.state.nick.lower())
            nick = None if self._typed else fallback(self.wanted_nick or "", self._tried)
            if nick is not None and self._fallbacks < MAX_FALLBACKS:
                self._fallbacks += 1
                self.on_event(local(f"{message}; trying {nick}", "warn"))
                self._hello(writer, nick)
            else:
                self._ask_nick(message)
        elif kind == "error" and code == "bad-nick":
            self._ask_nick(f"{self.state.nick!r} is not a valid nick: {message}")
        elif kind == "error" and code == "cluster-down":
            # A cluster node cut off from the others can't promise a nick: ask again, later
            # and later (the same backoff as reconnecting).
            self._retries += 1
            base, cap = self.backoff
            delay = min(cap, base * 2 ** (self._retries - 1))
            self.on_event(local(f"{message}; asking again in {delay:.1f}s"))
            hello = {"type": "hello", "version": PROTOCOL_VERSION, "nick": self.state.nick}
            asyncio.get_running_loop().call_later(delay, self._again, writer, hello)
        elif kind == "error" and code == "bad-version":
            self._fatal = f"the server refused this client: {message}"
            self._move(Phase.CLOSED)
        else:
            self._deliver(ev)

    def _welcomed(self, writer: asyncio.StreamWriter, ev: Event) -> None:
        self.needs_nick = False
        self._typed = False
        self.attempt, self._last_refusal = 0, ""
        self._move(Phase.ONLINE)
        self.connected.set()
        if self.lost_at is None:
            self._deliver(ev)
            self._flush(writer)
            return
        away, self.lost_at = self.clock() - self.lost_at, None
        self._deliver(ev, quiet=True)
        rooms = self._rejoin.rooms
        back = f"back after {duration(away)}" + (f"; rejoining {', '.join(rooms)}" if rooms else "")
        self.on_event(local(back))
        if self.credentials is not None:  # identified before the link dropped: again
            account, password = self.credentials
            self._write(writer, {"type": "identify", "account": account, "password": password})
        for command in self._rejoin.start(self.backlog.since):
            self._write(writer, command)

    def _flush(self, writer: asyncio.StreamWriter) -> None:
        self._warned_offline = False
        while self.pending:
            self._write(writer, self.pending.popleft())

    # --- online -------------------------------------------------------------------------------
    def _online(self, writer: asyncio.StreamWriter, ev: Event) -> None:
        kind = ev["type"]
        mine = kind == "nick" and str(ev.get("old", "")).lower() == self.state.nick.lower()
        if self._rejoin.finished(ev):
            for held in self.backlog.settle_all():
                self._deliver(held)
            self._flush(writer)
            return
        quiet, command = self._rejoin.answer(ev, self.state.nick)
        if command is not None:
            self._write(writer, command)
        if kind == "bye":  # said once, in the "link lost" line
            self._bye, quiet = str(ev.get("reason", "")), True
        rejoining = self._rejoin.active
        shown, commands = self.backlog.feed(ev, self.state.nick, rejoining=rejoining)
        for out in shown:
            self._deliver(out, quiet and out is ev)
        for command in commands:
            self._write(writer, command)
        if mine:
            self.wanted_nick = self.state.nick  # a reconnect takes this nick back

    def _deliver(self, ev: Event, quiet: bool = False) -> None:
        try:
            self.state.apply(ev)
        except (KeyError, TypeError, ValueError, AttributeError):
            self.on_event(local(f"ignored a malformed {ev['type']!r} event", "warn"))
            return
        self.on_event({**ev, "quiet": True} if quiet else ev)

    # --- writing ------------------------------------------------------------------------------
    @staticmethod
    def _write(writer: asyncio.StreamWriter, command: Event) -> None:
        if not writer.is_closing():
            writer.write(json.dumps(command, separators=(",", ":")).encode() + b"\n")

    def _again(self, writer: asyncio.StreamWriter, command: Event) -> None:
        """Send `command` later, unless that connection is gone or registered by then."""
        if self._writer is writer and self.life.phase is Phase.REGISTERING:
            self._write(writer, command)

    async def _keepalive(self, writer: asyncio.StreamWriter) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE)
            self._write(writer, {"type": "ping"})
