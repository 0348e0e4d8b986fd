"""The cluster's pure parts without NATS: the wire format, the view of other nodes, and two
hubs joined by an in-memory bus that carries their notes (what NATS does, minus the network)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chat.cluster import inbound
from chat.cluster import wire as w
from chat.core.broker import InProcess
from chat.core.hub import Hub
from chat.core.remote import RemoteView
from chat.protocol import commands as c
from tests.test_hub import MemorySession

NOTES: list[w.Note] = [
    w.Online("n1", "alice"),
    w.Offline("n1", "alice", "quit"),
    w.Renamed("n1", "alice", "Alicia"),
    w.Joined("n1", "#dev", "#Dev", "alice"),
    w.Parted("n1", "#dev", "alice", "bye"),
    w.Topic("n1", "#dev", "#Dev", "ship it", "alice"),
    w.Said("n1", "#dev", "#Dev", "alice", 'héllo \\ "q"', 1.5, False),
    w.Private("n1", "bob", "alice", "psst", 2.0, True),
    w.Hello("n1"),
    w.State("n1", True, ["alice"], [("#dev", "#Dev", "t", ["alice"])]),
    w.Beat("n1"),
    w.Bye("n1"),
]


@pytest.mark.parametrize("note", NOTES, ids=lambda n: n.kind)
def test_every_note_survives_the_wire(note: w.Note) -> None:
    assert w.decode(w.encode(note)) == note


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff",
        b"{}",
        b"[]",
        b'["nope","n1"]',
        b'["said","n1","#r","#r","a","t",1.0]',  # a field short
        b'["said","n1","#r","#r","a","t","soon",false]',  # ts not a number
        b'["said","n1","#r","#r","a","t",true,false]',  # a bool is not a time
        b'["beat",7]',
        b'["state","n1",true,["a",1],[]]',
        b'["state","n1",true,[],[["#r","#r","t","alice"]]]',
    ],
)
def test_garbage_from_the_broker_is_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        w.decode(data)


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4),
    max_leaves=12,
)


@given(st.sampled_from(sorted({n.kind for n in NOTES})), st.lists(json_values, max_size=9))
def test_decode_never_fails_any_other_way(kind: str, fields: list[Any]) -> None:
    with contextlib.suppress(ValueError):  # the one way it may fail
        w.decode(json.dumps([kind, *fields]).encode())


def test_the_view_follows_a_node_and_forgets_it_in_one_go() -> None:
    view = RemoteView()
    view.online("n1", "Alice", 0.0)
    view.joined("n1", "#dev", "#Dev", "Alice", 0.0)
    view.joined("n2", "#dev", "#Dev", "bob", 0.0)
    assert view.count("#dev") == 2 and view.locate("alice") == ("n1", "Alice")
    assert view.renamed("n1", "Alice", "al", 1.0) == ("#dev",)
    assert view.locate("alice") is None and view.locate("al") == ("n1", "al")
    assert set(view.room("#dev").members.values()) == {"al", "bob"}  # type: ignore[union-attr]
    assert view.silent(now=3.5, ttl=3.0) == ["n2"]  # n1 spoke at 1.0, n2 last at 0.0
    gone = view.drop("n2")
    assert [(g.nick, g.rooms) for g in gone] == []  # bob never said "online": not a nick
    assert view.count("#dev") == 1
    assert view.parted("n1", "#dev", "al", 2.0) and view.room("#dev") is None
    assert not view.parted("n1", "#dev", "al", 2.0)


class Bus:
    """Carries notes between in-memory hubs in publish order, as one NATS subject stream."""

    def __init__(self) -> None:
        self.hubs: dict[str, Hub] = {}
        self.queue: list[w.Note] = []

    def deliver(self) -> None:
        while self.queue:
            note = self.queue.pop(0)
            for node, hub in self.hubs.items():
                if node == note.node and not isinstance(note, w.Private):
                    continue  # no echo
                if isinstance(note, w.Private):
                    found = self.hubs[note.node].broker.view.locate(note.to)
                    if found is None or found[0] != node:
                        continue
                inbound.apply(hub, note, 0.0)


class MemoryBroker(InProcess):
    clustered = True

    def __init__(self, bus: Bus, node: str) -> None:
        super().__init__()
        self.bus, self.node = bus, node
        self.reserved: set[str] = set()

    def publish(self, note: w.Note) -> bool:
        self.bus.queue.append(note)
        return True

    def may_take(self, folded: str) -> bool:
        return True


def cluster() -> tuple[Bus, Hub, Hub]:
    bus = Bus()
    a, b = Hub(broker=MemoryBroker(bus, "a")), Hub(broker=MemoryBroker(bus, "b"))
    bus.hubs = {"a": a, "b": b}
    return bus, a, b


def login(bus: Bus, hub: Hub, nick: str) -> MemorySession:
    s = MemorySession(len(hub.nicks) + 100)
    hub.connect(s)
    hub.handle(s, c.Hello(nick, 1))
    bus.deliver()
    s.events()
    return s


def test_two_hubs_on_a_bus_share_a_room_in_order_without_echo() -> None:
    bus, a, b = cluster()
    alice, bob = login(bus, a, "alice"), login(bus, b, "bob")
    assert [e["nick"] for e in alice.events() if e["type"] == "join"] == ["bob"]
    for i in range(5):
        a.handle(alice, c.Say(f"m{i}"))
    bus.deliver()
    assert [e["text"] for e in bob.events() if e["type"] == "message"] == [
        f"m{i}" for i in range(5)
    ]
    assert [e["text"] for e in alice.events() if e["type"] == "message"] == [
        f"m{i}" for i in range(5)
    ]  # the JSON dialect echoes to the sender once: locally, not back from the bus
    b.handle(bob, c.Who())
    (who,) = [e for e in bob.events() if e["type"] == "who"]
    assert sorted(who["nicks"]) == ["alice", "bob"] and who["total"] == 2


def test_private_messages_renames_topics_and_quits_cross_the_bus() -> None:
    bus, a, b = cluster()
    alice, bob = login(bus, a, "alice"), login(bus, b, "bob")
    alice.events()
    a.handle(alice, c.Msg("BOB", "psst"))
    bus.deliver()
    (pm,) = [e for e in bob.events() if e["type"] == "private"]
    assert (pm["from"], pm["to"], pm["text"]) == ("alice", "bob", "psst")
    b.handle(bob, c.Nick("robert"))
    bus.deliver()
    assert {"type": "nick", "old": "bob", "new": "robert"}.items() <= next(
        e for e in alice.events() if e["type"] == "nick"
    ).items()
    b.handle(bob, c.Topic(None, "ship it"))
    bus.deliver()
    assert any(e["type"] == "topic" and e["topic"] == "ship it" for e in alice.events())
    a.disconnect(alice, "quit", "bye all")
    bus.deliver()
    assert any(e["type"] == "quit" and e["nick"] == "alice" for e in bob.events())
    b.handle(bob, c.Who())
    assert next(e for e in bob.events() if e["type"] == "who")["nicks"] == ["robert"]


def test_a_node_joining_late_learns_everything_from_state_notes() -> None:
    bus, a, _ = cluster()
    for i in range(30):
        login(bus, a, f"n{i}")
    notes = inbound.state(a, "a", chunk=7)
    assert len(notes) > 4 and notes[0].first and not any(n.first for n in notes[1:])
    late = Hub(broker=MemoryBroker(bus, "c"))
    for note in notes:
        inbound.apply(late, w.decode(w.encode(note)), 0.0)
    assert late.broker.view.count("#lobby") == 30
    assert late.broker.view.locate("n29") == ("a", "n29")
