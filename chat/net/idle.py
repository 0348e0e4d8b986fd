"""Idle timeouts by deadline sweep: reads only stamp `last_seen`; one task checks everyone.

Re-arming a timer on every read costs a heap push and a cancelled handle per read; stamping a
float costs one attribute store. One sweep every `sweep_interval(timeout)` seconds walks all
clients (measured in docs/architecture.md: ~1 ms per 19,000 clients) and lets each judge
itself (`Connection.idle_check`: warned at 80% of the timeout, cut at all of it), at most one
interval late.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Protocol


class Watched(Protocol):
    def idle_check(self, now: float) -> None: ...


def sweep_interval(timeout: float) -> float:
    return min(max(timeout / 10, 0.05), 5.0)


def sweep(clients: Iterable[Watched], now: float) -> None:
    for client in list(clients):
        client.idle_check(now)


async def run_sweeper(clients: Callable[[], Iterable[Watched]], timeout: float) -> None:
    """Sweep `clients()` forever, every `sweep_interval(timeout)` seconds."""
    loop = asyncio.get_running_loop()
    interval = sweep_interval(timeout)
    while True:
        await asyncio.sleep(interval)
        sweep(clients(), loop.time())
