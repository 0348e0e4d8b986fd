"""Hostile clients beside a measured load: `chat-bench fanout --attack KIND`.

The attacker is a process of its own (forked, one event loop), connecting from `ATTACKER`
(127.0.0.2) so the server's per-IP limit tells it from the well-behaved members on 127.0.0.1.
It repeats one attack until stopped and counts, for each attempt, whether the server dealt
with the offender as docs/reliability.md says (`handled`) or not (`unexpected`, with the
first few reasons). The well-behaved members are chat-bench's ordinary workers, so what the
attack costs them (latency percentiles, lost connections) and the server (RSS, CPU) is
measured by the usual machinery, from other processes than the one attacking.

Kinds (the same cases as tests/test_hostile.py, which checks their behaviour):

- `burst`: waves of 500 connections at once; each reads its first line (a greeting, or the
  per-IP refusal) and is aborted. Handled: every socket got a line, some were refused.
- `churn`: waves of 50 connect/disconnect cycles, half ending with a reset, a third after
  sending a nick. Handled: the wave completed.
- `bigline`: a 1 MiB line without a newline, then the newline. Handled: `line-too-long`,
  and the connection still answers a ping.
- `stuck`: a member of the measured room with a 4 KiB receive window that never reads.
  Handled: the server cuts it (slow consumer: its nick is gone); then another one comes. The
  kernel buffers a few MB for it first, so the room needs traffic (MB/s) for cuts to happen.
- `flood`: 400 lines at once. Handled: `rate-limited`, then `flood` and the cut.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import socket
import struct
import threading
from collections.abc import Awaitable, Callable
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from typing import Any

ATTACKER = "127.0.0.2"
KINDS = ("burst", "churn", "bigline", "stuck", "flood")
SERVER_FLAGS = (
    "--max-per-ip", "100", "--msg-rate", "100", "--msg-burst", "100",
    "--queue-bytes", "65536", "--queue-messages", "512",
)  # fmt: skip
"""The limits the attacks run into (tests/arena.py's), for a server chat-bench spawns."""
WAIT = 30.0
"""Seconds one attempt may take before it counts as unexpected."""
PAUSE = 0.05
"""Seconds between two attempts (an attacker's pace, so that its CPU is not the story)."""


class Tally:
    """Counters shared with the coordinator: attempts, handled as expected, and not."""

    def __init__(self, ctx: Any) -> None:
        self.attempts: Synchronized[int] = ctx.Value("q", 0)
        self.handled: Synchronized[int] = ctx.Value("q", 0)
        self.unexpected: Synchronized[int] = ctx.Value("q", 0)
        self.first_problem = ctx.Array("c", 256)

    def count(self, ok: bool, why: str = "") -> None:
        for counter, yes in ((self.attempts, True), (self.handled, ok), (self.unexpected, not ok)):
            if yes:
                with counter.get_lock():
                    counter.value += 1
        if not ok and not self.first_problem.value:
            self.first_problem.value = why.encode(errors="replace")[:255]


async def _open(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(host, port, local_addr=(ATTACKER, 0), limit=1 << 20)


async def _hello(writer: asyncio.StreamWriter, nick: str) -> None:
    writer.write(json.dumps({"type": "hello", "version": 1, "nick": nick}).encode() + b"\n")
    await writer.drain()


async def _until(reader: asyncio.StreamReader, marker: bytes) -> bool:
    """Read lines until one contains `marker` (True) or the connection ends (False)."""
    while line := await reader.readline():
        if marker in line:
            return True
    return False


async def burst(host: str, port: int, n: int) -> tuple[bool, str]:
    async def one() -> bytes:
        try:
            reader, writer = await _open(host, port)
        except OSError as err:
            return f"connect failed: {err}".encode()
        try:
            return await reader.readline()
        finally:
            writer.transport.abort()

    lines = await asyncio.gather(*(one() for _ in range(500)))
    refused = sum(line.startswith(b"! too-many-connections") for line in lines)
    greeted = sum(line.startswith(b"* welcome") for line in lines)
    if refused + greeted != len(lines):
        odd = next(x for x in lines if not x.startswith((b"! too-many", b"* welcome")))
        return False, f"burst: {odd[:80]!r}"
    return refused > 0, f"burst: none of {len(lines)} refused"


async def churn(host: str, port: int, n: int) -> tuple[bool, str]:
    async def one(i: int) -> None:
        _, writer = await _open(host, port)
        if i % 3 == 0:
            writer.write(f"churn{n}x{i}\n".encode())
            await writer.drain()
        if i % 2:  # a reset instead of a FIN
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        else:
            writer.close()

    results = await asyncio.gather(*(one(i) for i in range(50)), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    return not errors, f"churn: {errors[:1]}"


async def bigline(host: str, port: int, n: int) -> tuple[bool, str]:
    reader, writer = await _open(host, port)
    try:
        await _hello(writer, f"big{n}")
        if not await _until(reader, b'"welcome"'):
            return False, "bigline: no welcome"
        for _ in range(16):
            writer.write(b"m" * 65536)
            await writer.drain()
        writer.write(b'\n{"type":"ping","token":"after"}\n')
        await writer.drain()
        if not await _until(reader, b'"line-too-long"'):
            return False, "bigline: no line-too-long"
        return await _until(reader, b'"pong"'), "bigline: no pong after the long line"
    finally:
        writer.transport.abort()


async def stuck(host: str, port: int, n: int, room: str) -> tuple[bool, str]:
    nick = f"stuck{n}"
    sock = socket.socket()
    reader, writer = await _open(host, port)  # a watcher, in no room: asks whether it is there
    try:
        await _hello(writer, f"watch{n}")
        writer.write(b'{"type":"part"}\n')
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.bind((ATTACKER, 0))
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
        lines = [{"type": "hello", "version": 1, "nick": nick}]
        if room.lower() != "#lobby":
            lines.append({"type": "join", "room": room})
        sock.send(b"".join(json.dumps(x).encode() + b"\n" for x in lines))
        # It reads its login (up to the member list of its room), then never again.
        loop = asyncio.get_running_loop()
        got = b""
        while b'"type":"who","room":' + json.dumps(room).encode() not in got:
            chunk = await loop.sock_recv(sock, 4096)
            if not chunk:
                return False, f"stuck: closed during login: {got[-200:]!r}"
            got += chunk
        # A server that cuts it may leave the socket to the kernel with a closed window, so
        # nothing tells this end: the watcher /msg's it until the nick is gone.
        ask = json.dumps({"type": "msg", "to": nick, "text": "?"}).encode() + b"\n"
        while True:
            writer.write(ask)
            line = await reader.readline()
            while b'"private"' not in line and b'"no-such-nick"' not in line:
                if not line:
                    return False, "stuck: the watcher was disconnected"
                line = await reader.readline()
            if b'"no-such-nick"' in line:
                return True, ""
            await asyncio.sleep(0.1)  # the watcher's pace
    finally:
        sock.close()
        writer.transport.abort()


async def flood(host: str, port: int, n: int) -> tuple[bool, str]:
    reader, writer = await _open(host, port)
    try:
        await _hello(writer, f"flood{n}")
        writer.write(b"".join(b'{"type":"say","text":"spam %d"}\n' % i for i in range(400)))
        await writer.drain()
        seen = b""
        while chunk := await reader.read(65536):
            seen += chunk
        ok = b'"code":"rate-limited"' in seen and b'"code":"flood"' in seen
        return ok, "flood: not warned and cut"
    except ConnectionError:
        return False, "flood: reset instead of an error line"
    finally:
        writer.transport.abort()


async def _attack(kind: str, host: str, port: int, room: str, tally: Tally, stop: Event) -> None:
    attacks: dict[str, Callable[[int], Awaitable[tuple[bool, str]]]] = {
        "burst": lambda n: burst(host, port, n),
        "churn": lambda n: churn(host, port, n),
        "bigline": lambda n: bigline(host, port, n),
        "stuck": lambda n: stuck(host, port, n, room),
        "flood": lambda n: flood(host, port, n),
    }
    attack = attacks[kind]
    loop = asyncio.get_running_loop()
    stopped: asyncio.Future[None] = loop.create_future()

    def watch() -> None:  # the stop Event is a process-shared one: a thread waits on it
        stop.wait()
        loop.call_soon_threadsafe(stopped.set_result, None)

    threading.Thread(target=watch, daemon=True).start()
    n = 0
    while not stopped.done():
        n += 1
        attempt = asyncio.ensure_future(_bounded(kind, attack(n)))
        either: list[asyncio.Future[Any]] = [attempt, stopped]
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if not attempt.done():  # stopped in the middle of an attempt: it does not count
            attempt.cancel()
            await asyncio.gather(attempt, return_exceptions=True)
            break
        tally.count(*attempt.result())
        await asyncio.wait([stopped], timeout=PAUSE)  # the attacker's pace


async def _bounded(kind: str, attempt: Awaitable[tuple[bool, str]]) -> tuple[bool, str]:
    """One attempt, at most `WAIT` seconds; a socket error or the timeout is unexpected."""
    try:
        async with asyncio.timeout(WAIT):
            return await attempt
    except (OSError, TimeoutError) as err:
        return False, f"{kind}: {type(err).__name__} {err}".strip()


def _main(*args: Any) -> None:
    asyncio.run(_attack(*args))


class Attacker:
    """One kind of attack, repeated in a child process until `stop()`."""

    def __init__(self, kind: str, host: str, port: int, room: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown attack {kind!r}")
        ctx = multiprocessing.get_context("fork")
        self.kind = kind
        self.tally = Tally(ctx)
        self._stop = ctx.Event()
        self._proc = ctx.Process(
            target=_main, args=(kind, host, port, room, self.tally, self._stop), daemon=True
        )
        self._proc.start()

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self._proc.join(WAIT + 10)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(5)
        return {
            "attack": self.kind,
            "attacks": int(self.tally.attempts.value),
            "attacks_handled": int(self.tally.handled.value),
            "attacks_unexpected": int(self.tally.unexpected.value),
            "attack_problem": self.tally.first_problem.value.decode(errors="replace"),
        }
