"""chat/net/flusher.py: coalesced writes, on a real asyncio loop (one pass = one `sleep(0)`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

from chat.net.flusher import Flusher


class CountingLoop:
    """The running loop, with every `call_soon` recorded (the rest is delegated)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.scheduled: list[Callable[..., Any]] = []

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> asyncio.Handle:
        self.scheduled.append(callback)
        return self.loop.call_soon(callback, *args)


class Client:
    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log
        self.then: Callable[[], None] | None = None  # run during flush (marks someone)

    def flush(self) -> None:
        self.log.append(self.name)
        if self.then is not None:
            then, self.then = self.then, None
            then()


class Logged(Flusher):
    """Records where each run starts and ends, to see which pass flushed whom."""

    __slots__ = ("log",)

    def __init__(self, loop: asyncio.AbstractEventLoop, log: list[str]) -> None:
        super().__init__(loop)
        self.log = log

    def run(self) -> None:
        self.log.append("[")
        super().run()
        self.log.append("]")


def counting() -> tuple[CountingLoop, asyncio.AbstractEventLoop]:
    proxy = CountingLoop(asyncio.get_running_loop())
    return proxy, cast(asyncio.AbstractEventLoop, proxy)


async def one_pass() -> None:
    await asyncio.sleep(0)


async def test_marked_clients_are_flushed_at_the_end_of_the_pass_not_at_mark() -> None:
    log: list[str] = []
    proxy, loop = counting()
    flusher = Flusher(loop)
    a, b = Client("a", log), Client("b", log)
    flusher.mark(a)
    flusher.mark(b)
    assert log == []  # nothing written synchronously
    await one_pass()
    assert log == ["a", "b"]  # each once, in the order marked
    await one_pass()
    assert log == ["a", "b"]  # and not again
    assert proxy.scheduled == [flusher.run]


async def test_one_call_soon_per_pass_however_many_marks() -> None:
    log: list[str] = []
    proxy, loop = counting()
    flusher = Flusher(loop, slice=500)
    clients = [Client(str(i), log) for i in range(500)]
    for client in clients:
        flusher.mark(client)
    assert len(proxy.scheduled) == 1
    await one_pass()
    assert log == [str(i) for i in range(500)]
    # The next pass schedules afresh, once again.
    for client in clients[:3]:
        flusher.mark(client)
    assert len(proxy.scheduled) == 2
    await one_pass()
    assert log[500:] == ["0", "1", "2"]
    assert proxy.scheduled == [flusher.run, flusher.run]


async def test_nothing_marked_nothing_scheduled() -> None:
    proxy, loop = counting()
    Flusher(loop)
    await one_pass()
    assert proxy.scheduled == []


async def test_a_client_marked_while_the_flusher_runs_is_flushed_in_the_next_pass() -> None:
    log: list[str] = []
    proxy, loop = counting()
    flusher = Logged(loop, log)
    a, b, c = Client("a", log), Client("b", log), Client("c", log)
    a.then = lambda: flusher.mark(c)  # a's write makes c writable (say, a reply)
    flusher.mark(a)
    flusher.mark(b)
    await one_pass()
    assert log == ["[", "a", "b", "]"]  # c is not written during this run ...
    assert len(proxy.scheduled) == 2  # ... but a new run was scheduled for it
    await one_pass()
    assert log == ["[", "a", "b", "]", "[", "c", "]"]


async def test_a_client_that_marks_itself_while_flushed_is_flushed_once_more() -> None:
    log: list[str] = []
    _, loop = counting()
    flusher = Logged(loop, log)
    a = Client("a", log)
    a.then = lambda: flusher.mark(a)
    flusher.mark(a)
    await one_pass()
    await one_pass()
    assert log == ["[", "a", "]", "[", "a", "]"]
    await one_pass()
    assert log.count("a") == 2  # no loop: `then` ran once


async def test_the_flush_runs_before_callbacks_scheduled_after_the_first_mark() -> None:
    # "At the end of this loop pass": the flush is queued with the first mark, so it runs in
    # the very next pass, ahead of what is scheduled later.
    log: list[str] = []
    loop = asyncio.get_running_loop()
    flusher = Flusher(loop)
    flusher.mark(Client("a", log))
    loop.call_soon(log.append, "later")
    flusher.mark(Client("b", log))
    await one_pass()
    assert log == ["a", "b", "later"]


async def test_a_big_fan_out_is_written_a_slice_per_pass() -> None:
    log: list[str] = []
    proxy, loop = counting()
    flusher = Flusher(loop, slice=128)
    for i in range(300):
        flusher.mark(Client(str(i), log))
    await one_pass()
    assert log == [str(i) for i in range(128)]  # the loop reads input before the next slice
    await one_pass()
    assert len(log) == 256
    await one_pass()
    assert log == [str(i) for i in range(300)]  # each once, in the order marked
    assert proxy.scheduled == [flusher.run] * 3
    await one_pass()
    assert len(proxy.scheduled) == 3  # nothing left: not rescheduled


class Member:
    """A client with pending output, marked only when it goes from empty to non-empty (as
    `Outbox.append` wakes the transport)."""

    def __init__(self, flusher: Flusher, writes: list[list[str]]) -> None:
        self.flusher = flusher
        self.writes = writes
        self.pending: list[str] = []

    def push(self, line: str) -> None:
        self.pending.append(line)
        if len(self.pending) == 1:
            self.flusher.mark(self)

    def flush(self) -> None:
        self.writes.append(self.pending)
        self.pending = []


async def test_a_message_arriving_mid_fan_out_shares_the_write_of_those_not_yet_written() -> None:
    writes: list[list[str]] = []
    _, loop = counting()
    flusher = Flusher(loop, slice=128)
    room = [Member(flusher, writes) for _ in range(200)]
    for m in room:
        m.push("m1")
    await one_pass()  # the first slice is written ...
    for m in room:  # ... then the loop reads the next message and fans it out
        m.push("m2")
    while flusher._dirty:
        await one_pass()
    assert writes[:128] == [["m1"]] * 128
    assert writes[128:200] == [["m1", "m2"]] * 72  # one write each, order kept
    assert writes[200:] == [["m2"]] * 128
    assert all(not m.pending for m in room)
