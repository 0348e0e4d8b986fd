"""Load processes: each runs one event loop holding its share of the connections.

A worker obeys the coordinator (`chat.bench.scenarios`) over a pipe, one command at a time:
`connect` (open and log in its members), `start` (begin sending), `stats` (counters now),
`stop` (send no more), `samples` (latencies seen in a time window), `close`, `exit`.

The receive path is the point of this module: the load generator must not be what limits the
measurement. A member that only counts does one `bytes.count` per chunk read (plus one on the
few bytes that straddle two chunks); only the few probe members parse lines, to time them.
"""

from __future__ import annotations

import asyncio
import os
import time
from array import array
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, cast

from chat.bench.frames import (
    DIALECTS,
    IRC_PING,
    TAG,
    Dialect,
    irc_pong,
    irc_server_name,
    padding,
    tag,
)

MAX_SAMPLES = 1_000_000
"""Latency samples a worker keeps (a probe sees every message of its room)."""


KEEPALIVE = 60.0
"""Seconds between keepalive pings from every member (the server's idle timeout is 300 s)."""


@dataclass(frozen=True, slots=True)
class MemberSpec:
    nick: str
    room: str
    sender: int = -1
    """Sender number (>= 0) if this member posts messages."""
    probe: bool = False
    """Does this member time the messages it receives?"""
    node: int = 0
    """Which server of the target it connects to (an index into `WorkerConfig.ports`)."""
    paces: int = -1
    """In-flight mode: seeing sender #`paces`'s messages arrive here tops that sender up. A
    sender paces itself on its own echoes; in a cluster a member on another node does it, so
    the window bounds the cross-node path too. The sender must be in the same worker."""


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    host: str
    ports: tuple[int, ...]
    """The target's servers (one, or the nodes of a cluster); members pick by `node`."""
    dialect: str
    loop: str = "auto"
    concurrency: int = 200
    """Logins in progress at once in one worker."""
    connect_rate: float = 0.0
    """Connections per second this worker opens at most (0: as fast as it can)."""
    size: int = 100


class Straddle:
    """Counts a marker in a byte stream read in chunks, including across chunk boundaries."""

    __slots__ = ("count", "keep", "marker", "tail")

    def __init__(self, marker: bytes) -> None:
        self.marker = marker
        self.keep = len(marker) - 1
        self.tail = b"\n"  # as if a line had just ended: a text marker starts with "\n"
        self.count = 0

    def feed(self, data: bytes) -> int:
        # An occurrence is either inside `data`, or spans the tail and the head (neither of
        # which can hold one alone), so nothing is counted twice.
        n = data.count(self.marker) + (self.tail + data[: self.keep]).count(self.marker)
        self.tail = (
            data[-self.keep :] if len(data) >= self.keep else (self.tail + data)[-self.keep :]
        )
        self.count += n
        return n


class Member(asyncio.Protocol):
    __slots__ = (
        "echoes",
        "login_buf",
        "messages",
        "partial",
        "pings",
        "ready",
        "spec",
        "transport",
        "why",
        "worker",
    )

    def __init__(self, worker: Worker, spec: MemberSpec) -> None:
        self.worker = worker
        self.spec = spec
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[bool] = worker.loop.create_future()
        self.login_buf = b""
        self.messages = Straddle(worker.dialect.message_marker)
        self.echoes = Straddle(tag(spec.paces)) if spec.paces >= 0 else None
        self.partial = b""
        self.why = "closed by the server during login"
        self.pings = Straddle(IRC_PING) if worker.dialect.name == "irc" else None
        """IRC: PINGs from the server, each answered with a PONG."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.worker.dialect.login(self.spec.nick, self.spec.room))

    def data_received(self, data: bytes) -> None:
        if self.pings is not None and (pings := self.pings.feed(data)):
            self._pong(pings)
        if not self.ready.done():
            self.login_buf += data
            marker = self.worker.dialect.ready_marker(self.spec.room, self.spec.nick)
            if marker not in self.login_buf:
                refused = self.worker.dialect.refused(self.login_buf)
                if refused is not None:  # e.g. a nick claim the cluster could not answer
                    self.why = f"refused during login: {refused}"
                    self.ready.set_result(False)
                return
            if self.pings is not None and not self.worker.irc_server:
                self.worker.irc_server = irc_server_name(self.login_buf)
            data, self.login_buf = self.login_buf, b""
            self.ready.set_result(True)
        self.worker.delivered += self.messages.feed(data)
        if self.spec.probe:
            self._time(data)
        if self.echoes is not None:
            echoed = self.echoes.feed(data)
            if echoed:
                self.worker.echoed(self, echoed)

    def _pong(self, pings: int) -> None:
        """Answer the server's PINGs (IRC), naming the server as it named itself."""
        self.write(irc_pong(self.worker.irc_server or irc_server_name(self.login_buf)) * pings)

    def _time(self, data: bytes) -> None:
        buf = self.partial + data
        end = buf.rfind(b"\n") + 1
        self.partial = buf[end:]
        worker = self.worker
        if len(worker.latencies) >= MAX_SAMPLES:
            return
        now = time.monotonic_ns()
        for m in TAG.finditer(buf, 0, end):
            worker.received_at.append(now)
            worker.latencies.append(now - int(m[2]))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_result(False)
        self.worker.closed(self)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


class Worker:
    def __init__(self, conn: Connection, config: WorkerConfig) -> None:
        self.conn = conn
        self.config = config
        self.loop = asyncio.get_running_loop()
        self.dialect: Dialect = DIALECTS[config.dialect]
        self.pad = padding(config.size)
        self.irc_server = b""
        """IRC: the server's name (the prefix of its 001), learnt from the first member in."""
        self.members: list[Member] = []
        self.open: set[Member] = set()
        self.lost = 0  # connections the server closed before we asked
        self.delivered = 0
        self.sent = 0
        self.received_at = array("q")
        self.latencies = array("q")
        self.sending = False
        self.budget: dict[int, int] = {}  # sender -> messages it may still post (fixed count)
        self.senders: dict[int, Member] = {}  # sender number -> its member (in this worker)
        self.closing = False
        self.all_closed = asyncio.Event()
        self._rate_task: asyncio.Task[None] | None = None

    # --- the command loop -----------------------------------------------------------------
    async def serve(self) -> None:
        commands: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        fd = self.conn.fileno()

        def readable() -> None:
            os.set_blocking(fd, True)  # uvloop's add_reader makes it non-blocking
            try:
                commands.put_nowait(self.conn.recv())
            except (EOFError, OSError):
                commands.put_nowait({"op": "exit"})

        self.loop.add_reader(fd, readable)
        keepalive = asyncio.create_task(self._keepalive())
        while True:
            cmd = await commands.get()
            if cmd["op"] == "exit":
                break
            reply = await getattr(self, "op_" + cmd["op"])(cmd)
            os.set_blocking(fd, True)
            self.conn.send(reply)
        self.loop.remove_reader(fd)
        keepalive.cancel()
        self._close_all()

    async def _keepalive(self) -> None:
        """Ping every member every KEEPALIVE s, as a listening client does (idle timeouts)."""
        ping = self.dialect.ping
        while True:
            await asyncio.sleep(KEEPALIVE)
            for m in list(self.open):
                m.write(ping)

    async def op_connect(self, cmd: dict[str, Any]) -> dict[str, Any]:
        specs: list[MemberSpec] = cmd["members"]
        deadline = self.loop.time() + cmd["timeout"]
        gate = asyncio.Semaphore(self.config.concurrency)
        failed: list[str] = []
        rate = self.config.connect_rate
        start = time.monotonic()

        async def one(i: int, spec: MemberSpec) -> None:
            if rate:
                await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
            async with gate:
                member = Member(self, spec)
                try:
                    async with asyncio.timeout_at(deadline):
                        port = self.config.ports[spec.node % len(self.config.ports)]
                        await self.loop.create_connection(lambda: member, self.config.host, port)
                        self.members.append(member)
                        self.open.add(member)
                        if not await member.ready:
                            failed.append(f"{spec.nick}: {member.why}")
                except (OSError, TimeoutError) as err:
                    failed.append(f"{spec.nick}: {type(err).__name__} {err}")

        await asyncio.gather(*(one(i, s) for i, s in enumerate(specs)))
        return {
            "ready": len(specs) - len(failed),
            "failed": failed[:5],
            "nfailed": len(failed),
            "t0": start,
            "t1": time.monotonic(),
        }

    async def op_start(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Begin posting: `inflight` messages each, topped up on echo, or `rate` per second."""
        senders = [m for m in self.members if m.spec.sender >= 0 and m in self.open]
        per_sender = cmd["messages"]  # 0: until stopped
        self.budget = {m.spec.sender: per_sender or -1 for m in senders}
        self.senders = {m.spec.sender: m for m in senders}
        self.sending = True
        if cmd["inflight"]:
            for m in senders:
                self._post(m, cmd["inflight"])
        elif senders:
            self._rate_task = asyncio.create_task(self._paced(senders, cmd["rate"]))
        return {"senders": len(senders)}

    async def op_stats(self, cmd: dict[str, Any]) -> dict[str, Any]:
        return {
            "delivered": self.delivered,
            "sent": self.sent,
            "open": len(self.open),
            "lost": self.lost,
            "cpu": time.process_time(),
            "t": time.monotonic(),
        }

    async def op_stop(self, cmd: dict[str, Any]) -> dict[str, Any]:
        self.sending = False
        if self._rate_task is not None:
            self._rate_task.cancel()
        return await self.op_stats(cmd)

    async def op_samples(self, cmd: dict[str, Any]) -> dict[str, Any]:
        t0, t1 = cmd["t0_ns"], cmd["t1_ns"]
        out = array(
            "q",
            (
                lat
                for at, lat in zip(self.received_at, self.latencies, strict=True)
                if t0 <= at <= t1
            ),
        )
        return {"latencies": out.tobytes(), "total": len(self.latencies)}

    async def op_close(self, cmd: dict[str, Any]) -> dict[str, Any]:
        self.sending = False
        self.closing = True
        self._close_all()
        try:
            async with asyncio.timeout(cmd.get("timeout", 5.0)):
                if self.open:
                    await self.all_closed.wait()
        except TimeoutError:
            pass
        return {"open": len(self.open)}

    # --- sending ----------------------------------------------------------------------------
    def _post(self, m: Member, n: int) -> None:
        budget = self.budget.get(m.spec.sender, 0)
        if budget >= 0:
            n = min(n, budget)
            self.budget[m.spec.sender] = budget - n
        if n <= 0:
            return
        now = time.monotonic_ns()
        m.write(self.dialect.say(m.spec.sender, now, self.pad, m.spec.room) * n)
        self.sent += n

    def echoed(self, m: Member, n: int) -> None:
        """`n` messages of the sender `m` paces arrived: in-flight mode sends as many new ones."""
        if self.sending and self._rate_task is None:
            sender = self.senders.get(m.spec.paces)
            if sender is not None:
                self._post(sender, n)

    async def _paced(self, senders: list[Member], rate: float) -> None:
        """Each sender posts at `rate` messages/s (open loop: never waits for deliveries)."""
        start = time.monotonic()
        done = dict.fromkeys(senders, 0)
        offsets = {m: i / (rate * len(senders)) for i, m in enumerate(senders)}  # stagger
        while self.sending:
            now = time.monotonic()
            nearest = float("inf")
            for m in senders:
                due = int((now - start - offsets[m]) * rate) + 1
                if due > done[m]:
                    self._post(m, due - done[m])
                    done[m] = due
                nearest = min(nearest, start + offsets[m] + done[m] / rate)
            await asyncio.sleep(max(0.0, nearest - time.monotonic()))

    # --- closing ----------------------------------------------------------------------------
    def closed(self, m: Member) -> None:
        self.open.discard(m)
        if not self.closing:
            self.lost += 1
        elif not self.open:
            self.all_closed.set()

    def _close_all(self) -> None:
        for m in list(self.open):
            if m.transport is not None:
                m.transport.abort()


def run(conn: Connection, config: WorkerConfig) -> None:
    """Entry point of a worker process."""
    from chat.net.loops import new_loop

    loop = new_loop(config.loop)
    with asyncio.Runner(loop_factory=lambda: loop) as runner:

        async def main() -> None:
            await Worker(conn, config).serve()

        runner.run(main())
