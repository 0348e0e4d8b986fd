"""Cluster history without NATS: a store filled with offsets numbered elsewhere, the batch
wire format (an untrusted-input boundary), and the hub's seam (`Broker.sequence`) with a
fake sequencer that numbers lines as the stream would."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chat.cluster import histwire as hw
from chat.cluster import inbound, wire
from chat.core.broker import InProcess
from chat.core.history import FIRST_EPOCH, Entry, MemoryHistory
from chat.core.hub import Hub, Limits
from chat.core.rooms import Room
from chat.core.session import Session
from chat.protocol import commands as c
from chat.protocol.errors import ROOM_BUSY, ProtocolError
from tests.test_hub import MemorySession, login


def entry(offset: int, text: str = "x") -> Entry:
    return Entry(offset, "alice", text, 1.0 + offset, False)


def offsets(entries: list[Entry]) -> list[int]:
    return [m.offset for m in entries]


# --- the store, filled by the stream ------------------------------------------------------------
def test_put_keeps_offsets_as_numbered_and_refuses_a_duplicate() -> None:
    h = MemoryHistory(size=100)
    assert h.position("#r") == (h.position("#r")[0], 0)
    for i in range(1, 6):
        assert h.put("#r", "E", entry(i))
    assert not h.put("#r", "E", entry(3))  # held already: never twice
    assert h.position("#r") == ("E", 5)
    assert h.since("#r", "E", 2, 100) == ([entry(3), entry(4), entry(5)], True)


def test_a_hole_drops_what_came_before_it_and_a_resume_across_it_is_not_recovered() -> None:
    h = MemoryHistory(size=100)
    for i in (1, 2, 3):
        h.put("#r", "E", entry(i))
    h.put("#r", "E", entry(7))  # 4..6 never came here
    assert h.page("#r", limit=10) == [entry(7)]
    assert h.since("#r", "E", 2, 100) == ([entry(7)], False)
    assert h.since("#r", "E", 6, 100) == ([entry(7)], True)


def test_a_new_epoch_replaces_the_room_and_stale_age_records_evict_nothing_new() -> None:
    h = MemoryHistory(size=100, max_bytes=10_000)
    for i in range(1, 11):
        h.put("#r", "OLD", entry(i))
    for i in range(1, 4):
        h.put("#r", "NEW", entry(i))
    assert h.position("#r") == ("NEW", 3) and h.stored == 3
    h.max_bytes = 3 * entry(1).weight  # the next put must evict exactly the oldest NEW one
    h.put("#r", "NEW", entry(4))
    assert offsets(h.page("#r", limit=10)) == [2, 3, 4]


def test_a_client_that_saw_nothing_before_the_first_epoch_recovers_from_offset_1() -> None:
    h = MemoryHistory(size=3, new_epoch=lambda: FIRST_EPOCH)
    assert h.position("#r") == (FIRST_EPOCH, 0)  # what a join says before any message
    for i in (1, 2, 3):
        h.put("#r", "E", entry(i))
    assert h.since("#r", FIRST_EPOCH, 0, 100) == ([entry(1), entry(2), entry(3)], True)
    h.put("#r", "E", entry(4))  # offset 1 is gone now: not everything is held
    assert h.since("#r", FIRST_EPOCH, 0, 100)[1] is False


# --- the batch wire -------------------------------------------------------------------------------
LINES = (hw.Line("alice", 'hé \\ "q"', 1.5, False), hw.Line("bob", "waves", 2.0, True))
BATCH = hw.Batch("n1", 7, "#dev", "#Dev", "abc123", 41, LINES)


def test_a_batch_survives_the_wire() -> None:
    assert hw.decode(hw.encode(BATCH)) == BATCH
    assert BATCH.last == 42
    assert hw.subject("#dev") == "chat.hist." + b"#dev".hex()


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff",
        b"[]",
        b'["said","n1",1,"#r","#r","e",1,[["a","t",1.0,false]]]',
        b'["hist","n 1",1,"#r","#r","e",1,[["a","t",1.0,false]]]',  # a node id with a space
        b'["hist","n1",1,"#x","#r","e",1,[["a","t",1.0,false]]]',  # key is not fold(name)
        b'["hist","n1",1,"#r","#r","e.f",1,[["a","t",1.0,false]]]',  # not an epoch
        b'["hist","n1",0,"#r","#r","e",1,[["a","t",1.0,false]]]',  # batch 0
        b'["hist","n1",1,"#r","#r","e",0,[["a","t",1.0,false]]]',  # offset 0
        b'["hist","n1",1,"#r","#r","e",true,[["a","t",1.0,false]]]',  # a bool is not an int
        b'["hist","n1",1,"#r","#r","e",1,[]]',  # no line
        b'["hist","n1",1,"#r","#r","e",1,[["a","t",1.0]]]',  # a line short
        b'["hist","n1",1,"#r","#r","e",1,[["a b","t",1.0,false]]]',  # not a nick
        b'["hist","n1",1,"#r","#r","e",1,[["a","\\ud800",1.0,false]]]',  # a lone surrogate
        b'["hist","n1",1,"#r","#r","e",1,[["a","t",1e300,false]]]',  # not a time
        b"[" * 100_000,
    ],
)
def test_garbage_on_the_stream_is_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        hw.decode(data)


@given(st.binary(max_size=300))
def test_any_bytes_decode_or_raise_value_error(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        hw.decode(data)


def test_too_many_lines_is_a_value_error() -> None:
    lines = [["a", "t", 1.0, False]] * (hw.MAX_LINES + 1)
    data = wire._DUMPS(["hist", "n1", 1, "#r", "#r", "e", 1, lines]).encode()
    with pytest.raises(ValueError):
        hw.decode(data)


# --- the hub's seam -------------------------------------------------------------------------------
class FakeStream(InProcess):
    """Numbers lines as the stream would, and hands them back when told (`release`)."""

    clustered = True
    numbers = True

    def __init__(self) -> None:
        super().__init__()
        self.node = "me"
        self.link_up = True
        self.history_current = True
        self.waiting: list[tuple[Session, Room, str, float, bool]] = []
        self.last: dict[str, int] = {}

    def sequence(self, sender: Session, room: Room, text: str, ts: float, action: bool) -> bool:
        if not self.link_up:
            return False
        if len(self.waiting) >= 3:
            raise ProtocolError(ROOM_BUSY, "too many")
        self.waiting.append((sender, room, text, ts, action))
        return True

    def may_take(self, folded: str) -> bool:
        return True

    def number(self, hub: Hub, node: str = "me") -> None:
        for sender, room, text, ts, action in self.waiting:
            first = self.last.get(room.folded, 0) + 1
            self.last[room.folded] = first
            line = hw.Line(sender.nick or "", text, ts, action)
            batch = hw.Batch(node, first, room.folded, room.name, "EP", first, (line,))
            inbound.sequenced(hub, batch, [sender] if node == "me" else None)
        self.waiting.clear()


def messages(s: MemorySession) -> list[dict[str, Any]]:
    return [ev for ev in s.events() if ev["type"] == "message"]


def test_a_line_is_delivered_once_when_the_stream_has_numbered_it() -> None:
    broker = FakeStream()
    hub = Hub(Limits(), broker=broker)
    alice, bob = login(hub, "alice"), login(hub, "bob")
    bob.events()
    joined = [ev for ev in alice.events() if ev["type"] == "join"]
    assert hub.history is not None and hub.history.position("#lobby") == (FIRST_EPOCH, 0)
    hub.handle(alice, c.Say("hi"))
    assert messages(bob) == [] and messages(alice) == []  # not before it is numbered
    broker.number(hub)
    for s in (alice, bob):
        [m] = messages(s)
        assert (m["text"], m["offset"], m["epoch"]) == ("hi", 1, "EP")
    broker.number(hub)  # the stream delivers nothing twice; a repeat of offset 1 neither:
    inbound.sequenced(hub, hw.Batch("me", 1, "#lobby", "#lobby", "EP", 1,
                      (hw.Line("alice", "hi", 1.0, False),)), None)  # fmt: skip
    assert messages(bob) == []
    assert joined and hub.stats.messages_received == 1


def test_with_the_link_down_a_line_reaches_this_nodes_members_unnumbered() -> None:
    broker = FakeStream()
    hub = Hub(Limits(), broker=broker)
    alice, bob = login(hub, "alice"), login(hub, "bob")
    bob.events()
    broker.link_up = False
    hub.handle(alice, c.Say("local only"))
    [m] = messages(bob)
    assert m["text"] == "local only" and "offset" not in m
    assert hub.history is not None and hub.history.position("#lobby")[1] == 0


def test_too_many_lines_waiting_is_an_error_to_the_sender() -> None:
    broker = FakeStream()
    hub = Hub(Limits(), broker=broker)
    alice = login(hub, "alice")
    for i in range(4):
        hub.handle(alice, c.Say(f"l{i}"))
    [err] = [ev for ev in alice.events() if ev["type"] == "error"]
    assert err["code"] == ROOM_BUSY


def test_a_resume_on_a_node_that_lags_the_stream_is_not_recovered() -> None:
    broker = FakeStream()
    hub = Hub(Limits(), broker=broker)
    alice = login(hub, "alice")
    hub.handle(alice, c.Say("one"))
    broker.number(hub)
    alice.events()
    broker.history_current = False
    hub.handle(alice, c.Join("#lobby", since=("EP", 1)))
    [joined] = [ev for ev in alice.events() if ev["type"] == "join"]
    assert joined["recovered"] is False
    assert hub.history is not None and hub.history.not_recovered == 1
    broker.history_current = True
    hub.handle(alice, c.Join("#lobby", since=("EP", 0)))
    evs = alice.events()
    assert [ev["text"] for ev in evs if ev["type"] == "message"] == ["one"]
    assert [ev["recovered"] for ev in evs if ev["type"] == "join"] == [True]


@given(
    st.lists(
        st.tuples(st.sampled_from(["alice", "bob", "A-b"]), st.text(max_size=40), st.booleans()),
        min_size=1,
        max_size=5,
    ),
    st.integers(1, 2**40),
)
def test_any_text_that_decodes_is_stored_and_delivered_as_something_that_encodes(
    lines: list[tuple[str, str, bool]], first: int
) -> None:
    """Whatever text a batch on the stream carries, what decodes is clean: storing and
    delivering it cannot fail, and every dialect can encode it."""
    raw = [[nick, text, 1.0, action] for nick, text, action in lines]
    data = wire._DUMPS(["hist", "n1", 1, "#r", "#r", "e", first, raw]).encode()
    try:
        batch = hw.decode(data)
    except ValueError:
        return  # e.g. a lone surrogate: refused at the boundary
    hub = Hub(Limits(), broker=FakeStream())
    bob = login(hub, "bob")
    hub.handle(bob, c.Join("#r"))
    bob.events()
    assert inbound.sequenced(hub, batch, None)
    got = messages(bob)
    assert [m["offset"] for m in got] == list(range(first, first + len(lines)))
