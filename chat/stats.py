"""O(1) counters fed by the core as things happen. Nothing here walks connections or rooms.

The counters are plain integers so that snapshots from several nodes can be merged by adding
them (see `Stats.snapshot`).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class Stats:
    started: float = field(default_factory=time.time)
    connections: int = 0
    peak_connections: int = 0
    accepted: int = 0
    refused: int = 0
    registered: int = 0
    messages_received: int = 0
    deliveries: int = 0
    disconnects: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    def connected(self) -> None:
        self.accepted += 1
        self.connections += 1
        if self.connections > self.peak_connections:
            self.peak_connections = self.connections

    def disconnected(self, reason: str) -> None:
        self.connections -= 1
        self.disconnects[reason] += 1
