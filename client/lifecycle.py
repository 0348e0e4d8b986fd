"""The connection's lifecycle: five phases and the only moves between them. No I/O.

    CONNECTING --socket open--> REGISTERING --welcome--> ONLINE
         |                          |                      |
         +-------- link lost / connect failed ----> RECONNECTING --backoff over--> CONNECTING
    any phase --quit() or a fatal error--> CLOSED (final: nothing leaves it)

Every change goes through `Lifecycle.to()`, which refuses a move the table does not list, so a
quit racing a reconnect, or an error arriving after a quit, cannot revive a closed connection:
the loser of the race finds the phase already CLOSED and does nothing.
"""

from __future__ import annotations

import asyncio
import enum


class Phase(enum.Enum):
    CONNECTING = "connecting"
    REGISTERING = "registering"
    ONLINE = "online"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"


MOVES: dict[Phase, frozenset[Phase]] = {
    Phase.CONNECTING: frozenset({Phase.REGISTERING, Phase.RECONNECTING, Phase.CLOSED}),
    Phase.REGISTERING: frozenset({Phase.ONLINE, Phase.RECONNECTING, Phase.CLOSED}),
    Phase.ONLINE: frozenset({Phase.RECONNECTING, Phase.CLOSED}),
    Phase.RECONNECTING: frozenset({Phase.CONNECTING, Phase.CLOSED}),
    Phase.CLOSED: frozenset(),
}


class BadMove(RuntimeError):
    """A phase change the table does not allow: a bug in the caller."""


class Lifecycle:
    def __init__(self) -> None:
        self.phase = Phase.CONNECTING
        self.was_online = False  # once online, a lost link is "offline", not "connecting"
        self.closed = asyncio.Event()

    def to(self, phase: Phase) -> bool:
        """Move to `phase`. False (and no change) if already CLOSED; BadMove if not allowed."""
        if self.phase is Phase.CLOSED:
            return False
        if phase not in MOVES[self.phase]:
            raise BadMove(f"{self.phase.value} -> {phase.value}")
        self.phase = phase
        if phase is Phase.ONLINE:
            self.was_online = True
        elif phase is Phase.CLOSED:
            self.closed.set()
        return True

    @property
    def done(self) -> bool:
        return self.phase is Phase.CLOSED

    @property
    def link(self) -> str:
        """What the toolbar says: online, connecting (never was online), offline, closed."""
        if self.phase in (Phase.ONLINE, Phase.CLOSED):
            return str(self.phase.value)
        return "offline" if self.was_online else "connecting"
