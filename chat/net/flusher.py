"""Coalesced writes: each client with queued output is written once per turn of the flusher.

A room message to 1,000 members queues 1,000 references to the same bytes; the flusher then
does one `transport.write()` per member with everything that member has pending. Under load
many messages share one system call, which is where the time goes otherwise (at a steady rate
nearly all of the server's time is in `write()` itself).

The flusher writes at most `SLICE` clients per loop pass, then lets the loop read again before
the next slice. A message that arrives while a big room is being written joins what its not yet
written members have pending (one `write()` carries both), instead of waiting for the whole
fan-out of the first and then paying 1,000 system calls of its own: the order of each client's
output is unchanged, and at most `SLICE` writes pass between two reads of new input. Clients
are written in the order they were marked; one marked again after its write waits its turn at
the back.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Protocol

from chat.core.outbox import BATCH

SLICE = 128
"""Clients written per loop pass at most (about 0.5-1 ms of `write()` calls on loopback)."""


class Flushable(Protocol):
    def flush(self) -> None: ...


class Flusher:
    __slots__ = ("_dirty", "_loop", "_scheduled", "slice")

    def __init__(self, loop: asyncio.AbstractEventLoop, slice: int = SLICE) -> None:
        self._loop = loop
        self._dirty: deque[Flushable] = deque()
        self._scheduled = False
        self.slice = slice

    def mark(self, client: Flushable) -> None:
        """Flush `client` soon: in the next slice that reaches it (the caller marks each client
        once until it has been flushed)."""
        self._dirty.append(client)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.run)

    def soon(self) -> None:
        """Run soon even if nobody is marked yet (a room's batch waits: `Hub.soon`)."""
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.run)

    def run(self) -> None:
        if BATCH.owner is not None:  # a room's messages of this pass: queued (and marked) now
            BATCH.settle()
        dirty = self._dirty
        pop = dirty.popleft
        for _ in range(min(len(dirty), self.slice)):
            pop().flush()
        if dirty:  # the rest (and whoever was marked meanwhile) in the next pass
            self._loop.call_soon(self.run)
        else:
            self._scheduled = False
