"""`ClusterStats`: the sidecar's `StatsView` over a whole NATS cluster, from the nodes' reports.

Every node's `StatsReporter` publishes a `Report` on `chat.core.stats.<node>` about once a second.
This view keeps the latest report of each node and answers from them: `/stats` is their merge
(`chat.core.stats.merge`), `/rooms` the merge of their rooms (`merge_rooms`: a room with members on
several nodes shows once, members added up), `/nodes` each node's own numbers. A node whose
latest report is older than `stale_after` seconds (measured on this process's monotonic clock
when reports arrive, so node clocks do not matter) is dropped: it stopped, crashed or lost NATS.

Costs: a report is stored as it arrives (O(its rooms)); the merged view is rebuilt lazily, at
most once per change, by the first request that needs it (O(nodes * REPORT_ROOMS * log)), so
requests cost the same bounded amounts as with `LocalView`. Only `members()` does I/O: member
lists are not in reports, so it asks the nodes that hold the room for just the slices of the
page they hold (in parallel, each with a timeout; a node that does not answer contributes
nothing to that page rather than failing it).

Room order `created` is the order in which this view first saw each room (a node lists its
rooms oldest first), which is stable across requests; `members` is biggest first, ties in that
order.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import nats.errors
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from chat.cluster.reportwire import (
    REPORTS,
    Report,
    decode_members,
    decode_report,
    encode_members_request,
    members_subject,
    report_subject,
)
from chat.core.stats import RoomSnapshot, Snapshot, merge, merge_rooms
from chat.core.statsview import MemberInfo, NodeSnapshot, Order
from chat.protocol.names import fold

log = structlog.get_logger("chat.sidecar.cluster")

STALE_AFTER = 3.0
"""Default staleness bound: three missed reports at the reporters' default 1 s interval."""
REQUEST_TIMEOUT = 1.0
"""Seconds to wait for a node's page of members."""
MAX_WARNED = 1000
"""Subjects remembered for "warn once about bad reports from here" (bounds that memory)."""


@dataclass(slots=True)
class _Node:
    report: Report
    seen: float  # monotonic time the report arrived
    rooms: dict[str, RoomSnapshot]  # folded name -> this node's view of the room


@dataclass(frozen=True, slots=True)
class _Merged:
    snapshot: Snapshot
    created: list[RoomSnapshot]
    biggest: list[RoomSnapshot]
    by_key: dict[str, RoomSnapshot]


class ClusterStats:
    def __init__(
        self,
        nc: Client,
        stale_after: float = STALE_AFTER,
        request_timeout: float = REQUEST_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if stale_after <= 0:
            raise ValueError("stale_after must be positive")
        self.nc = nc
        self.stale_after = stale_after
        self.request_timeout = request_timeout
        self.clock = clock
        self.started = time.time()
        self._nodes: dict[str, _Node] = {}
        self._merged: _Merged | None = None  # None: rebuild at the next read
        self._first_seen: dict[str, int] = {}  # folded room -> order of first sight
        self._seen_count = 0
        self._warned: set[str] = set()
        self._sub: Subscription | None = None
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._sub = await self.nc.subscribe(REPORTS, cb=self._on_report)
        self._sweeper = asyncio.create_task(self._sweep(), name="stats-sweeper")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()

    # --- reports in -----------------------------------------------------------------------

    async def _on_report(self, msg: Msg) -> None:
        try:
            report = decode_report(msg.data)
            if msg.subject != report_subject(report.node):
                raise ValueError(f"a report from {report.node} on another node's subject")
        except ValueError as err:
            if msg.subject not in self._warned and len(self._warned) < MAX_WARNED:
                self._warned.add(msg.subject)  # once per subject: garbage must not flood logs
                log.warning("stats.bad_report", subject=msg.subject, error=str(err))
            return
        self.receive(report)

    def receive(self, report: Report) -> None:
        """Keep `report` as its node's latest."""
        if report.node not in self._nodes:
            log.info("stats.node_seen", node=report.node)
        rooms = {r.folded: r for r in report.rooms}
        self._nodes[report.node] = _Node(report, self.clock(), rooms)
        self._merged = None

    def _prune(self) -> None:
        now = self.clock()
        for node in [n for n, x in self._nodes.items() if now - x.seen > self.stale_after]:
            age = now - self._nodes.pop(node).seen
            log.warning("stats.node_lost", node=node, silent_seconds=round(age, 3))
            self._merged = None

    async def _sweep(self) -> None:
        """Drop silent nodes even when nobody asks, so `stats.node_lost` is logged on time."""
        pace = min(1.0, self.stale_after / 4)
        while True:
            await asyncio.sleep(pace)
            self._prune()

    # --- the StatsView protocol -----------------------------------------------------------

    def snapshot(self) -> Snapshot:
        return self._current().snapshot

    def nodes(self) -> list[NodeSnapshot]:
        self._prune()
        now = self.clock()
        return [
            NodeSnapshot(node, x.report.snapshot, now - x.seen)
            for node, x in sorted(self._nodes.items())
        ]

    def room_count(self) -> int:
        return len(self._current().created)

    def rooms(self, offset: int, limit: int, order: Order) -> list[RoomSnapshot]:
        merged = self._current()
        rooms = merged.biggest if order == "members" else merged.created
        return rooms[offset : offset + limit]

    def room(self, folded: str) -> RoomSnapshot | None:
        return self._current().by_key.get(fold(folded))

    async def members(self, folded: str, offset: int, limit: int) -> list[MemberInfo]:
        """One page of a room's members across nodes: node by node (by id), each node's
        members in its own order. Each node is asked only for the part of the page it holds,
        going by the member counts of its latest report."""
        key = fold(folded)
        self._prune()
        asks: list[tuple[str, int, int]] = []
        skip, want = offset, limit
        for node, x in sorted(self._nodes.items()):
            room = x.rooms.get(key)
            if room is None or want == 0:
                continue
            if skip >= room.members:
                skip -= room.members
                continue
            take = min(want, room.members - skip)
            asks.append((node, skip, take))
            skip, want = 0, want - take
        pages = await asyncio.gather(*(self._ask(n, key, o, t) for n, o, t in asks))
        return [MemberInfo(nick, dialect) for page in pages for nick, dialect in page][:limit]

    async def _ask(self, node: str, key: str, offset: int, limit: int) -> list[tuple[str, str]]:
        try:
            reply = await self.nc.request(
                members_subject(node),
                encode_members_request(key, offset, limit),
                timeout=self.request_timeout,
            )
            return decode_members(reply.data, limit)
        except (nats.errors.Error, TimeoutError, ValueError) as err:
            log.warning("stats.members_failed", node=node, room=key, error=str(err))
            return []

    # --- merging --------------------------------------------------------------------------

    def _current(self) -> _Merged:
        self._prune()
        if self._merged is None or not self._nodes:  # no node: nothing cached, uptime moves
            self._merged = self._merge()
        return self._merged

    def _merge(self) -> _Merged:
        nodes = [self._nodes[n] for n in sorted(self._nodes)]
        merged = merge_rooms(r for x in nodes for r in x.report.rooms)
        by_key = {r.folded: r for r in merged}
        # Creation order as first seen here: stable across rebuilds, forgotten with the room.
        self._first_seen = {k: v for k, v in self._first_seen.items() if k in by_key}
        for r in merged:
            if r.folded not in self._first_seen:
                self._first_seen[r.folded] = self._seen_count
                self._seen_count += 1
        created = sorted(merged, key=lambda r: self._first_seen[r.folded])
        biggest = sorted(created, key=lambda r: r.members, reverse=True)  # stable: ties oldest
        return _Merged(self._merge_snapshots(nodes, len(by_key)), created, biggest, by_key)

    def _merge_snapshots(self, nodes: list[_Node], known_rooms: int) -> Snapshot:
        if not nodes:
            return Snapshot(
                taken=time.time(),
                started=self.started,
                connections=0,
                peak_connections=0,
                accepted=0,
                refused=0,
                registered=0,
                messages_received=0,
                deliveries=0,
                rooms=0,
                disconnects={},
                errors={},
                nodes=0,
            )
        # A node with more rooms than a report carries left some out; they may or may not
        # also exist elsewhere, so count them once each (exact when every node sends all).
        unreported = sum(max(0, x.report.snapshot.rooms - len(x.report.rooms)) for x in nodes)
        return merge((x.report.snapshot for x in nodes), rooms=known_rooms + unreported)
