"""The history block of the stats: messages and bytes held, evictions, resumes recovered or not.

End to end over real sockets and real HTTP (a real server, its embedded sidecar, JSON clients
that resume with `since`), then the block's trip through a cluster report and `merge`, without
I/O, including a report from a node of the previous version (no `history` at all).
"""

from __future__ import annotations

import json
from dataclasses import fields, replace
from typing import Any

import pytest

from chat.cluster.reportwire import _SNAPSHOT_FIELDS, Report, decode_report, encode_report
from chat.core.history import ENTRY_OVERHEAD
from chat.core.stats import HistorySnapshot, Snapshot, Stats, merge, snapshot
from chat.sidecar.models import StatsOut
from tests.helpers import JsonClient
from tests.test_sidecar import get, metrics, stack

Json = dict[str, Any]


async def resume(client: JsonClient, room: str, epoch: str, offset: int) -> tuple[list[int], Json]:
    """Join `room` with `since`; the offsets replayed before the joiner's join, and the join."""
    await client.send_json(type="join", room=room, since={"epoch": epoch, "offset": offset})
    replayed: list[int] = []
    while True:
        ev = await client.next_event()
        if ev["type"] == "join" and ev["room"] == room and ev["nick"] == "bob":
            return replayed, ev
        if ev["type"] == "message" and ev.get("replay"):
            replayed.append(ev["offset"])


def history_metrics(m: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> dict[str, float]:
    return {
        "messages": m[("chat_history_messages", ())],
        "bytes": m[("chat_history_bytes", ())],
        "evicted": m[("chat_history_evicted_total", ())],
        "recovered": m[("chat_history_resumes_total", (("result", "recovered"),))],
        "not_recovered": m[("chat_history_resumes_total", (("result", "not_recovered"),))],
        "retries": m[("chat_history_sequence_retries_total", ())],
        "unnumbered": m[("chat_history_unnumbered_total", ())],
    }


async def test_stats_and_metrics_count_history_evictions_and_resumes() -> None:
    async with stack(history_size=3) as (srv, _, http):
        bob = await JsonClient.login(srv.port, "bob")  # in #lobby
        stats = await get(http, "/stats")
        assert stats["history"] == {
            "messages": 0,
            "bytes": 0,
            "evicted_total": 0,
            "resumes": {"recovered": 0, "not_recovered": 0},
            "sequence_retries_total": 0,
            "unnumbered_total": 0,
        }
        texts = ["one", "two", "three", "four", "five"]  # 5 messages, 3 kept per room
        for text in texts:
            await bob.send_json(type="say", text=text)
        echoes = [await bob.event("message") for _ in texts]
        assert [ev["offset"] for ev in echoes] == [1, 2, 3, 4, 5]
        epoch = echoes[-1]["epoch"]

        replayed, joined = await resume(bob, "#lobby", epoch, 4)  # 5 is held: all recovered
        assert (replayed, joined["recovered"]) == ([5], True)
        replayed, joined = await resume(bob, "#lobby", epoch, 0)  # 1 and 2 were evicted
        assert (replayed, joined["recovered"]) == ([3, 4, 5], False)
        replayed, joined = await resume(bob, "#lobby", "not-" + epoch, 5)  # another epoch
        assert joined["recovered"] is False

        held = sum(len(t) + len("bob") + ENTRY_OVERHEAD for t in texts[2:])
        stats = await get(http, "/stats")
        assert stats["history"] == {
            "messages": 3,
            "bytes": held,
            "evicted_total": 2,
            "resumes": {"recovered": 1, "not_recovered": 2},
            "sequence_retries_total": 0,
            "unnumbered_total": 0,
        }
        assert history_metrics(await metrics(http)) == {
            "messages": 3,
            "bytes": held,
            "evicted": 2,
            "recovered": 1,
            "not_recovered": 2,
            "retries": 0,
            "unnumbered": 0,
        }
        nodes = await get(http, "/nodes")
        assert nodes["items"][0]["stats"]["history"] == stats["history"]
        await bob.close()


async def test_history_off_reads_as_zeros() -> None:
    async with stack(history_size=0) as (srv, _, http):
        assert srv.hub.history is None
        bob = await JsonClient.login(srv.port, "bob")
        await bob.send_json(type="say", text="not kept")
        await bob.event("message")
        stats = await get(http, "/stats")
        assert stats["messages"]["received"]["total"] == 1
        assert stats["history"] == {
            "messages": 0,
            "bytes": 0,
            "evicted_total": 0,
            "resumes": {"recovered": 0, "not_recovered": 0},
            "sequence_retries_total": 0,
            "unnumbered_total": 0,
        }
        assert set(history_metrics(await metrics(http)).values()) == {0}
        await bob.close()


# --- across nodes: the report wire format and merge, no I/O ---------------------------------


class Counters:
    """A history store's counters, as `MemoryHistory` keeps them."""

    def __init__(self, *values: int) -> None:
        self.stored, self.nbytes, self.evicted, self.recovered, self.not_recovered = values[:5]
        self.retries, self.unnumbered = (*values[5:], 0, 0)[:2]


def _report(node: str, *history: int) -> Report:
    stats = Stats(started=1000.0)
    stats.connected()
    counters = Counters(*history) if history else None
    return Report(node, snapshot(stats, 1, now=1010.0, history=counters), rooms=[])


def test_the_history_block_round_trips_and_merges_by_adding() -> None:
    a, b = _report("node-a", 10, 900, 4, 3, 1, 6, 2), _report("node-b", 5, 450, 0, 2, 7)
    assert a.snapshot.history == HistorySnapshot(10, 900, 4, 3, 1, 6, 2)
    decoded = [decode_report(encode_report(r)) for r in (a, b)]
    assert decoded == [a, b]
    merged = merge(r.snapshot for r in decoded)
    assert merged.history == HistorySnapshot(15, 1350, 4, 5, 8, 6, 2)
    assert StatsOut.of(merged).history.model_dump() == {
        "messages": 15,
        "bytes": 1350,
        "evicted_total": 4,
        "resumes": {"recovered": 5, "not_recovered": 8},
        "sequence_retries_total": 6,
        "unnumbered_total": 2,
    }


def test_a_node_of_the_previous_version_still_merges() -> None:
    new = _report("node-a", 10, 900, 4, 3, 1)
    doc = json.loads(encode_report(replace(new, node="node-b")))
    assert doc["v"] == 1  # the same version: an older chat-stats ignores the extra block
    del doc["snapshot"]["history"]  # what a node of the previous version sends
    old = decode_report(json.dumps(doc).encode())
    assert old.snapshot.history == HistorySnapshot()
    assert old.snapshot == replace(new.snapshot, history=HistorySnapshot())
    assert merge([new.snapshot, old.snapshot]).history == new.snapshot.history

    doc["snapshot"]["history"] = {"messages": 2, "evicted": 1, "from_the_future": 9}
    partial = decode_report(json.dumps(doc).encode()).snapshot.history
    assert partial == HistorySnapshot(messages=2, evicted=1)  # missing fields read as 0


def test_history_off_and_the_empty_cluster_read_as_zeros() -> None:
    off = _report("node-a")  # the hub holds no store (history off, or cluster mode)
    assert off.snapshot.history == HistorySnapshot()
    assert decode_report(encode_report(off)) == off
    assert set(json.loads(encode_report(off))["snapshot"]["history"].values()) == {0}


@pytest.mark.parametrize(
    "history",
    [
        None,
        [],
        {"messages": -1},
        {"bytes": 1.5},
        {"evicted": True},
        {"recovered": "3"},
        {"not_recovered": None},
    ],
)
def test_a_bad_history_block_is_not_a_report(history: object) -> None:
    doc = json.loads(encode_report(_report("node-a", 1, 2, 3, 4, 5)))
    doc["snapshot"]["history"] = history
    with pytest.raises(ValueError):
        decode_report(json.dumps(doc).encode())


def test_the_wire_format_carries_every_snapshot_field() -> None:
    """A field added to `Snapshot` but not to the report would silently read as its default."""
    carried = {*_SNAPSHOT_FIELDS, "disconnects", "errors", "history", "nodes", "moderation",
               "accounts"}  # fmt: skip
    assert carried == {f.name for f in fields(Snapshot)}
