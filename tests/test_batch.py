"""chat/core/outbox.py's `Batch`: a room's messages of one loop pass are queued together, and
every client's output is byte for byte what it is without batching (sans-I/O, no sockets)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chat.core.hub import Hub, Limits
from chat.core.outbox import BATCH, BATCH_BYTES, Outbox, fan_out
from chat.core.session import Session
from chat.protocol import commands as c
from chat.protocol.codec import Codec
from chat.protocol.irc import codec_for
from chat.protocol.jsonl import JSON
from chat.protocol.text import TEXT


class Box(Outbox):
    __slots__ = ("fulls", "wakes")

    def __init__(self, max_messages: int = 1000, max_bytes: int = 10**6) -> None:
        super().__init__(max_messages, max_bytes)
        self.wakes = 0
        self.fulls: list[bytes] = []

    def wake(self) -> None:
        self.wakes += 1

    def full(self, data: bytes) -> bool:
        self.fulls.append(data)
        return False


class Soon:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


def test_a_rooms_lines_wait_and_reach_each_member_as_one_chunk() -> None:
    boxes = {Box(): None for _ in range(3)}
    room, soon = object(), Soon()
    for i in range(5):
        BATCH.add(room, boxes, b"line %d\n" % i, None, soon)
    assert soon.calls == 1  # one settle arranged for the batch, not one per line
    assert all(len(box) == 0 and box.wakes == 0 for box in boxes)  # nothing queued yet
    BATCH.settle()
    expected = b"".join(b"line %d\n" % i for i in range(5))
    for box in boxes:
        assert len(box) == 1 and box.nbytes == len(expected) and box.wakes == 1
        assert box.take() == expected
    assert BATCH.owner is None


def test_any_other_push_queues_the_waiting_batch_first() -> None:
    a, b = Box(), Box()
    group = {a: None, b: None}
    BATCH.add(object(), group, b"room\n", None, Soon())
    a.push(b"private\n")  # a reply, a private message: after what the room said before it
    assert a.take() == b"room\nprivate\n"
    assert b.take() == b"room\n"


def test_another_rooms_line_queues_the_first_rooms_batch_first() -> None:
    a = Box()
    first, second = {a: None}, {a: None}
    soon = Soon()
    BATCH.add("first", first, b"1\n", None, soon)
    BATCH.add("second", second, b"2\n", None, soon)
    BATCH.add("first", first, b"3\n", None, soon)
    assert soon.calls == 3
    BATCH.settle()
    assert a.take() == b"1\n2\n3\n"


def test_a_change_of_skipped_sender_starts_a_run_and_each_member_misses_only_its_own() -> None:
    a, b, c_ = Box(), Box(), Box()
    group = {a: None, b: None, c_: None}
    room, soon = object(), Soon()
    BATCH.add(room, group, b"a1\n", a, soon)
    BATCH.add(room, group, b"a2\n", a, soon)
    BATCH.add(room, group, b"b1\n", b, soon)
    BATCH.add(room, group, b"a3\n", a, soon)
    assert len(BATCH.runs) == 3
    BATCH.settle()
    assert a.take() == b"b1\n"
    assert b.take() == b"a1\na2\na3\n"
    assert c_.take() == b"a1\na2\nb1\na3\n"


def test_a_batch_is_bounded_in_bytes() -> None:
    box = Box(max_bytes=10 * BATCH_BYTES)
    line = b"x" * 1000 + b"\n"
    room, group = object(), {box: None}
    for _ in range(BATCH_BYTES // len(line) + 1):
        BATCH.add(room, group, line, None, Soon())
    assert BATCH.size < BATCH_BYTES  # it was queued on reaching the bound; a new one started
    assert len(box) == 1 and box.nbytes >= BATCH_BYTES
    BATCH.settle()


def test_bounds_are_checked_on_the_whole_batch_and_a_refusal_loses_nothing_for_others() -> None:
    small, big = Box(max_bytes=50), Box()
    group = {small: None, big: None}
    for i in range(10):
        BATCH.add("room", group, b"message %d\n" % i, None, Soon())
    BATCH.settle()
    assert len(small.fulls) == 1 and len(small) == 0  # refused (a transport would cut it)
    assert big.take() == b"".join(b"message %d\n" % i for i in range(10))


def test_sealing_or_taking_an_outbox_queues_the_batch_first() -> None:
    a, b = Box(), Box()
    BATCH.add("room", {a: None, b: None}, b"last words\n", None, Soon())
    a.seal()
    assert a.take() == b"last words\n"  # it was a member when it was said
    assert fan_out([b], b"next\n") == 1
    assert b.take() == b"last words\nnext\n"


# --- the hub: the same output with and without batching ------------------------------------------
class Member(Session):
    def overflow(self) -> None:
        self.closing = True

    def close(self, reason: str) -> None:
        self.closing = True


CODECS: tuple[Codec, ...] = (JSON, TEXT, codec_for(False, False))  # two members each
ROOMS = ("#a", "#b", "#lobby")
steps = st.lists(
    st.tuples(
        st.integers(0, 5),  # who
        st.sampled_from(["say", "say", "say", "me", "msg", "join", "part", "nick", "topic", "who"]),
        st.integers(0, 2),  # a room, a nick
        st.sampled_from([False, False, False, True]),  # the pass ends here: the flusher settles
    ),
    max_size=80,
)


def make(what: str, who: int, k: int) -> c.Command:
    room = ROOMS[k]
    if what == "say":
        return c.Say(f"line {who}")  # to the current room: rarely an error
    if what == "me":
        return c.Me("waves", room)
    if what == "msg":
        return c.Msg(f"p{(who + k) % 6}", "psst")
    if what == "join":
        return c.Join(room)
    if what == "part":
        return c.Part(room)
    if what == "nick":
        return c.Nick(f"p{who}" if k else f"q{who}")
    if what == "topic":
        return c.Topic(room, f"topic {who}")
    return c.Who(room)


def run(script: list[tuple[int, str, int, bool]], batching: bool) -> list[bytes]:
    ticks = iter(range(10**6))
    hub = Hub(Limits(room_create_rate=0), clock=lambda: 1e9 + next(ticks))
    assert hub.history is not None
    hub.history.new_epoch = lambda: "epoch"  # random otherwise
    if batching:
        hub.soon = lambda: None
    people = [Member(i + 1, "memory", 10**6, 10**8) for i in range(6)]
    out: list[list[bytes]] = [[] for _ in people]
    for i, s in enumerate(people):
        s.codec = CODECS[i % len(CODECS)]
        hub.connect(s)
        hub.handle(s, c.Hello(f"p{i}", 1))
    for who, what, k, ends_pass in script:
        s = people[who]
        command = make(what, who, k)
        hub.handle(s, command)
        if ends_pass:
            BATCH.settle()
            for i, p in enumerate(people):
                out[i].append(p.take())
    BATCH.settle()
    return [b"".join(chunks) + p.take() for chunks, p in zip(out, people, strict=True)]


@settings(max_examples=300, deadline=None)
@given(steps)
def test_every_clients_output_is_the_same_with_and_without_batching(
    script: list[tuple[int, str, int, bool]],
) -> None:
    assert run(script, batching=True) == run(script, batching=False)


def test_a_member_joining_or_leaving_mid_batch_gets_exactly_what_was_said_while_in() -> None:
    script = [
        (0, "join", 0, False),  # p0 into #a, its current room
        (0, "say", 0, False),  # waits in #a's batch
        (3, "join", 0, False),  # p3 (JSON, as p0) joins: not for p3
        (0, "say", 0, False),
        (3, "part", 0, False),  # p3 leaves: it gets p0's second line and its own part
        (0, "say", 0, False),
    ]
    batched = run(script, batching=True)
    assert batched == run(script, batching=False)
    assert batched[3].count(b'"text":"line 0"') == 1


def test_a_busy_pass_in_one_room_is_one_chunk_per_member() -> None:
    hub = Hub(Limits(room_create_rate=0), clock=lambda: 1e9)
    soon = Soon()
    hub.soon = soon
    people = [Member(i + 1, "memory", 10**4, 10**7) for i in range(4)]
    for i, s in enumerate(people):
        s.codec = JSON
        hub.connect(s)
        hub.handle(s, c.Hello(f"p{i}", 1))
    BATCH.settle()
    for s in people:
        s.take()
    soon.calls = 0
    for n in range(50):
        hub.handle(people[n % 4], c.Say(f"line {n}"))
    assert soon.calls == 1
    BATCH.settle()
    for s in people:
        assert len(s) == 1 and s.take().count(b"\n") == 50
