"""What the sidecar reads: a `StatsView` answers every question an endpoint asks.

`LocalView` reads one in-process hub. Its costs: `snapshot()` is O(1) (plus the handful of
disconnect reasons and error codes; the history store's counters are read, its rooms never
walked), a page of rooms is O(offset + limit) in creation order or O(rooms * log(page)) biggest
first, and a page of members is O(offset + limit). Nothing walks the connections.
`chat.sidecar.cluster.RemoteView` implements the same protocol for a whole NATS cluster by
merging the nodes' reports with `chat.core.stats.merge` and `merge_rooms`.

This module imports nothing from fastapi or uvicorn: the cluster reporter
(`chat.cluster.reporter`) runs a `LocalView` inside every chat node, stats extra or not.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from chat.core.hub import Hub
from chat.core.rooms import Room
from chat.core.stats import RoomRates, RoomSnapshot, Sampler, Snapshot, snapshot
from chat.protocol.names import fold

Order = Literal["created", "members"]

MAX_PAGE = 1000
"""Most items one page may hold (rooms or members): the HTTP API's bound, and the bound a
node applies when another process asks it for a page of a room's members over NATS."""


@dataclass(frozen=True, slots=True)
class MemberInfo:
    nick: str
    dialect: str


@dataclass(frozen=True, slots=True)
class NodeSnapshot:
    """One node's own numbers, for the per-node breakdown (`/nodes`)."""

    node: str
    snapshot: Snapshot
    age: float
    """Seconds since these numbers arrived (0 for the in-process hub)."""


class StatsView(Protocol):
    """Everything is synchronous and bounded except `members`, which a cluster view has to
    ask the nodes for (a NATS request), so it is a coroutine for every view."""

    def snapshot(self) -> Snapshot: ...

    def nodes(self) -> list[NodeSnapshot]: ...

    def room_count(self) -> int: ...

    def rooms(self, offset: int, limit: int, order: Order) -> list[RoomSnapshot]: ...

    def room(self, folded: str) -> RoomSnapshot | None: ...

    async def members(self, folded: str, offset: int, limit: int) -> list[MemberInfo]: ...


class LocalView:
    """The numbers of the hub running in this process."""

    def __init__(
        self,
        hub: Hub,
        sampler: Sampler | None = None,
        clock: Callable[[], float] = time.monotonic,
        node: str = "local",
    ) -> None:
        self.hub = hub
        self.node = node
        self.sampler = sampler or Sampler(hub.stats)
        self.room_rates = RoomRates()
        self.clock = clock

    def snapshot(self) -> Snapshot:
        hub = self.hub
        return snapshot(hub.stats, len(hub.rooms), self.sampler, history=hub.history)

    def nodes(self) -> list[NodeSnapshot]:
        return [NodeSnapshot(self.node, self.snapshot(), 0.0)]

    def room_count(self) -> int:
        return len(self.hub.rooms)

    def rooms(self, offset: int, limit: int, order: Order) -> list[RoomSnapshot]:
        rooms = self.hub.rooms.values()
        if order == "members":
            top = heapq.nlargest(offset + limit, rooms, key=len)
            chosen = top[offset:]
        else:
            chosen = list(itertools.islice(rooms, offset, offset + limit))
        now = self.clock()
        return [self._snap(r, now) for r in chosen]

    def room(self, folded: str) -> RoomSnapshot | None:
        room = self.hub.rooms.get(fold(folded))
        return None if room is None else self._snap(room, self.clock())

    async def members(self, folded: str, offset: int, limit: int) -> list[MemberInfo]:
        room = self.hub.rooms.get(fold(folded))
        if room is None:
            return []
        every = itertools.chain.from_iterable(room.groups.values())
        return [
            MemberInfo(s.nick or "", s.codec.name)
            for s in itertools.islice(every, offset, offset + limit)
        ]

    def _snap(self, room: Room, now: float) -> RoomSnapshot:
        modes = self.hub.moderation.rooms.get(room.folded)
        return RoomSnapshot(
            name=room.name,
            folded=room.folded,
            members=room.size,
            topic=room.topic,
            messages=room.messages,
            messages_per_second=self.room_rates.rate(room.folded, room, room.messages, now),
            last_activity=room.last_activity or None,
            modes=modes.flags(show_key=False) if modes is not None else "+n",
            bans=len(modes.bans) if modes is not None else 0,
        )
