"""Rooms (`chat/core/rooms.py`: Room, fanout) and `chat/core/roomindex.py` in memory."""

from __future__ import annotations

from itertools import pairwise

import pytest

from chat.core.roomindex import SizeIndex
from chat.core.rooms import Room, deliver
from chat.core.session import Session
from chat.protocol import events as e
from chat.protocol.commands import Command


class FakeCodec:
    """A dialect that counts its encodes; its bytes name the dialect and the event."""

    def __init__(self, name: str, echo: bool) -> None:
        self.name = name
        self.echo = echo
        self.encoded: list[e.Event] = []

    def decode(self, line: bytes) -> Command | None:
        raise AssertionError("rooms never decode")

    def encode(self, event: e.Event) -> bytes:
        self.encoded.append(event)
        return f"{self.name}:{type(event).__name__}\n".encode()


class Member(Session):
    def __init__(self, conn_id: int, codec: FakeCodec, max_messages: int = 100) -> None:
        super().__init__(conn_id, f"peer{conn_id}", max_messages, 10_000)
        self.codec = codec
        self.nick = f"n{conn_id}"

    def received(self) -> list[bytes]:
        return self.take().splitlines() if len(self) else []


EV = e.Notice("hello")


@pytest.fixture
def echo() -> FakeCodec:
    return FakeCodec("echo", echo=True)


@pytest.fixture
def quiet() -> FakeCodec:
    return FakeCodec("quiet", echo=False)


def test_add_remove_size_and_contains(echo: FakeCodec, quiet: FakeCodec) -> None:
    room = Room("#Py", "#py")
    assert (room.name, room.folded, room.size, len(room)) == ("#Py", "#py", 0, 0)
    a, b, c = Member(1, echo), Member(2, quiet), Member(3, echo)
    room.add(a)
    room.add(b)
    assert a in room and b in room and c not in room
    assert room.size == 2 and len(room) == 2
    room.remove(a)
    assert a not in room and b in room and len(room) == 1
    room.remove(b)
    assert len(room) == 0 and room.groups == {} and room.members() == []


def test_an_emptied_dialect_group_is_dropped(echo: FakeCodec, quiet: FakeCodec) -> None:
    room = Room("#r", "#r")
    a, b = Member(1, echo), Member(2, quiet)
    room.add(a)
    room.add(b)
    assert set(room.groups) == {echo, quiet}
    room.remove(b)
    assert set(room.groups) == {echo}
    room.broadcast(EV)
    assert quiet.encoded == []  # no encoding for a dialect nobody in the room speaks


def test_members_are_in_join_order_across_dialects(echo: FakeCodec, quiet: FakeCodec) -> None:
    room = Room("#r", "#r")
    people = [Member(i, echo if i % 2 else quiet) for i in range(6)]
    for p in people:
        room.add(p)
    assert room.members() == people
    room.remove(people[2])
    room.add(people[2])  # a rejoin goes to the end
    assert room.members() == [*people[:2], *people[3:], people[2]]


def test_regroup_moves_a_member_to_its_new_dialect_keeping_its_place(
    echo: FakeCodec, quiet: FakeCodec
) -> None:
    room = Room("#r", "#r")
    a, b, c = Member(1, quiet), Member(2, quiet), Member(3, quiet)
    for m in (a, b, c):
        room.add(m)
    b.codec = echo
    room.regroup(b, quiet)
    assert b in room and room.members() == [a, b, c] and len(room) == 3
    assert list(room.groups[echo]) == [b] and list(room.groups[quiet]) == [a, c]
    a.codec = echo
    room.regroup(a, quiet)
    c.codec = echo
    room.regroup(c, quiet)
    assert set(room.groups) == {echo}


def test_broadcast_encodes_once_per_dialect_present(echo: FakeCodec, quiet: FakeCodec) -> None:
    room = Room("#r", "#r")
    people = [Member(i, echo if i < 7 else quiet) for i in range(10)]
    for p in people:
        room.add(p)
    assert room.broadcast(EV) == 10
    assert echo.encoded == [EV] and quiet.encoded == [EV]
    assert [p.received() for p in people] == [[b"echo:Notice"]] * 7 + [[b"quiet:Notice"]] * 3


def test_broadcast_hands_every_member_of_a_dialect_the_same_bytes(echo: FakeCodec) -> None:
    room = Room("#r", "#r")
    people = [Member(i, echo) for i in range(3)]
    for p in people:
        room.add(p)
    room.broadcast(EV)
    chunks = [p.take() for p in people]
    assert chunks[0] is chunks[1] is chunks[2]


def test_the_sender_is_skipped_only_in_dialects_without_echo(
    echo: FakeCodec, quiet: FakeCodec
) -> None:
    room = Room("#r", "#r")
    loud_sender, loud_other = Member(1, echo), Member(2, echo)
    quiet_sender, quiet_other = Member(3, quiet), Member(4, quiet)
    for m in (loud_sender, loud_other, quiet_sender, quiet_other):
        room.add(m)
    assert room.broadcast(EV, sender=quiet_sender) == 3
    assert quiet_sender.received() == [] and quiet_other.received() == [b"quiet:Notice"]
    assert loud_sender.received() == [b"echo:Notice"]
    assert room.broadcast(EV, sender=loud_sender) == 4  # an echo dialect gets its own back
    assert loud_sender.received() == [b"echo:Notice"]


def test_broadcast_to_an_empty_room_encodes_nothing(echo: FakeCodec) -> None:
    assert Room("#r", "#r").broadcast(EV) == 0
    assert echo.encoded == []


def test_broadcast_counts_only_deliveries_and_marks_the_overflowing(echo: FakeCodec) -> None:
    room = Room("#r", "#r")
    ok, full = Member(1, echo), Member(2, echo, max_messages=1)
    room.add(ok)
    room.add(full)
    assert room.broadcast(EV) == 2
    assert room.broadcast(EV) == 1  # `full` passes its bound: not delivered
    assert full.closing and not ok.closing
    assert full in room  # the room is not changed by a broadcast
    assert len(ok.received()) == 2 and len(full.received()) == 1


def test_fanout_encodes_once_per_dialect_and_sends_to_each(
    echo: FakeCodec, quiet: FakeCodec
) -> None:
    people = [Member(i, (echo, quiet)[i % 2]) for i in range(9)]
    assert deliver(people, EV) == 9
    assert echo.encoded == [EV] and quiet.encoded == [EV]
    assert [p.received() for p in people] == [
        [b"echo:Notice"] if i % 2 == 0 else [b"quiet:Notice"] for i in range(9)
    ]


def test_fanout_skips_nobody_and_accepts_a_dict(echo: FakeCodec, quiet: FakeCodec) -> None:
    sender = Member(1, quiet)  # no echo, yet fanout is for explicit sets: it is included
    targets = {sender: None, Member(2, echo): None}
    assert deliver(targets, EV) == 2
    assert sender.received() == [b"quiet:Notice"]
    assert deliver([], EV) == 0
    assert len(echo.encoded) == 1 and len(quiet.encoded) == 1


# --- SizeIndex ----------------------------------------------------------------------------


def test_size_index_lists_largest_first() -> None:
    index = SizeIndex()
    for key, size in {"#a": 3, "#b": 10, "#c": 1, "#d": 7}.items():
        index.set(key, size)
    assert list(index.largest()) == [("#b", 10), ("#d", 7), ("#a", 3), ("#c", 1)]
    assert len(index) == 4 and "#a" in index and "#z" not in index


def test_size_index_ties_keep_the_order_they_reached_that_size() -> None:
    index = SizeIndex()
    index.set("#x", 2)
    index.set("#y", 2)
    index.set("#z", 1)
    index.set("#z", 2)  # reached 2 last
    assert list(index.largest()) == [("#x", 2), ("#y", 2), ("#z", 2)]
    index.set("#x", 3)
    index.set("#x", 2)  # left and came back: now the last of the 2s
    assert list(index.largest()) == [("#y", 2), ("#z", 2), ("#x", 2)]


def test_size_index_moves_a_key_between_sizes() -> None:
    index = SizeIndex()
    index.set("#a", 1)
    index.set("#b", 2)
    index.set("#a", 5)
    assert list(index.largest()) == [("#a", 5), ("#b", 2)]
    index.set("#a", 5)  # unchanged: no effect
    assert list(index.largest()) == [("#a", 5), ("#b", 2)] and len(index) == 2


def test_size_index_size_zero_removes() -> None:
    index = SizeIndex()
    index.set("#a", 4)
    index.set("#b", 4)
    index.set("#a", 0)
    assert "#a" not in index and len(index) == 1
    assert list(index.largest()) == [("#b", 4)]
    index.set("#b", 0)
    assert len(index) == 0 and list(index.largest()) == []
    index.set("#never", 0)  # removing what is not there is a no-op
    assert len(index) == 0 and "#never" not in index


def test_size_index_stays_sorted_under_many_moves() -> None:
    index = SizeIndex()
    sizes: dict[str, int] = {}
    for step in range(400):
        key = f"#r{step * 7 % 23}"
        size = (step * 13) % 9  # includes zeros: removals
        index.set(key, size)
        if size:
            sizes[key] = size
        else:
            sizes.pop(key, None)
    listed = list(index.largest())
    assert dict(listed) == sizes and len(listed) == len(sizes) == len(index)
    assert all(a[1] >= b[1] for a, b in pairwise(listed))
