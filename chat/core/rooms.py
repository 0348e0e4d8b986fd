"""A room: its members grouped by dialect, so a message is encoded once per dialect."""

from __future__ import annotations

from collections.abc import Iterable

from chat.core.outbox import fan_out
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
        "topic",
        "topic_at",
        "topic_by",
    )

    def __init__(self, name: str, folded: str) -> None:
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

    def __len__(self) -> int:
        return self.size

    def __contains__(self, session: Session) -> bool:
        group = self.groups.get(session.codec)
        return group is not None and session in group

    def add(self, session: Session) -> None:
        self.groups.setdefault(session.codec, {})[session] = None
        self.order[session] = None
        self.size += 1

    def remove(self, session: Session) -> None:
        group = self.groups[session.codec]
        del group[session]
        if not group:
            del self.groups[session.codec]
        del self.order[session]
        self.size -= 1

    def regroup(self, session: Session, old: Codec) -> None:
        """`session`'s codec changed from `old` (IRC capabilities): same place in join order."""
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
        appends to outboxes (a member that overflows is cut later, outside this loop).
        """
        delivered = 0
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
