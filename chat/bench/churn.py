"""Connection churn for the soak: a separate process that keeps connecting, logging in,
walking through one of the measured rooms, chatting in its own room, and quitting.

Churners never post in the measured rooms, so the exact delivery count of the stable members
still holds; they add joins, parts, logins, quits and short-lived sockets around them.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import random
from multiprocessing.sharedctypes import Synchronized

CHURN_ROOM = "#churn"


async def _cycle(host: str, port: int, nick: str, rooms: list[str]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        lines = [
            {"type": "hello", "version": 1, "nick": nick},
            {"type": "join", "room": CHURN_ROOM},
            {"type": "say", "room": CHURN_ROOM, "text": "passing through"},
            {"type": "join", "room": random.choice(rooms)},
            {"type": "part"},
            {"type": "quit", "reason": "churn"},
        ]
        writer.write(b"".join(json.dumps(x).encode() + b"\n" for x in lines))
        async with asyncio.timeout(10):
            while await reader.read(65536):  # until the server closes after the quit
                pass
    finally:
        writer.close()


async def _churn(
    host: str,
    port: int,
    rate: float,
    rooms: list[str],
    done: Synchronized[int],
    failed: Synchronized[int],
    stop: multiprocessing.synchronize.Event,
) -> None:
    tasks: set[asyncio.Task[None]] = set()
    n = 0

    async def one(nick: str) -> None:
        try:
            await _cycle(host, port, nick, rooms)
            with done.get_lock():
                done.value += 1
        except (OSError, TimeoutError):
            with failed.get_lock():
                failed.value += 1

    while not stop.is_set():
        n += 1
        task = asyncio.create_task(one(f"z{os.getpid() % 10000}x{n}"))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        await asyncio.sleep(1 / rate)  # pacing the load, not waiting for an event
    if tasks:
        await asyncio.wait(tasks, timeout=15)


def _main(*args: object) -> None:
    asyncio.run(_churn(*args))  # type: ignore[arg-type]


class Churner:
    """`rate` connect-login-quit cycles per second in a child process, until `stop()`."""

    def __init__(self, host: str, port: int, rate: float, rooms: list[str]) -> None:
        ctx = multiprocessing.get_context("fork")
        self.done = ctx.Value("q", 0)
        self.failed = ctx.Value("q", 0)
        self._stop = ctx.Event()
        self._proc = ctx.Process(
            target=_main,
            args=(host, port, rate, rooms, self.done, self.failed, self._stop),
            daemon=True,
        )
        self._proc.start()

    def stop(self) -> dict[str, int]:
        self._stop.set()
        self._proc.join(30)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(5)
        return {"churned": int(self.done.value), "churn_failed": int(self.failed.value)}
