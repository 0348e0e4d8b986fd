"""chat/core/outbox.py: the bounded outbound queue and `fan_out`, without a transport."""

from __future__ import annotations

from chat.core.outbox import Outbox, fan_out


class Box(Outbox):
    """An outbox that records its hooks; `accept` decides what `full` answers."""

    __slots__ = ("accept", "fulls", "make_room", "wakes")

    def __init__(
        self,
        max_messages: int = 100,
        max_bytes: int = 10_000,
        accept: bool = False,
        make_room: bool = False,
    ) -> None:
        super().__init__(max_messages, max_bytes)
        self.accept = accept
        self.make_room = make_room
        self.fulls: list[bytes] = []
        self.wakes = 0

    def wake(self) -> None:
        self.wakes += 1

    def full(self, data: bytes) -> bool:
        self.fulls.append(data)
        if self.make_room:
            self.take()  # what a transport does: hand what is queued to the kernel
        if self.accept:
            self.append(data)
        return self.accept


def test_push_queues_and_take_joins_and_empties() -> None:
    box = Box()
    box.push(b"one\n")
    box.push(b"two\n")
    assert len(box) == 2 and box.nbytes == 8
    assert box.take() == b"one\ntwo\n"
    assert len(box) == 0 and box.nbytes == 0
    assert box.take() == b""


def test_take_of_one_chunk_is_that_very_object() -> None:
    box = Box()
    data = b"x" * 100
    box.push(data)
    assert box.take() is data


def test_fan_out_appends_the_same_bytes_object_to_every_box() -> None:
    boxes = [Box() for _ in range(5)]
    data = b"message %d\n" % 1  # made at run time: a distinct object
    assert fan_out(boxes, data) == 5
    for box in boxes:
        assert len(box) == 1 and box.nbytes == len(data)
        assert box.take() is data  # a reference, not a copy


def test_fan_out_skips_the_one_box_named() -> None:
    boxes = [Box() for _ in range(3)]
    assert fan_out(boxes, b"hi\n", skip=boxes[1]) == 2
    assert [len(b) for b in boxes] == [1, 0, 1]
    assert boxes[1].wakes == 0


def test_fan_out_to_nobody_returns_zero() -> None:
    assert fan_out([], b"x") == 0
    only = Box()
    assert fan_out([only], b"x", skip=only) == 0


def test_wake_only_when_a_box_goes_from_empty_to_non_empty() -> None:
    box = Box()
    box.push(b"a")
    box.push(b"b")
    fan_out([box], b"c")
    assert box.wakes == 1
    box.take()
    fan_out([box], b"d")
    box.push(b"e")
    assert box.wakes == 2


def test_the_message_bound_calls_full_and_queues_nothing_when_refused() -> None:
    box = Box(max_messages=2)
    box.push(b"1")
    box.push(b"2")
    box.push(b"3")
    assert box.fulls == [b"3"]
    assert len(box) == 2 and box.take() == b"12"


def test_the_byte_bound_is_inclusive_and_calls_full_past_it() -> None:
    box = Box(max_bytes=10)
    box.push(b"12345")
    box.push(b"67890")  # exactly 10: fits
    assert box.fulls == [] and box.nbytes == 10
    box.push(b"!")  # 11: past the bound
    assert box.fulls == [b"!"] and box.nbytes == 10


def test_one_message_larger_than_the_byte_bound_goes_to_full_even_when_empty() -> None:
    box = Box(max_bytes=4)
    box.push(b"12345")
    assert box.fulls == [b"12345"] and len(box) == 0 and box.wakes == 0


def test_fan_out_counts_boxes_whose_full_accepted() -> None:
    roomy = Box()
    refusing = Box(max_messages=1)
    accepting = Box(max_messages=1, accept=True)
    refusing.push(b"old")
    accepting.push(b"old")
    data = b"new"
    assert fan_out([roomy, refusing, accepting], data) == 2  # roomy + accepting
    assert refusing.fulls == [data] and accepting.fulls == [data] and roomy.fulls == []
    assert refusing.take() == b"old"
    assert accepting.take() == b"oldnew"  # appended past the bound by `full`
    assert roomy.take() is data


def test_full_that_makes_room_then_appends_wakes_the_box_again() -> None:
    box = Box(max_messages=1, accept=True, make_room=True)
    box.push(b"a")
    assert box.wakes == 1
    box.push(b"b")  # full: `take` empties it, `append` makes it non-empty again
    assert box.fulls == [b"b"] and box.wakes == 2
    assert box.take() == b"b"


def test_seal_sends_every_later_push_to_full() -> None:
    box = Box()
    box.push(b"before")
    box.seal()
    box.push(b"after")
    assert fan_out([box], b"fanned") == 0
    assert box.fulls == [b"after", b"fanned"]
    assert box.take() == b"before"
    box.push(b"still")  # empty again, but sealed
    assert box.fulls[-1] == b"still" and len(box) == 0


def test_append_goes_past_both_bounds_and_counts_bytes() -> None:
    box = Box(max_messages=1, max_bytes=2)
    box.append(b"abc")
    box.append(b"defg")
    assert len(box) == 2 and box.nbytes == 7 and box.fulls == []
    assert box.wakes == 1  # only the first append found it empty
    assert box.take() == b"abcdefg"


def test_the_default_full_refuses() -> None:
    plain = Outbox(max_messages=1, max_bytes=100)
    assert fan_out([plain], b"a") == 1
    assert fan_out([plain], b"b") == 0
    assert plain.take() == b"a"


def test_fan_out_accepts_a_dict_of_boxes_in_order() -> None:
    boxes = {Box(): None for _ in range(3)}
    assert fan_out(boxes, b"z") == 3
    assert all(b.take() == b"z" for b in boxes)
