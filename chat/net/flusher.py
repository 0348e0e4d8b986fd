"""Coalesced writes: each client with queued output is written once per event-loop pass.

A room message to 1,000 members queues 1,000 references to the same bytes; the flusher then
does one `transport.write()` per member with everything that member has pending. Under load
many messages share one system call, which is where the time goes otherwise.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class Flushable(Protocol):
    def flush(self) -> None: ...


class Flusher:
    __slots__ = ("_dirty", "_loop", "_scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._dirty: list[Flushable] = []
        self._scheduled = False

    def mark(self, client: Flushable) -> None:
        """Flush `client` at the end of this loop pass (the caller marks each client once)."""
        self._dirty.append(client)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.run)

    def run(self) -> None:
        dirty, self._dirty = self._dirty, []
        self._scheduled = False
        for client in dirty:
            client.flush()
