"""O(1) counters fed by the core as things happen, and mergeable snapshots of them.

Three layers, none of which walks connections:

- `Stats`: live counters. The hub and the transport bump plain integers as events happen
  (`connected`, `disconnected`, `messages_received += 1`, ...). Nothing else runs per message.
- `Sampler`: turns counters into per-second rates and keeps the event loop lag. Something
  calls `tick()` about once a second (the sidecar's probe task); each tick is O(1).
  `RoomRates` does the same for rooms, lazily: a room's rate is computed when someone looks
  at it, so the cost is proportional to what is viewed, never to how many rooms exist.
- `Snapshot` / `RoomSnapshot`: frozen, plain-data views that can be sent to other nodes and
  merged (`merge`, `merge_rooms`): counters and rates add up, peaks and lags take the max.
  A snapshot's `history` block (`HistorySnapshot`) copies the history store's own counters,
  which it keeps up to date as it stores and evicts: reading them is O(1), whatever it holds.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import astuple, dataclass, field
from typing import Protocol


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
    moderation: Counter[str] = field(default_factory=Counter)
    """Moderation actions by name (kick, ban, kill, server-ban, ...; `chat.core.modstate`)."""
    accounts: Counter[str] = field(default_factory=Counter)
    """Account events by kind (`chat.core.accounts.EVENTS`: registered, identified, failed,
    throttled, busy, protected, renamed)."""

    def connected(self) -> None:
        self.accepted += 1
        self.connections += 1
        if self.connections > self.peak_connections:
            self.peak_connections = self.connections

    def disconnected(self, reason: str) -> None:
        self.connections -= 1
        self.disconnects[reason] += 1


# --- rates and loop lag -------------------------------------------------------------------


class Sampler:
    """Per-second rates of the message counters, and the event loop's lag.

    `tick(now, lag)` is called about once a second with a monotonic `now` and the measured
    oversleep of the probe that called it. A rate is the counter's growth between the last two
    ticks divided by the time between them: a one-tick window, exact for steady traffic.
    """

    __slots__ = ("_lags", "_last", "delivered_per_second", "received_per_second", "stats")

    LAG_WINDOW = 10
    """Ticks over which the maximum lag is kept."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats
        self._last: tuple[float, int, int] | None = None
        self._lags: deque[float] = deque(maxlen=self.LAG_WINDOW)
        self.received_per_second = 0.0
        self.delivered_per_second = 0.0

    def tick(self, now: float, lag: float = 0.0) -> None:
        s = self.stats
        if self._last is not None:
            then, received, delivered = self._last
            dt = now - then
            if dt > 0:
                self.received_per_second = max(0, s.messages_received - received) / dt
                self.delivered_per_second = max(0, s.deliveries - delivered) / dt
        self._last = (now, s.messages_received, s.deliveries)
        self._lags.append(max(0.0, lag))

    @property
    def lag(self) -> float:
        """The latest measured loop lag, in seconds."""
        return self._lags[-1] if self._lags else 0.0

    @property
    def lag_max(self) -> float:
        """The largest loop lag over the last `LAG_WINDOW` ticks, in seconds."""
        return max(self._lags, default=0.0)


class RoomRates:
    """Messages per second of rooms, computed when a room is looked at.

    Each looked-at room keeps one sample `(time, messages)`. A look at least `MIN_SPAN` seconds
    after the sample yields the rate over that span and moves the sample; a sooner look reuses
    the last rate. A room seen for the first time has no rate yet (`None`). Samples of rooms
    nobody looked at for `FORGET_AFTER` seconds are dropped by `prune`.
    """

    __slots__ = ("_samples",)

    MIN_SPAN = 1.0
    FORGET_AFTER = 60.0

    def __init__(self) -> None:
        # folded room name -> (room identity, sample time, messages at sample, last rate)
        self._samples: dict[str, tuple[object, float, int, float | None]] = {}

    def rate(self, key: str, room: object, messages: int, now: float) -> float | None:
        sample = self._samples.get(key)
        if sample is None or sample[0] is not room:  # new, or vanished and re-created
            self._samples[key] = (room, now, messages, None)
            return None
        _, then, before, last = sample
        span = now - then
        if span < self.MIN_SPAN:
            return last
        rate = max(0, messages - before) / span
        self._samples[key] = (room, now, messages, rate)
        return rate

    def prune(self, now: float) -> None:
        stale = [k for k, s in self._samples.items() if now - s[1] > self.FORGET_AFTER]
        for key in stale:
            del self._samples[key]

    def __len__(self) -> int:
        return len(self._samples)


# --- snapshots and merging ----------------------------------------------------------------


class HistoryCounters(Protocol):
    """What a history store counts as it goes (`chat.core.history.MemoryHistory`)."""

    @property
    def stored(self) -> int: ...
    @property
    def nbytes(self) -> int: ...
    @property
    def evicted(self) -> int: ...
    @property
    def recovered(self) -> int: ...
    @property
    def not_recovered(self) -> int: ...
    @property
    def retries(self) -> int: ...
    @property
    def unnumbered(self) -> int: ...


@dataclass(frozen=True, slots=True)
class HistorySnapshot:
    """A node's history store at one moment; all zeros when it keeps none (history off).
    Every field is a non-negative integer that adds up across nodes: the field list here is
    the only one (`merge` and the report wire format walk it)."""

    messages: int = 0
    """Messages held now, all rooms together."""
    bytes: int = 0
    """What they weigh against `--history-bytes`."""
    evicted: int = 0
    """Messages dropped to stay within the bounds, since start."""
    recovered: int = 0
    """Resumes (`join` with `since`) that got everything they missed."""
    not_recovered: int = 0
    """Resumes that could not (epoch changed, or missed messages evicted)."""
    retries: int = 0
    """Cluster mode: publishes to the history stream tried again (a race for a room's next
    offset lost to another node, or a timeout)."""
    unnumbered: int = 0
    """Cluster mode: lines delivered on their node only, unnumbered (the stream was out of
    reach)."""

    @classmethod
    def of(cls, h: HistoryCounters | None) -> HistorySnapshot:
        if h is None:
            return cls()
        return cls(
            h.stored, h.nbytes, h.evicted, h.recovered, h.not_recovered, h.retries, h.unnumbered
        )

    def __add__(self, other: HistorySnapshot) -> HistorySnapshot:
        return HistorySnapshot(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A node's numbers at one moment; plain data, so it can travel and be merged."""

    taken: float
    started: float
    connections: int
    peak_connections: int
    accepted: int
    refused: int
    registered: int
    messages_received: int
    deliveries: int
    rooms: int
    disconnects: Mapping[str, int]
    errors: Mapping[str, int]
    received_per_second: float = 0.0
    delivered_per_second: float = 0.0
    loop_lag: float = 0.0
    loop_lag_max: float = 0.0
    nodes: int = 1
    history: HistorySnapshot = HistorySnapshot()
    moderation: Mapping[str, int] = field(default_factory=dict)
    """Moderation actions by name (kick, ban, kill, server-ban, ...), since start."""
    accounts: Mapping[str, int] = field(default_factory=dict)
    """Account events by kind (`Stats.accounts`; empty without --accounts)."""

    @property
    def uptime(self) -> float:
        return max(0.0, self.taken - self.started)


def snapshot(
    stats: Stats,
    rooms: int,
    sampler: Sampler | None = None,
    now: float | None = None,
    history: HistoryCounters | None = None,
) -> Snapshot:
    """Copy the live counters (O(number of distinct reasons and error codes)); `history` is the
    hub's store, None when it keeps none."""
    return Snapshot(
        taken=time.time() if now is None else now,
        started=stats.started,
        connections=stats.connections,
        peak_connections=stats.peak_connections,
        accepted=stats.accepted,
        refused=stats.refused,
        registered=stats.registered,
        messages_received=stats.messages_received,
        deliveries=stats.deliveries,
        rooms=rooms,
        disconnects=dict(stats.disconnects),
        errors=dict(stats.errors),
        received_per_second=sampler.received_per_second if sampler else 0.0,
        delivered_per_second=sampler.delivered_per_second if sampler else 0.0,
        loop_lag=sampler.lag if sampler else 0.0,
        loop_lag_max=sampler.lag_max if sampler else 0.0,
        history=HistorySnapshot.of(history),
        moderation=dict(stats.moderation),
        accounts=dict(stats.accounts),
    )


def merge(snapshots: Iterable[Snapshot], rooms: int | None = None) -> Snapshot:
    """Combine several nodes' snapshots into one cluster-wide snapshot.

    Counters, current connections, rates and the history block add up; lags take the worst
    node. The cluster's
    peak is the largest of the nodes' peaks and the current total: a lower bound of the true
    cluster peak, since the nodes' peaks need not have happened at the same time. A room
    present on several nodes would be counted once per node, so a caller that knows the
    union of room names passes its size as `rooms`.
    """
    snaps = list(snapshots)
    if not snaps:
        raise ValueError("merge needs at least one snapshot")
    disconnects: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    moderation: Counter[str] = Counter()
    accounts: Counter[str] = Counter()
    for s in snaps:
        disconnects.update(s.disconnects)
        errors.update(s.errors)
        moderation.update(s.moderation)
        accounts.update(s.accounts)
    connections = sum(s.connections for s in snaps)
    return Snapshot(
        taken=max(s.taken for s in snaps),
        started=min(s.started for s in snaps),
        connections=connections,
        peak_connections=max(connections, *(s.peak_connections for s in snaps)),
        accepted=sum(s.accepted for s in snaps),
        refused=sum(s.refused for s in snaps),
        registered=sum(s.registered for s in snaps),
        messages_received=sum(s.messages_received for s in snaps),
        deliveries=sum(s.deliveries for s in snaps),
        rooms=sum(s.rooms for s in snaps) if rooms is None else rooms,
        disconnects=dict(disconnects),
        errors=dict(errors),
        received_per_second=sum(s.received_per_second for s in snaps),
        delivered_per_second=sum(s.delivered_per_second for s in snaps),
        loop_lag=max(s.loop_lag for s in snaps),
        loop_lag_max=max(s.loop_lag_max for s in snaps),
        nodes=sum(s.nodes for s in snaps),
        history=sum((s.history for s in snaps), HistorySnapshot()),
        moderation=dict(moderation),
        accounts=dict(accounts),
    )


@dataclass(frozen=True, slots=True)
class RoomSnapshot:
    """One room as one node sees it: members are that node's local members."""

    name: str
    folded: str
    members: int
    topic: str
    messages: int
    messages_per_second: float | None
    last_activity: float | None
    modes: str = "+n"
    """Its modes as IRC's 324 shows them, a key as `*` (chat/core/moderation.py)."""
    bans: int = 0
    """Entries on its ban list."""


def merge_rooms(rooms: Iterable[RoomSnapshot]) -> list[RoomSnapshot]:
    """Combine the same rooms seen by several nodes, keyed by folded name, first-seen order.

    Members add up (each node counts its own), as do messages posted on each node and their
    rates; the latest activity wins, and the first non-empty topic. Modes and bans hold
    cluster-wide, so every node reports the same; the longest ban list wins a race.
    """
    merged: dict[str, RoomSnapshot] = {}
    for r in rooms:
        have = merged.get(r.folded)
        if have is None:
            merged[r.folded] = r
            continue
        rates = [x for x in (have.messages_per_second, r.messages_per_second) if x is not None]
        active = [x for x in (have.last_activity, r.last_activity) if x is not None]
        merged[r.folded] = RoomSnapshot(
            name=have.name,
            folded=have.folded,
            members=have.members + r.members,
            topic=have.topic or r.topic,
            messages=have.messages + r.messages,
            messages_per_second=sum(rates) if rates else None,
            last_activity=max(active) if active else None,
            modes=have.modes,
            bans=max(have.bans, r.bans),
        )
    return list(merged.values())
