"""`chat.cluster.histstream` against a fake JetStream that enforces what the real one does
(`Nats-Expected-Last-Subject-Sequence`, one stream order delivered to every consumer): two
nodes racing for one room's offsets, a lost ack, and a link that drops mid-flight. In
memory, so each race is certain to happen, not just likely (tests/test_cluster_history.py
runs the same against a real nats-server)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from nats.js.api import Header
from nats.js.errors import BadRequestError, NotFoundError

from chat.cluster import histstream
from chat.cluster.histstream import HistoryStream
from chat.core.broker import InProcess
from chat.core.hub import Hub, Limits
from chat.core.rooms import Room
from chat.core.session import Session
from chat.protocol import commands as c
from tests.test_hub import MemorySession, login


class FakeJetStream:
    """One stream: stores a publish only if the subject's last sequence is the expected one,
    and delivers every stored message, in order, to every node's consumer."""

    def __init__(self) -> None:
        self.msgs: list[tuple[int, str, bytes]] = []
        self.consumers: list[asyncio.Queue[tuple[int, str, bytes]]] = []
        self.lose_next_ack = False
        self.changed = asyncio.Event()  # set on every publish stored and message delivered

    def last(self, subject: str) -> tuple[int, str, bytes] | None:
        return next((m for m in reversed(self.msgs) if m[1] == subject), None)

    async def publish(
        self, subject: str, payload: bytes, timeout: float, stream: str, headers: dict[str, str]
    ) -> Any:
        await asyncio.sleep(0)  # another node's publish may come first
        found = self.last(subject)
        expected = int(headers[Header.EXPECTED_LAST_SUBJECT_SEQUENCE.value])
        if expected != (found[0] if found else 0):
            raise BadRequestError(code=400, err_code=10071, description="wrong last sequence")
        seq = len(self.msgs) + 1
        self.msgs.append((seq, subject, payload))
        for queue in self.consumers:
            queue.put_nowait(self.msgs[-1])
        self.changed.set()
        if self.lose_next_ack:
            self.lose_next_ack = False
            raise TimeoutError
        return SimpleNamespace(seq=seq)

    async def get_last_msg(self, stream: str, subject: str, direct: bool) -> Any:
        found = self.last(subject)
        if found is None:
            raise NotFoundError
        return SimpleNamespace(seq=found[0], data=found[2])


class Node(InProcess):
    """A hub whose broker is a `HistoryStream` on the fake JetStream."""

    clustered = True
    numbers = True

    def __init__(self, js: FakeJetStream, name: str) -> None:
        super().__init__()
        self.node = name
        self.hub = Hub(Limits(), broker=self)
        nc: Any = SimpleNamespace(jetstream=lambda timeout: js)
        self.js = js
        self.stream = HistoryStream(nc, self.hub, name, 500, 10**7)
        self.stream.link_up = True
        self.queue: asyncio.Queue[tuple[int, str, bytes]] = asyncio.Queue()
        js.consumers.append(self.queue)
        self.go = asyncio.Event()  # cleared: this node's consumer holds back what comes
        self.go.set()
        self.task = asyncio.create_task(self._consume())

    async def _consume(self) -> None:
        while True:
            seq, subject, data = await self.queue.get()
            await self.go.wait()
            meta = SimpleNamespace(sequence=SimpleNamespace(stream=seq))
            msg: Any = SimpleNamespace(metadata=meta, subject=subject, data=data)
            await self.stream._on_msg(msg)
            self.js.changed.set()

    def sequence(self, sender: Session, room: Room, text: str, ts: float, action: bool) -> bool:
        return self.stream.take(sender, room, text, ts, action)

    def may_take(self, folded: str) -> bool:
        return True

    def position(self) -> int:
        assert self.hub.history is not None
        return self.hub.history.position("#lobby")[1]


async def until(js: FakeJetStream, done: Callable[[], bool]) -> None:
    """Wait (bounded) until `done()`, re-checked whenever the fake stream changes."""
    async with asyncio.timeout(10):
        while not done():
            js.changed.clear()
            await js.changed.wait()


async def settle(js: FakeJetStream, *nodes: Node, last: int) -> None:
    """Until every node has delivered the room's offsets up to `last`."""
    await until(js, lambda: all(n.position() >= last for n in nodes))


def lines(s: MemorySession) -> list[tuple[Any, ...]]:
    return [(m.get("offset"), m["nick"], m["text"]) for m in s.events() if m["type"] == "message"]


async def test_two_nodes_racing_for_one_room_agree_on_every_offset() -> None:
    js = FakeJetStream()
    a, b = Node(js, "a"), Node(js, "b")
    alice, bob = login(a.hub, "alice"), login(b.hub, "bob")
    for i in range(60):  # interleaved: each publish of one races the other's
        a.hub.handle(alice, c.Say(f"a{i}"))
        b.hub.handle(bob, c.Say(f"b{i}"))
        if i % 7 == 0:
            await asyncio.sleep(0)
    await settle(js, a, b, last=120)
    on_a, on_b = lines(alice), lines(bob)
    assert on_a == on_b
    assert [m[0] for m in on_a] == list(range(1, 121))
    assert [m[2] for m in on_a if m[1] == "alice"] == [f"a{i}" for i in range(60)]
    assert a.stream.retries + b.stream.retries > 0  # the races happened, and were lost cleanly
    assert len(js.msgs) < 120  # lines that waited went together, in batches
    assert a.hub.history is not None and a.hub.history.retries == a.stream.retries
    for node in (a, b):
        node.task.cancel()


async def test_a_lost_ack_is_not_a_second_copy() -> None:
    js = FakeJetStream()
    a, b = Node(js, "a"), Node(js, "b")
    alice, bob = login(a.hub, "alice"), login(b.hub, "bob")
    js.lose_next_ack = True  # stored, but the publisher hears nothing
    a.hub.handle(alice, c.Say("once"))
    await settle(js, a, b, last=1)
    a.hub.handle(alice, c.Say("twice"))
    await settle(js, a, b, last=2)
    assert len(js.msgs) == 2  # the retry found its batch stored: no second copy
    assert lines(alice) == lines(bob) == [(1, "alice", "once"), (2, "alice", "twice")]
    for node in (a, b):
        node.task.cancel()


async def test_the_link_dropping_delivers_what_waits_here_unnumbered_and_never_twice() -> None:
    js = FakeJetStream()
    a, b = Node(js, "a"), Node(js, "b")
    alice, dave, bob = login(a.hub, "alice"), login(a.hub, "dave"), login(b.hub, "bob")
    a.go.clear()
    a.hub.handle(alice, c.Say("x"))
    await until(js, lambda: bool(js.msgs))  # "x" is stored; node a has not delivered it yet
    for text in ("y", "z"):
        a.hub.handle(alice, c.Say(text))  # these wait behind "x"
    a.stream.link_lost()
    a.go.set()
    assert lines(dave) == [(None, "alice", "x"), (None, "alice", "y"), (None, "alice", "z")]
    await settle(js, a, b, last=1)
    assert lines(dave) == []  # "x" came from the stream after all: stored, not shown again
    assert a.hub.history is not None and a.hub.history.page("#lobby", limit=5)[0].text == "x"
    assert lines(bob) == [(1, "alice", "x")]  # other nodes got what the stream got
    assert a.hub.history.unnumbered == 3
    a.hub.handle(alice, c.Say("later"))  # the link is down: here only, unnumbered
    assert lines(dave) == [(None, "alice", "later")]
    for node in (a, b):
        node.task.cancel()


def test_the_bounds_are_documented_numbers() -> None:
    assert histstream.MAX_WAITING_ROOM == 1_000 and histstream.MAX_WAITING == 50_000
