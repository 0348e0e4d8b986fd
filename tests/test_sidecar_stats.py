"""The stats model without I/O: rates from counter deltas, lazy room rates, merging nodes."""

from __future__ import annotations

import pytest

from chat.core.stats import RoomRates, RoomSnapshot, Sampler, Stats, merge, merge_rooms, snapshot


def test_sampler_rates_are_counter_deltas_over_the_tick() -> None:
    stats = Stats()
    sampler = Sampler(stats)
    sampler.tick(100.0)
    assert (sampler.received_per_second, sampler.delivered_per_second) == (0, 0)
    stats.messages_received += 30
    stats.deliveries += 600
    sampler.tick(102.0, lag=0.004)
    assert (sampler.received_per_second, sampler.delivered_per_second) == (15, 300)
    sampler.tick(103.0, lag=0.001)
    assert (sampler.received_per_second, sampler.delivered_per_second) == (0, 0)
    assert (sampler.lag, sampler.lag_max) == (0.001, 0.004)
    for t in range(Sampler.LAG_WINDOW):
        sampler.tick(104.0 + t)
    assert sampler.lag_max == 0  # the old spike left the window


def test_room_rates_are_computed_when_looked_at() -> None:
    rates = RoomRates()
    room = object()
    assert rates.rate("#a", room, 10, now=0.0) is None  # first look
    assert rates.rate("#a", room, 15, now=0.5) is None  # too soon: last rate (none yet)
    assert rates.rate("#a", room, 30, now=2.0) == 10.0  # 20 messages in 2 s
    assert rates.rate("#a", room, 31, now=2.5) == 10.0  # too soon: last rate
    assert rates.rate("#a", room, 31, now=4.0) == 0.5
    again = object()  # the room vanished and a new one got the name
    assert rates.rate("#a", again, 0, now=5.0) is None
    rates.rate("#b", room, 0, now=5.0)
    rates.prune(now=5.0 + RoomRates.FORGET_AFTER + 1)
    assert len(rates) == 0


def _node(connections: int, peak: int, **kw: int) -> Stats:
    s = Stats(started=1000.0 + peak)
    s.connections, s.peak_connections = connections, peak
    s.accepted = s.registered = peak
    s.messages_received, s.deliveries = kw.get("received", 0), kw.get("delivered", 0)
    s.disconnects.update({"idle": kw.get("idle", 0), "quit": 1})
    s.errors.update({"bad-nick": 2})
    return s


def test_merge_adds_counters_and_takes_worst_lags_and_peaks() -> None:
    a = Sampler(_node(5, 9, received=10, delivered=100, idle=1))
    b = Sampler(_node(7, 8, received=5, delivered=50))
    a.tick(0.0)
    b.tick(0.0)
    a.tick(1.0, lag=0.02)
    b.tick(1.0, lag=0.01)
    merged = merge(
        [snapshot(a.stats, 3, a, now=2000.0), snapshot(b.stats, 2, b, now=2001.0)], rooms=4
    )
    assert merged.nodes == 2
    assert merged.connections == 12
    assert merged.peak_connections == 12  # the current total beats each node's own peak
    assert (merged.accepted, merged.registered) == (17, 17)
    assert (merged.messages_received, merged.deliveries) == (15, 150)
    assert merged.disconnects == {"idle": 1, "quit": 2}
    assert merged.errors == {"bad-nick": 4}
    assert merged.rooms == 4
    assert (merged.loop_lag, merged.loop_lag_max) == (0.02, 0.02)
    assert (merged.started, merged.taken) == (1008.0, 2001.0)
    assert merge([snapshot(a.stats, 3, a, now=2000.0)]).peak_connections == 9
    assert merge([snapshot(a.stats, 3), snapshot(b.stats, 2)]).rooms == 5
    with pytest.raises(ValueError):
        merge([])


def test_merge_rooms_joins_the_same_room_across_nodes() -> None:
    one = RoomSnapshot("#Lobby", "#lobby", 3, "", 10, 1.0, 50.0)
    two = RoomSnapshot("#lobby", "#lobby", 4, "hello", 5, None, 60.0)
    other = RoomSnapshot("#x", "#x", 1, "", 0, None, None)
    lobby, x = merge_rooms([one, other, two])
    assert lobby == RoomSnapshot("#Lobby", "#lobby", 7, "hello", 15, 1.0, 60.0)
    assert x == other
