"""A room: its members grouped by dialect, so a message is encoded once per dialect."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from chat.core.outbox import BATCH, fan_out
from chat.core.session import Session
from chat.protocol.codec import Codec
from chat.protocol.events import Event


class Room:
    __slots__ = (
        "folded",
        "groups",
        "last_activity",
        "messages",
        "name",
        "order",
        "size",
        "soon",
        "topic",
        "topic_at",
        "topic_by",
    )

    def __init__(self, name: str, folded: str, soon: Callable[[], None] | None = None) -> None:
        self.name = name
        self.folded = folded
        self.topic = ""
        self.topic_by = ""  # who set it here, and when (IRC's 333); empty when unknown
        self.topic_at = 0.0
        # One insertion-ordered set of sessions per codec: fan-out encodes once per group.
        self.groups: dict[Codec, dict[Session, None]] = {}
        self.order: dict[Session, None] = {}  # every member, in join order (for /who)
        self.size = 0
        self.messages = 0
        self.last_activity = 0.0
        self.soon = soon
        """Batching (`chat.core.outbox.Batch`): arranges a settle before the loop's writes;
        None: each broadcast is queued at once (the hub without a server, in tests)."""

    def __len__(self) -> int:
        return self.size

    def __contains__(self, session: Session) -> bool:
        group = self.groups.get(session.codec)
        return group is not None and session in group

    def add(self, session: Session) -> None:
        if BATCH.owner is not None:  # what waits is for the members before this one
            BATCH.settle()
        self.groups.setdefault(session.codec, {})[session] = None
        self.order[session] = None
        self.size += 1

    def remove(self, session: Session) -> None:
        if BATCH.owner is not None:  # what waits is for the members so far, this one too
            BATCH.settle()
        group = self.groups[session.codec]
        del group[session]
        if not group:
            del self.groups[session.codec]
        del self.order[session]
        self.size -= 1

    def regroup(self, session: Session, old: Codec) -> None:
        """`session`'s codec changed from `old` (IRC capabilities): same place in join order."""
        if BATCH.owner is not None:
            BATCH.settle()
        group = self.groups[old]
        del group[session]
        if not group:
            del self.groups[old]
        self.groups.setdefault(session.codec, {})[session] = None

    def members(self) -> list[Session]:
        return list(self.order)

    def broadcast(self, event: Event, sender: Session | None = None) -> int:
        """Queue `event` for every member; `sender` is skipped by dialects without echo.

        Returns the number of deliveries. MUST NOT block and MUST NOT change any room: it only
        appends to outboxes (a member that overflows is cut later, outside this loop). With
        batching on (`soon`), the event joins this room's batch of the pass instead and the
        count is of the members it is for.
        """
        delivered = 0
        if self.soon is not None:
            for codec, group in self.groups.items():
                skip = None if codec.echo else sender
                BATCH.add(self, group, codec.encode(event), skip, self.soon)
                delivered += len(group) - (skip is not None and skip in group)
            return delivered
        for codec, group in self.groups.items():
            delivered += fan_out(group, codec.encode(event), None if codec.echo else sender)
        return delivered


def deliver(sessions: Iterable[Session], event: Event) -> int:
    """Queue `event` for each session, encoding it once per dialect."""
    cache: dict[Codec, bytes] = {}
    count = 0
    for session in sessions:
        data = cache.get(session.codec)
        if data is None:
            data = cache[session.codec] = session.codec.encode(event)
        session.push(data)
        count += 1
    return count
