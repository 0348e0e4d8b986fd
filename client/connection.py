"""The client's connection: JSON lines over TCP (or TLS), with reconnects. No UI code here.

`Connection.run()` connects, says hello, and feeds every server event to `on_event` (after
updating `state`). When the link drops it tells `on_event` so, waits with exponential backoff
and jitter, reconnects, takes its nick back (or a fallback if it is still taken) and rejoins its
rooms. Lines sent while offline wait in a bounded queue and go out after the rejoin; past the
bound they are refused, never dropped silently. The terminal UI and the benchmark can both drive
it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import ssl
from collections import deque
from collections.abc import Callable
from typing import Any

from client.state import State

Event = dict[str, Any]
PROTOCOL_VERSION = 1
MAX_PENDING = 100
"""Lines kept while offline; more are refused with a notice."""
KEEPALIVE = 60.0
"""Seconds between pings (the server cuts clients silent for its idle timeout, 300 s)."""
CONNECT_TIMEOUT = 10.0


class Unreachable(Exception):
    """The first connection failed: there is no session to keep alive."""


def local(text: str, level: str = "info") -> Event:
    """An event made by the client itself (connection state, refusals), for the UI."""
    return {"type": "local", "level": level, "text": text}


class Connection:
    def __init__(
        self,
        host: str,
        port: int,
        nick: str,
        on_event: Callable[[Event], None],
        *,
        ssl_context: ssl.SSLContext | None = None,
        backoff: tuple[float, float] = (0.5, 30.0),
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.host, self.port = host, port
        self.state = State(nick)
        self.wanted_nick = nick
        self.on_event = on_event
        self.ssl_context = ssl_context
        self.backoff = backoff
        self.rng = rng
        self.pending: deque[Event] = deque()
        self._writer: asyncio.StreamWriter | None = None
        self._closing = False
        self._rejoin: list[str] = []  # rooms to take back after a reconnect, in join order
        self._rejoin_current: str | None = None
        self.connected = asyncio.Event()

    # --- sending ------------------------------------------------------------------------------
    def send(self, command: Event) -> bool:
        """Send now, or queue while offline. False (and a notice) if the queue is full."""
        if self._writer is not None and self.state.link == "online":
            self._write(command)
            return True
        if len(self.pending) >= MAX_PENDING:
            self.on_event(
                local(
                    f"not connected and {MAX_PENDING} lines already wait: not sent",
                    "error",
                )
            )
            return False
        self.pending.append(command)
        self.on_event(local("not connected: your line will be sent when the link is back", "warn"))
        return True

    def _write(self, command: Event) -> None:
        assert self._writer is not None
        self._writer.write(json.dumps(command, separators=(",", ":")).encode() + b"\n")

    def _again(self, writer: asyncio.StreamWriter, command: Event) -> None:
        """Send `command` later, unless that connection is gone by then."""
        if self._writer is writer and not writer.is_closing():
            self._write(command)

    async def quit(self, reason: str = "") -> None:
        """Say goodbye and stop for good."""
        self._closing = True
        if self._writer is not None:
            with contextlib.suppress(ConnectionError, OSError, RuntimeError):
                self._write({"type": "quit", "reason": reason})
                await asyncio.wait_for(self._writer.drain(), 2)
            self._writer.close()

    # --- the session loop ---------------------------------------------------------------------
    async def run(self) -> None:
        """Connect and keep connected until `quit()`. Unreachable if the first connect fails."""
        attempt = 0
        first = True
        while not self._closing:
            self.state.link = "connecting"
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(
                        self.host, self.port, ssl=self.ssl_context,
                        server_hostname=self.host if self.ssl_context else None,
                    ),
                    CONNECT_TIMEOUT,
                )  # fmt: skip
            except (OSError, TimeoutError) as err:
                if first:
                    raise Unreachable(
                        f"cannot reach {self.host}:{self.port}: {_why(err)}"
                    ) from None
                attempt += 1
                await self._wait(
                    attempt, f"still cannot reach {self.host}:{self.port}: {_why(err)}"
                )
                continue
            first = False
            try:
                if await self._session(reader, writer):
                    attempt = 0
            except (ConnectionError, OSError, ssl.SSLError) as err:
                self.on_event(local(f"connection lost: {_why(err)}", "error"))
            finally:
                self._writer = None
                self.connected.clear()
                writer.close()
            if self._closing:
                break
            self.state.link = "offline"
            self._remember_rooms()
            attempt += 1
            await self._wait(attempt, "disconnected from the server")

    async def _wait(self, attempt: int, why: str) -> None:
        base, cap = self.backoff
        delay = min(cap, base * 2 ** (attempt - 1)) * (0.5 + self.rng() / 2)
        self.state.link = "offline"
        self.on_event(local(f"{why}; reconnecting in {delay:.1f}s", "warn"))
        await asyncio.sleep(delay)

    def _remember_rooms(self) -> None:
        if self.state.rooms:
            self._rejoin = [room.name for room in self.state.rooms.values()]
            current = self.state.current_room
            self._rejoin_current = current.name if current else None

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """One connection's life. True if it got as far as a welcome."""
        self._writer = writer
        nick = self.wanted_nick
        self._write({"type": "hello", "version": PROTOCOL_VERSION, "nick": nick})
        welcomed = False
        retries = 0
        keepalive = asyncio.create_task(self._keepalive())
        try:
            while line := await reader.readline():
                if not line.startswith(b"{"):
                    if line.startswith(b"! "):  # refused before any dialect (server full)
                        self.on_event(local(line[2:].decode(errors="replace").strip(), "error"))
                    continue  # the text greeting
                try:
                    ev: Event = json.loads(line)
                except ValueError:
                    continue
                if not welcomed:
                    if ev.get("type") == "error" and ev.get("code") == "nick-taken":
                        nick = _fallback(nick)
                        self.on_event(local(f"{ev['message']}; trying {nick}", "warn"))
                        self._write({"type": "hello", "version": PROTOCOL_VERSION, "nick": nick})
                        continue
                    if ev.get("type") == "error" and ev.get("code") == "cluster-down":
                        # A cluster node cut off from the others can't promise a nick: ask
                        # again, later and later (the same backoff as reconnecting).
                        retries += 1
                        base, cap = self.backoff
                        delay = min(cap, base * 2 ** (retries - 1))
                        self.on_event(local(f"{ev['message']}; asking again in {delay:.1f}s"))
                        hello = {"type": "hello", "version": PROTOCOL_VERSION, "nick": nick}
                        asyncio.get_running_loop().call_later(delay, self._again, writer, hello)
                        continue
                    if ev.get("type") == "welcome":
                        welcomed = True
                        self.state.apply(ev)
                        self.on_event(ev)
                        continue
                self.state.apply(ev)
                self.on_event(ev)
                if ev.get("type") == "who" and self.state.link != "online":
                    self._back_online()  # the server has put us in its default room
        finally:
            keepalive.cancel()
        return welcomed

    def _back_online(self) -> None:
        """Welcomed and in the default room: take our rooms back (the current one last, so it
        is current again), leave the default room if we had left it, then send what waited."""
        self.state.link = "online"
        self.connected.set()
        if self._rejoin:
            self.on_event(local("reconnected; rejoining " + ", ".join(self._rejoin), "info"))
            wanted = {r.lower() for r in self._rejoin}
            current = self._rejoin_current
            joined = False
            for room in self._rejoin:
                if room.lower() not in self.state.rooms and room != current:
                    self._write({"type": "join", "room": room})
                    joined = True
            for key, room_state in list(self.state.rooms.items()):
                if key not in wanted:
                    self._write({"type": "part", "room": room_state.name})
            if current is not None and (joined or current.lower() not in self.state.rooms):
                self._write({"type": "join", "room": current})  # joins, or makes it current
            self._rejoin = []
        while self.pending:
            self._write(self.pending.popleft())

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE)
            if self._writer is not None:
                self._write({"type": "ping"})


def _fallback(nick: str) -> str:
    """bob -> bob_ -> bob__ ..., within the 24-character limit."""
    return nick[:23] + "_"


def _why(err: BaseException) -> str:
    if isinstance(err, TimeoutError):
        return "timed out"
    if isinstance(err, OSError) and err.errno:
        return os.strerror(err.errno).lower()
    if isinstance(err, ConnectionRefusedError):  # asyncio's "Connect call failed" has no errno
        return "connection refused"
    return str(err) or type(err).__name__
