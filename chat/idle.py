"""Idle timeouts by deadline sweep: reads only stamp `last_seen`; one task checks everyone.

Re-arming a timer on every read costs a heap push and a cancelled handle per read; stamping a
float costs one attribute store. One sweep every `interval` seconds walks all clients
(measured in docs/architecture.md: ~1 ms per 19,000 clients). A client is warned when silent
for `warn_at` seconds and cut at `timeout`, at most `interval` late.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Protocol


class Watched(Protocol):
    last_seen: float
    warned: bool


def sweep_interval(timeout: float) -> float:
    return min(max(timeout / 10, 0.05), 5.0)


def sweep(
    clients: Iterable[Watched],
    now: float,
    timeout: float,
    warn: Callable[[Watched], None],
    cut: Callable[[Watched], None],
) -> None:
    """Warn clients silent for 80% of `timeout`, cut those silent for all of it."""
    warn_after = timeout * 0.8
    for client in list(clients):
        silent = now - client.last_seen
        if silent >= timeout:
            cut(client)
        elif silent >= warn_after and not client.warned:
            client.warned = True
            warn(client)


async def run_sweeper(
    clients: Callable[[], Iterable[Watched]],
    limit: float,
    warn: Callable[[Watched], None],
    cut: Callable[[Watched], None],
) -> None:
    """Sweep `clients()` forever, cutting those silent for `limit` seconds."""
    loop = asyncio.get_running_loop()
    interval = sweep_interval(limit)
    while True:
        await asyncio.sleep(interval)
        sweep(clients(), loop.time(), limit, warn, cut)
