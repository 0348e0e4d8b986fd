"""An arena for hostile-client tests: a real server process with its limits on, well-behaved
members chatting in #lobby, and a check at the end that the attack cost them nothing: every
message arrived, in order, and the server still answers.

Well-behaved clients connect from 127.0.0.1; attackers bind to 127.0.0.2, so per-IP limits
tell them apart. Everything is bounded in count and time and talks to loopback only.

What an attack costs in latency and memory is measured, not asserted, here: the members' p99
and the server's RSS growth are printed, and budgets for them are checked by `make perf`
(`chat-bench fanout --attack KIND`, from separate processes, with enough samples for a real
percentile). A correctness test must not fail because the machine is busy.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from tests.helpers import JsonClient, LineClient, ServerProcess

ATTACKER = "127.0.0.2"
SPEAK_EVERY = 0.02  # the speaker's pace: 50 messages/s, half the arena's rate limit
MIN_SPOKEN = 25  # messages the speaker sends at least, however short the attack
KEEPALIVE = 0.25  # seconds between the members' pings (the idle timeout is much longer)
WAIT = 30.0  # seconds to wait for an event that must come (generous: the machine may be busy)

ARENA_FLAGS = (
    "--max-per-ip", "100",
    "--msg-rate", "100",
    "--msg-burst", "100",
    "--idle-timeout", "10",
    "--queue-bytes", "65536",
    "--queue-messages", "512",
    "--max-clients", "2000",
)  # fmt: skip


@dataclass
class Member:
    client: JsonClient
    got: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)


class Arena:
    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.members: list[Member] = []
        self.sent = 0
        self._stop = asyncio.Event()
        self._spoken_enough = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.rss_before = 0

    async def start(self) -> None:
        for i in range(3):
            self.members.append(Member(await JsonClient.login(self.server.port, f"good{i}")))
        self.speaker = await JsonClient.login(self.server.port, "speaker")
        self.rss_before = self.server.rss_kib()
        self._tasks = [asyncio.create_task(self._listen(m)) for m in self.members]
        self._tasks += [asyncio.create_task(self._keepalive(m)) for m in self.members]
        self._tasks.append(asyncio.create_task(self._speak()))

    async def _speak(self) -> None:
        while not self._stop.is_set():
            await self.speaker.send_json(type="say", text=f"seq {self.sent} {time.monotonic()}")
            self.sent += 1
            if self.sent >= MIN_SPOKEN:
                self._spoken_enough.set()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), SPEAK_EVERY)
        await self.speaker.send_json(type="say", text="seq end")

    async def _keepalive(self, m: Member) -> None:
        """Listening members ping, as the protocol asks, so the idle sweep leaves them alone."""
        while not self._stop.is_set():
            await m.client.send_json(type="ping")
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), KEEPALIVE)

    async def _listen(self, m: Member) -> None:
        while True:
            ev = await m.client.next_event(timeout=WAIT)
            if ev["type"] != "message" or ev["nick"] != "speaker":
                continue
            parts = ev["text"].split()
            if parts[1] == "end":
                return
            m.got.append(int(parts[1]))
            m.latencies.append(time.monotonic() - float(parts[2]))

    async def finish(self) -> None:
        """Stop chatting; assert the well-behaved members got every message, in order, and the
        server still answers. Latency and memory are printed for the curious, not judged."""
        await asyncio.wait_for(self._spoken_enough.wait(), WAIT)
        self._stop.set()
        await asyncio.wait_for(asyncio.gather(*self._tasks), WAIT)
        assert self.sent > 10, "the speaker hardly spoke: the attack blocked the test itself"
        for m in self.members:
            assert m.got == list(range(self.sent)), "a well-behaved member lost messages"
        lat = sorted(x for m in self.members for x in m.latencies)
        p50, p99 = lat[len(lat) // 2], lat[int(len(lat) * 0.99)]
        await self.speaker.send_json(type="ping", token="alive")
        assert (await self.speaker.event("pong", timeout=WAIT))["token"] == "alive"
        growth = self.server.rss_kib() - self.rss_before
        print(
            f"\n[arena] delivered {self.sent}x{len(self.members)}, lost 0, latency p50 "
            f"{p50 * 1e3:.1f} ms p99 {p99 * 1e3:.1f} ms max {lat[-1] * 1e3:.1f} ms "
            f"(of {len(lat)}: not judged here), server RSS {self.rss_before // 1024} MiB "
            f"{growth:+d} KiB"
        )

    async def watcher(self, nick: str = "watcher") -> JsonClient:
        """Another well-behaved member, for a test to read from."""
        return await JsonClient.login(self.server.port, nick)

    def disconnects(self, reason: str) -> list[dict[str, Any]]:
        return [
            ev
            for ev in self.server.logs
            if ev.get("event") == "client.disconnected" and ev.get("reason") == reason
        ]


@asynccontextmanager
async def arena(*flags: str) -> AsyncIterator[Arena]:
    server = await ServerProcess.start(*ARENA_FLAGS, *flags)
    a = Arena(server)
    try:
        await a.start()
        yield a
    finally:
        code = await server.stop()
        assert code == 0, f"server exited with {code}"


async def attacker(port: int) -> LineClient:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(ATTACKER, 0))
    return LineClient(reader, writer)


async def json_attacker(port: int, nick: str) -> JsonClient:
    c = await attacker(port)
    j = JsonClient(c.reader, c.writer)
    await j.send(json.dumps({"type": "hello", "version": 1, "nick": nick}))
    await j.event("welcome", timeout=WAIT)
    return j


async def non_reader(port: int, nick: str) -> socket.socket:
    """A registered JSON member with a 4 KiB receive window that never reads."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.bind((ATTACKER, 0))
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    sock.send(json.dumps({"type": "hello", "version": 1, "nick": nick}).encode() + b"\n")
    return sock
