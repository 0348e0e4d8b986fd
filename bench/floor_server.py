"""The reference floor: the smallest broadcast server that speaks enough of chat's JSON dialect.

What it does: greets, answers a JSON `hello` with `welcome`, `join` and `who` (joining #lobby),
handles `join`/`part` (one room at a time is enough for chat-bench), and broadcasts each `say`
as a `message` line to every member of the sender's room, the sender included (as chat does for
JSON clients). Writes are coalesced per loop pass: a delivery appends to the member's pending
list and the member is written once, with everything pending, at the end of the pass.

What it does not do: text dialect, validation, limits, slow-consumer cuts, idle timeouts, logs.
It is the floor of what Python can do on this protocol, for `chat-bench --compare-floor`.

    python bench/floor_server.py --port 7100 [--loop asyncio|uvloop|auto]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from typing import cast

GREETING = b"* welcome to chat! pick a nick:\n"
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class Floor:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.rooms: dict[str, dict[Conn, None]] = {}
        self.dirty: list[Conn] = []
        self.scheduled = False

    def queue(self, conn: Conn, data: bytes) -> None:
        if not conn.pending:
            self.dirty.append(conn)
            if not self.scheduled:
                self.scheduled = True
                self.loop.call_soon(self.flush)
        conn.pending.append(data)

    def flush(self) -> None:
        dirty, self.dirty = self.dirty, []
        self.scheduled = False
        for conn in dirty:
            pending, conn.pending = conn.pending, []
            if conn.transport is not None and not conn.transport.is_closing():
                conn.transport.write(b"".join(pending))

    def join(self, conn: Conn, room: str) -> None:
        members = self.rooms.setdefault(room, {})
        members[conn] = None
        conn.room = room
        conn.rooms.add(room)
        line = _dumps({"type": "join", "room": room, "nick": conn.nick, "members": len(members)})
        data = (line + "\n").encode()
        for m in members:
            self.queue(m, data)
        nicks = [m.nick for m, _ in zip(members, range(100), strict=False)]
        who = {"type": "who", "room": room, "nicks": nicks, "total": len(members)}
        self.queue(conn, (_dumps(who) + "\n").encode())

    def part(self, conn: Conn, room: str) -> None:
        members = self.rooms.get(room)
        if members is None or conn not in members:
            return
        del members[conn]
        if not members:
            del self.rooms[room]
        conn.rooms.discard(room)
        if conn.room == room:
            conn.room = next(iter(conn.rooms), "")

    def say(self, conn: Conn, text: str) -> None:
        members = self.rooms.get(conn.room)
        if not members:
            return
        event = {"type": "message", "room": conn.room, "nick": conn.nick, "text": text,
                 "ts": time.time(), "action": False}  # fmt: skip
        data = (_dumps(event) + "\n").encode()
        queue = self.queue
        for m in members:
            queue(m, data)


class Conn(asyncio.Protocol):
    def __init__(self, floor: Floor) -> None:
        self.floor = floor
        self.transport: asyncio.Transport | None = None
        self.partial = b""
        self.pending: list[bytes] = []
        self.nick = ""
        self.room = ""
        self.rooms: set[str] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(GREETING)

    def data_received(self, data: bytes) -> None:
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        for line in lines:
            try:
                obj = json.loads(line)
                kind = obj["type"]
            except (ValueError, KeyError, TypeError):
                continue
            if kind == "say":
                self.floor.say(self, obj["text"])
            elif kind == "hello":
                self.nick = obj["nick"]
                welcome = {"type": "welcome", "nick": self.nick, "version": 1, "motd": "floor"}
                self.floor.queue(self, (_dumps(welcome) + "\n").encode())
                self.floor.join(self, "#lobby")
            elif kind == "join":
                self.floor.join(self, obj["room"])
            elif kind == "part":
                self.floor.part(self, obj.get("room") or self.room)

    def connection_lost(self, exc: Exception | None) -> None:
        for room in list(self.rooms):
            self.floor.part(self, room)
        self.transport = None


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    floor = Floor(loop)
    server = await loop.create_server(lambda: Conn(floor), host, port, backlog=4096)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7100)
    p.add_argument("--loop", default="auto", choices=["auto", "asyncio", "uvloop"])
    args = p.parse_args()
    factory = asyncio.new_event_loop
    if args.loop != "asyncio":
        try:
            import uvloop

            factory = uvloop.new_event_loop
        except ImportError:
            if args.loop == "uvloop":
                raise SystemExit("uvloop is not installed") from None
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
