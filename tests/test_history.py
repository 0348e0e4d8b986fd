"""Room history: offsets, epochs, the bounded memory store, resume with `since`, and paging.

The first half drives `MemoryHistory` directly (no sockets); the second half runs a real server
on 127.0.0.1 port 0 and talks to it in both dialects. Nothing sleeps to wait: every read awaits
its line with a timeout.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import socket
import struct
import time
from typing import Any

from chat.core.history import ENTRY_OVERHEAD, Entry, MemoryHistory
from tests.helpers import TIMEOUT, JsonClient, TextClient, running_server


def counter_epochs() -> MemoryHistory:
    """A store whose epochs are e1, e2, ... in the order streams are made (predictable)."""
    seq = itertools.count(1)
    return MemoryHistory(size=1000, max_bytes=10**9, new_epoch=lambda: f"e{next(seq)}")


def offsets(entries: list[Entry]) -> list[int]:
    return [entry.offset for entry in entries]


def weigh(text: str, nick: str = "n") -> int:
    return len(text) + len(nick) + ENTRY_OVERHEAD


# --- MemoryHistory, no sockets -------------------------------------------------------------------


def test_offsets_are_consecutive_per_room_with_no_holes() -> None:
    h = MemoryHistory()
    got: dict[str, list[int]] = {"a": [], "b": [], "c": []}
    for i in range(30):
        room = "abc"[i % 3] if i % 5 else "a"
        _, offset = h.append(room, "n", f"m{i}", float(i), False)
        got[room].append(offset)
    for room, seen in got.items():
        assert seen == list(range(1, len(seen) + 1)), room
        assert h.position(room)[1] == len(seen)
        assert offsets(h.page(room, limit=100)) == seen
    assert h.stored == 30


def test_epochs_differ_per_room_and_are_stable() -> None:
    h = MemoryHistory()
    epoch_a, _ = h.append("a", "n", "x", 0.0, False)
    epoch_b, _ = h.append("b", "n", "x", 0.0, False)
    assert isinstance(epoch_a, str) and epoch_a and epoch_b and epoch_a != epoch_b
    for i in range(50):
        assert h.append("a", "n", f"{i}", 0.0, False)[0] == epoch_a
    assert h.position("a") == (epoch_a, 51)
    assert h.position("b") == (epoch_b, 1)
    assert h.position("c")[1] == 0  # a room with no messages yet: offset 0
    assert h.position("c")[0] == h.position("c")[0] not in (epoch_a, epoch_b)
    # Two stores (a restart) never share an epoch for the same room.
    assert MemoryHistory().append("a", "n", "x", 0.0, False)[0] != epoch_a


def test_size_bound_evicts_the_oldest_of_that_room_only() -> None:
    h = MemoryHistory(size=3, max_bytes=10**9)
    for i in range(1, 6):
        h.append("a", "n", f"a{i}", float(i), False)
    h.append("b", "n", "b1", 9.0, False)
    assert [e.text for e in h.page("a", limit=10)] == ["a3", "a4", "a5"]
    assert offsets(h.page("a", limit=10)) == [3, 4, 5]
    assert [e.text for e in h.page("b", limit=10)] == ["b1"]
    assert (h.stored, h.evicted) == (4, 2)
    assert h.nbytes == 4 * weigh("a1")
    assert h.position("a")[1] == 5  # eviction never rewinds the offsets


def test_byte_bound_evicts_the_oldest_messages_of_the_whole_server_first() -> None:
    text = "x" * 35  # each message weighs exactly 100 bytes
    assert weigh(text) == 100
    h = MemoryHistory(size=100, max_bytes=500)
    for room in ["a", "b", "a", "b", "a"]:  # a1 b1 a2 b2 a3: 500 bytes, all kept
        h.append(room, "n", text, 0.0, False)
    assert (h.stored, h.nbytes, h.evicted) == (5, 500, 0)
    h.append("c", "n", text, 0.0, False)  # the oldest of the server goes: a1
    assert offsets(h.page("a", limit=10)) == [2, 3]
    assert offsets(h.page("b", limit=10)) == [1, 2]
    h.append("c", "n", text, 0.0, False)  # then b1
    assert offsets(h.page("b", limit=10)) == [2]
    h.append("a", "n", text, 0.0, False)  # then a2 (a's own oldest, not c's)
    assert offsets(h.page("a", limit=10)) == [3, 4]
    assert offsets(h.page("c", limit=10)) == [1, 2]
    assert (h.stored, h.nbytes, h.evicted) == (5, 500, 3)
    # A big message pushes out as many whole old ones as it needs.
    h.append("d", "n", "y" * (35 + 200), 0.0, False)  # 300 bytes: three 100-byte ones go
    assert offsets(h.page("b", limit=10)) == []
    assert offsets(h.page("a", limit=10)) == [4]
    assert offsets(h.page("c", limit=10)) == [2]  # b2 a3 c1 went; c2 a4 d1 are left
    assert offsets(h.page("d", limit=10)) == [1]
    assert h.nbytes == 500 and h.stored == 3 and h.evicted == 6


def test_since_exact_gives_exactly_what_came_after_once() -> None:
    h = MemoryHistory(size=100, max_bytes=10**9)
    for i in range(1, 11):
        h.append("a", "n", f"m{i}", float(i), i % 2 == 0)
    epoch, last = h.position("a")
    entries, recovered = h.since("a", epoch, 6, 100)
    assert recovered is True
    assert offsets(entries) == [7, 8, 9, 10]
    assert [(e.text, e.ts, e.action) for e in entries] == [
        ("m7", 7.0, False),
        ("m8", 8.0, True),
        ("m9", 9.0, False),
        ("m10", 10.0, True),
    ]
    # Caught up: nothing, and recovered (none twice).
    assert h.since("a", epoch, last, 100) == ([], True)
    # From the very start of the stream.
    entries, recovered = h.since("a", epoch, 0, 100)
    assert (offsets(entries), recovered) == (list(range(1, 11)), True)
    # Resuming twice from the same point gives the same messages (no consumption).
    assert offsets(h.since("a", epoch, 8, 100)[0]) == [9, 10]
    assert offsets(h.since("a", epoch, 8, 100)[0]) == [9, 10]
    assert h.recovered == 5 and h.not_recovered == 0


def test_since_an_evicted_offset_gives_the_retained_tail_not_recovered() -> None:
    h = MemoryHistory(size=5, max_bytes=10**9)
    for i in range(1, 21):
        h.append("a", "n", f"m{i}", 0.0, False)
    epoch, _ = h.position("a")
    entries, recovered = h.since("a", epoch, 3, 100)  # 4..15 were evicted
    assert (offsets(entries), recovered) == ([16, 17, 18, 19, 20], False)
    entries, recovered = h.since("a", epoch, 14, 100)  # 15 was evicted
    assert (offsets(entries), recovered) == ([16, 17, 18, 19, 20], False)
    entries, recovered = h.since("a", epoch, 15, 100)  # nothing after 15 was lost
    assert (offsets(entries), recovered) == ([16, 17, 18, 19, 20], True)
    entries, recovered = h.since("a", epoch, 18, 100)
    assert (offsets(entries), recovered) == ([19, 20], True)
    # More came after than the caller takes: the newest `limit`, and not recovered.
    entries, recovered = h.since("a", epoch, 15, 2)
    assert (offsets(entries), recovered) == ([19, 20], False)
    assert (h.recovered, h.not_recovered) == (2, 3)


def test_since_a_wrong_epoch_or_a_future_offset_is_not_recovered() -> None:
    h = MemoryHistory(size=5, max_bytes=10**9)
    for i in range(1, 8):
        h.append("a", "n", f"m{i}", 0.0, False)
    epoch, last = h.position("a")
    entries, recovered = h.since("a", "not-" + epoch, 6, 100)
    assert (offsets(entries), recovered) == ([3, 4, 5, 6, 7], False)  # what it has
    entries, recovered = h.since("a", "not-" + epoch, 6, 2)
    assert (offsets(entries), recovered) == ([6, 7], False)
    entries, recovered = h.since("a", epoch, last + 1, 100)  # a client from the future
    assert (offsets(entries), recovered) == ([3, 4, 5, 6, 7], False)
    entries, recovered = h.since("a", epoch, 10**9, 100)
    assert recovered is False
    assert h.not_recovered == 4 and h.recovered == 0


def test_page_before_after_and_latest_with_limits() -> None:
    h = MemoryHistory(size=20, max_bytes=10**9)
    for i in range(1, 31):  # 11..30 are held
        h.append("a", "n", f"m{i}", 0.0, False)
    assert offsets(h.page("a", limit=3)) == [28, 29, 30]
    assert offsets(h.page("a", limit=100)) == list(range(11, 31))
    assert offsets(h.page("a", before=20, limit=3)) == [17, 18, 19]
    assert offsets(h.page("a", before=13, limit=5)) == [11, 12]
    assert offsets(h.page("a", before=11, limit=5)) == []
    assert offsets(h.page("a", before=5, limit=5)) == []  # before what is held
    assert offsets(h.page("a", before=1000, limit=2)) == [29, 30]
    assert offsets(h.page("a", after=20, limit=3)) == [21, 22, 23]
    assert offsets(h.page("a", after=28, limit=5)) == [29, 30]
    assert offsets(h.page("a", after=30, limit=5)) == []
    assert offsets(h.page("a", after=0, limit=2)) == [11, 12]  # after what is gone: the oldest
    assert offsets(h.page("a", after=5, limit=2)) == [11, 12]
    assert h.page("a", limit=0) == []
    assert h.page("nosuch", limit=10) == []
    assert "nosuch" not in h.streams  # paging a room with no stream makes none


def test_orphan_forgets_an_empty_stream_at_once() -> None:
    h = counter_epochs()
    assert h.position("a") == ("e1", 0)
    h.orphan("a")
    assert "a" not in h.streams
    assert h.position("a") == ("e2", 0)  # it comes back as a new stream
    h.orphan("nosuch")  # harmless


def test_orphan_keeps_a_stream_until_its_messages_are_evicted() -> None:
    text = "x" * 35  # 100 bytes each
    seq = itertools.count(1)
    h = MemoryHistory(size=100, max_bytes=300, new_epoch=lambda: f"e{next(seq)}")
    h.append("a", "n", text, 0.0, False)
    h.append("a", "n", text, 0.0, False)
    h.orphan("a")
    assert "a" in h.streams  # its room is gone but a client coming back still resumes
    assert h.since("a", "e1", 1, 100)[1] is True
    h.append("b", "n", text, 0.0, False)  # 300 bytes: nothing evicted yet
    assert "a" in h.streams
    h.append("b", "n", text, 0.0, False)  # a1 goes
    assert "a" in h.streams and offsets(h.page("a", limit=10)) == [2]
    h.append("b", "n", text, 0.0, False)  # a2 goes: the stream is forgotten
    assert "a" not in h.streams
    assert h.position("a") == ("e3", 0)  # a new epoch: a resume says it lost history
    assert h.since("a", "e1", 2, 100) == ([], False)


def test_a_message_to_an_orphaned_room_makes_it_live_again() -> None:
    text = "x" * 35
    h = MemoryHistory(size=100, max_bytes=300)
    h.append("a", "n", text, 0.0, False)
    h.orphan("a")
    epoch, offset = h.append("a", "n", text, 0.0, False)  # the room is back and talking
    assert offset == 2
    for _ in range(5):
        h.append("b", "n", text, 0.0, False)  # a's messages are all evicted ...
    assert h.page("a", limit=10) == []
    assert h.position("a") == (epoch, 2)  # ... but a live stream is kept: same epoch, offset


def test_order_does_not_grow_when_only_the_room_size_bound_evicts() -> None:
    h = MemoryHistory(size=10, max_bytes=10**12)
    bound = 3 * 10 * 2 + 1100
    worst = 0
    for i in range(100_000):
        h.append("abc"[i % 3], "n", "t", 0.0, False)
        worst = max(worst, len(h._order))
    assert worst < bound
    assert h.stored == 30 and h.nbytes == 30 * weigh("t")
    assert h.evicted == 100_000 - 30
    for room in "abc":
        assert len(h.page(room, limit=100)) == 10


def test_random_operations_match_a_simple_model() -> None:
    """Appends to a few rooms, orphaning, both bounds: the store agrees with a plain model."""
    rng = random.Random(1404)
    size, max_bytes = 7, 2_000
    seq = itertools.count(1)
    h = MemoryHistory(size=size, max_bytes=max_bytes, new_epoch=lambda: f"e{next(seq)}")
    # The model: per room (epoch, last, orphan) and the held (room, offset, weight) oldest first.
    mseq = itertools.count(1)
    streams: dict[str, list[Any]] = {}
    held: list[tuple[str, str, int, int]] = []  # (room, epoch, offset, weight)

    def mstream(room: str) -> list[Any]:
        if room not in streams:
            streams[room] = [f"e{next(mseq)}", 0, False]
        return streams[room]

    def room_held(room: str) -> list[int]:
        epoch = streams[room][0] if room in streams else None
        return [off for r, ep, off, _ in held if r == room and ep == epoch]

    for _ in range(5_000):
        room = rng.choice("abcde")
        if rng.random() < 0.08:
            h.orphan(room)
            if room in streams:
                if room_held(room):
                    streams[room][2] = True
                else:
                    del streams[room]
            continue
        text = "z" * rng.randrange(0, 200)
        epoch, offset = h.append(room, "nick", text, 0.0, False)
        st = mstream(room)
        st[2] = False
        st[1] += 1
        held.append((room, st[0], st[1], weigh(text, "nick")))
        assert (epoch, offset) == (st[0], st[1])
        mine = [i for i, (r, ep, _, _) in enumerate(held) if r == room and ep == st[0]]
        if len(mine) > size:
            del held[mine[0]]
        while sum(w for *_, w in held) > max_bytes:
            gone_room, gone_epoch, _, _ = held.pop(0)
            gst = streams.get(gone_room)
            if gst is not None and gst[0] == gone_epoch and gst[2] and not room_held(gone_room):
                del streams[gone_room]
        assert h.nbytes == sum(w for *_, w in held) <= max_bytes
        assert h.stored == len(held)
        assert set(h.streams) == set(streams)
        for r in streams:
            assert offsets(h.page(r, limit=100)) == room_held(r)
            assert h.streams[r].epoch == streams[r][0]
            assert h.streams[r].last == streams[r][1]


# --- over real sockets ---------------------------------------------------------------------------


def reset(client: JsonClient) -> None:
    """Drop the connection with a TCP reset (SO_LINGER 0, then close): no FIN, no goodbye."""
    sock = client.writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.writer.transport.abort()


async def hello(port: int, nick: str) -> JsonClient:
    """Connect and register as `nick`, retrying (bounded) while the server still holds it."""
    client = await JsonClient.connect(port)
    deadline = time.monotonic() + TIMEOUT
    while True:
        await client.send_json(type="hello", version=1, nick=nick)
        ev = await answer(client)
        if ev["type"] == "welcome":
            break
        assert ev == {"type": "error", "code": "nick-taken", "message": ev["message"]}, ev
        assert time.monotonic() < deadline, f"nick {nick} never freed"
        await asyncio.sleep(0.01)
    await client.event("who", lambda ev: ev["room"] == "#lobby")
    return client


async def big_reader(port: int, nick: str) -> JsonClient:
    """A JSON client whose reader takes lines of up to 4 MiB (a page of long messages)."""
    client = JsonClient(*await asyncio.open_connection("127.0.0.1", port, limit=4 << 20))
    await client.send_json(type="hello", version=1, nick=nick)
    await client.event("welcome")
    await client.event("who")
    return client


async def answer(client: JsonClient) -> dict[str, Any]:
    """The next welcome or error event."""
    while True:
        ev = await client.next_event()
        if ev["type"] in ("welcome", "error"):
            return ev


async def join(client: JsonClient, room: str, **fields: Any) -> dict[str, Any]:
    """Join `room` and return the joiner's own join event."""
    await client.send_json(type="join", room=room, **fields)
    return await client.event("join", lambda ev: ev["room"] == room)


async def say_many(client: JsonClient, room: str, texts: list[str]) -> list[dict[str, Any]]:
    """Send every text to `room` in one write; return the sender's own echoes, in order."""
    lines = "".join(f'{{"type":"say","room":"{room}","text":"{t}"}}\n' for t in texts)
    client.writer.write(lines.encode())
    await client.writer.drain()
    echoes = []
    for _ in texts:
        echoes.append(await client.event("message", lambda ev: ev["room"] == room))
    assert [ev["text"] for ev in echoes] == texts
    return echoes


async def resume(client: JsonClient, room: str, epoch: str, offset: int) -> tuple[list[Any], Any]:
    """Join `room` with `since`; return the messages before the joiner's join, and the join."""
    since = {"epoch": epoch, "offset": offset}
    await client.send_json(type="join", room=room, since=since)
    got: list[dict[str, Any]] = []
    while True:
        ev = await client.next_event()
        if ev["type"] == "join" and ev["room"] == room:
            return got, ev
        assert ev["type"] in ("message", "join", "who", "notice"), ev
        if ev["type"] == "message":
            got.append(ev)


async def test_a_reset_client_resumes_exactly_the_thousand_messages_it_missed() -> None:
    async with running_server(history_size=2000) as server:
        port = server.port
        bob = await JsonClient.login(port, "bob")
        keeper = await JsonClient.login(port, "keeper")  # keeps #resume alive, and talks
        await join(keeper, "#resume")
        joined = await join(bob, "#resume")
        assert joined["offset"] == 0 and joined["epoch"]
        await say_many(keeper, "#resume", ["before 1", "before 2", "before 3"])
        seen = [await bob.event("message", lambda ev: ev["room"] == "#resume") for _ in range(3)]
        assert [ev["offset"] for ev in seen] == [1, 2, 3]
        assert {ev["epoch"] for ev in seen} == {joined["epoch"]}
        assert not any("replay" in ev for ev in seen)
        epoch, last = seen[-1]["epoch"], seen[-1]["offset"]

        reset(bob)
        await keeper.event("quit", lambda ev: ev["nick"] == "bob")
        texts = [f"missed {i}" for i in range(1, 1001)]
        echoes = await say_many(keeper, "#resume", texts)
        assert [ev["offset"] for ev in echoes] == list(range(4, 1004))

        bob = await hello(port, "bob")
        got, joined = await resume(bob, "#resume", epoch, last)
        assert [ev["text"] for ev in got] == texts  # exactly those, in order, once
        assert [ev["offset"] for ev in got] == list(range(4, 1004))
        assert all(ev["replay"] is True and ev["epoch"] == epoch for ev in got)
        assert all(ev["nick"] == "keeper" and ev["room"] == "#resume" for ev in got)
        assert joined["nick"] == "bob" and joined["recovered"] is True
        assert (joined["epoch"], joined["offset"]) == (epoch, 1003)
        await bob.event("who", lambda ev: ev["room"] == "#resume")

        # Live again: the next message is 1004, not a replay; the others saw bob come back
        # without a `recovered` (that is the joiner's alone).
        others = await keeper.event("join", lambda ev: ev["room"] == "#resume")
        assert "recovered" not in others and others["offset"] == 1003
        await keeper.send_json(type="say", room="#resume", text="welcome back")
        live = await bob.event("message", lambda ev: ev["room"] == "#resume")
        assert (live["offset"], live["text"], "replay" in live) == (1004, "welcome back", False)
        for client in (bob, keeper):
            await client.close()


async def test_an_overflowed_history_resumes_the_retained_tail_not_recovered() -> None:
    async with running_server(history_size=50) as server:
        keeper = await JsonClient.login(server.port, "keeper")
        await join(keeper, "#resume")
        bob = await JsonClient.login(server.port, "bob")
        joined = await join(bob, "#resume")
        epoch = joined["epoch"]
        reset(bob)
        await keeper.event("quit", lambda ev: ev["nick"] == "bob")
        texts = [f"m{i}" for i in range(1, 201)]
        await say_many(keeper, "#resume", texts)

        bob = await hello(server.port, "bob")
        got, joined = await resume(bob, "#resume", epoch, 0)
        assert [ev["offset"] for ev in got] == list(range(151, 201))
        assert [ev["text"] for ev in got] == texts[150:]
        assert all(ev["replay"] is True for ev in got)
        assert (joined["recovered"], joined["epoch"], joined["offset"]) == (False, epoch, 200)

        # Within the retained tail it is a full recovery again.
        await bob.send_json(type="part", room="#resume")
        await bob.event("part", lambda ev: ev["nick"] == "bob")
        got, joined = await resume(bob, "#resume", epoch, 190)
        assert [ev["offset"] for ev in got] == list(range(191, 201))
        assert joined["recovered"] is True
        for client in (bob, keeper):
            await client.close()


async def test_a_resume_is_bounded_by_the_send_queue_and_the_rest_is_paged() -> None:
    async with running_server(history_size=2000) as server:
        keeper = await JsonClient.login(server.port, "keeper")
        await join(keeper, "#resume")
        bob = await big_reader(server.port, "bob")  # a page of 100 long lines is one line
        epoch = (await join(bob, "#resume"))["epoch"]
        await bob.send_json(type="part", room="#resume")
        await bob.event("part", lambda ev: ev["nick"] == "bob")
        texts = [f"{i:04d}" + "x" * 996 for i in range(1, 301)]  # 300 KB: over the queue
        await say_many(keeper, "#resume", texts)

        got, joined = await resume(bob, "#resume", epoch, 0)
        assert (joined["recovered"], joined["offset"]) == (False, 300)
        first = got[0]["offset"]
        assert [ev["offset"] for ev in got] == list(range(first, 301))  # the newest, no hole
        assert [ev["text"] for ev in got] == texts[first - 1 :]
        # What was replayed, as encoded for bob, fits his send queue less what follows it.
        sent = sum(len(json.dumps(ev, ensure_ascii=False, separators=(",", ":"))) + 1 for ev in got)
        assert first > 1 and sent <= 256 * 1024 - 16 * 1024 < sent + 1100
        # The rest, paged backwards from the first one replayed: every message once.
        before, older = first, list[int]()
        while True:
            await bob.send_json(type="history", room="#resume", before=before, limit=100)
            page = [m["offset"] for m in (await bob.event("history"))["messages"]]
            if not page:
                break
            older[:0] = page
            before = page[0]
        assert older == list(range(1, first))
        for client in (bob, keeper):
            await client.close()


async def test_a_full_page_of_long_messages_is_answered_not_cut() -> None:
    """`limit` 100 of the longest messages a line can carry: the asker gets its page."""
    async with running_server() as server:
        keeper = await JsonClient.login(server.port, "keeper")
        await join(keeper, "#long")
        texts = [f"{i:04d}" + "y" * 4000 for i in range(1, 101)]  # each line near --max-line
        await say_many(keeper, "#long", texts)
        bob = await big_reader(server.port, "bob")
        await join(bob, "#long")
        await bob.event("who", lambda ev: ev["room"] == "#long")
        # One page is one line, and must fit the asker's send queue: it holds the newest
        # messages that fit, and the asker pages back (`before`) for the rest.
        got: list[str] = []
        before: int | None = None
        for _ in range(100):
            ask: dict[str, object] = {"type": "history", "room": "#long", "limit": 100}
            if before is not None:
                ask["before"] = before
            await bob.send_json(**ask)
            answer = await bob.next_event()
            assert answer["type"] == "history", (answer["type"], answer.get("message"))
            page = answer["messages"]
            if not page:
                break
            assert len(page) < 100  # trimmed to fit
            got = [m["text"] for m in page] + got
            before = page[0]["offset"]
        assert got == texts
        await bob.send_json(type="ping", token="still here")
        assert (await bob.event("pong"))["token"] == "still here"
        for client in (bob, keeper):
            await client.close()


async def test_a_restarted_server_has_a_new_epoch_so_nothing_is_recovered() -> None:
    async with running_server() as first:
        port = first.port
        bob = await JsonClient.login(port, "bob")
        await join(bob, "#resume")
        echoes = await say_many(bob, "#resume", ["one", "two"])
        epoch, last = echoes[-1]["epoch"], echoes[-1]["offset"]
        assert last == 2
        await bob.close()

    async with running_server(port=port) as second:
        assert second.port == port
        alice = await JsonClient.login(port, "alice")
        await join(alice, "#resume")
        await say_many(alice, "#resume", ["after restart"])
        bob = await hello(port, "bob")
        got, joined = await resume(bob, "#resume", epoch, last)
        assert joined["recovered"] is False
        assert joined["epoch"] != epoch and joined["offset"] == 1
        # What this server has, under its own epoch.
        assert [(ev["offset"], ev["text"], ev["epoch"]) for ev in got] == [
            (1, "after restart", joined["epoch"])
        ]
        for client in (alice, bob):
            await client.close()


async def test_json_history_paging() -> None:
    async with running_server() as server:
        bob = await JsonClient.login(server.port, "bob")
        await join(bob, "#page")
        texts = [f"p{i}" for i in range(1, 31)]
        echoes = await say_many(bob, "#page", texts)
        epoch = echoes[0]["epoch"]

        async def page(**fields: Any) -> list[int]:
            await bob.send_json(type="history", room="#page", **fields)
            ev = await bob.event("history")
            assert (ev["room"], ev["epoch"]) == ("#page", epoch)
            for m in ev["messages"]:
                assert m["replay"] is True and m["epoch"] == epoch and m["room"] == "#page"
                assert m["text"] == f"p{m['offset']}" and m["nick"] == "bob"
            return [m["offset"] for m in ev["messages"]]

        assert await page(limit=5) == [26, 27, 28, 29, 30]  # latest
        assert await page() == list(range(1, 31))  # the default limit (100) takes all 30
        assert await page(before=10, limit=3) == [7, 8, 9]
        assert await page(before=3, limit=10) == [1, 2]
        assert await page(before=1, limit=10) == []
        assert await page(after=25, limit=100) == [26, 27, 28, 29, 30]
        assert await page(after=0, limit=3) == [1, 2, 3]
        assert await page(after=30) == []
        # The room's current one when none is named (the join made #page current).
        await bob.send_json(type="history", limit=1)
        assert [m["offset"] for m in (await bob.event("history"))["messages"]] == [30]

        for bad in ({"limit": 101}, {"limit": 0}, {"limit": "5"}, {"before": -1}):
            await bob.send_json(type="history", room="#page", **bad)
            err = await bob.event("error")
            assert err["code"] == "bad-command", (bad, err)
        await bob.send_json(type="history", room="#nosuch")
        assert (await bob.event("error"))["code"] == "not-in-room"
        # Still answering after the refusals.
        assert await page(limit=1) == [30]
        await bob.close()


async def test_text_dialect_sees_history_on_join_and_with_slash_history() -> None:
    async with running_server() as server:
        bob = await JsonClient.login(server.port, "bob")
        await join(bob, "#talk")
        texts = [f"line {i}" for i in range(1, 13)]
        echoes = await say_many(bob, "#talk", texts)
        await bob.send_json(type="me", room="#talk", text="waves")
        action = await bob.event("message", lambda ev: ev["room"] == "#talk")
        hhmm = [time.strftime("%H:%M", time.gmtime(ev["ts"])) for ev in [*echoes, action]]

        alice = await TextClient.login(server.port, "alice")
        await alice.send("/join #talk")
        header = await alice.expect(r"^\* the last \d+ line\(s\) of #talk")
        assert header == "* the last 10 line(s) of #talk (times UTC):"
        shown = [await alice.line() for _ in range(10)]
        expected = [f"[#talk] [{hhmm[i]}] <bob> {texts[i]}" for i in range(3, 12)]
        expected.append(f"[#talk] [{hhmm[12]}] * bob waves")
        assert shown == expected

        await alice.send("/history 3")
        assert await alice.line() == "* the last 3 line(s) of #talk (times UTC):"
        assert [await alice.line() for _ in range(3)] == expected[-3:]
        await alice.send("/history #talk 1")
        assert await alice.line() == "* the last 1 line(s) of #talk (times UTC):"
        assert await alice.line() == expected[-1]
        await alice.send("/history #nosuch")
        assert (await alice.line()).startswith("! not-in-room: ")
        await alice.send("/history 101")
        assert (await alice.line()).startswith("! bad-command: ")

        # Live lines carry no time; a room with no history says so.
        await bob.send_json(type="say", room="#talk", text="live")
        assert await alice.line() == "[#talk] <bob> live"
        await alice.send("/join #empty")
        await alice.expect(r"^\* #empty \(")
        await alice.send("/history")
        assert await alice.line() == "* no history in #empty"
        for client in (alice, bob):
            await client.close()


async def test_history_size_zero_turns_history_off() -> None:
    async with running_server(history_size=0) as server:
        bob = await JsonClient.login(server.port, "bob")
        joined = await join(bob, "#quiet")
        assert "epoch" not in joined and "offset" not in joined
        [echo] = await say_many(bob, "#quiet", ["hi"])
        assert "offset" not in echo and "epoch" not in echo and "replay" not in echo
        await bob.send_json(type="history", room="#quiet", limit=5)
        err = await bob.event("error")
        assert err["code"] == "bad-command"

        alice = await TextClient.login(server.port, "alice")
        await alice.send("/join #quiet")
        await alice.expect(r"^\* #quiet \(")
        await bob.send_json(type="say", room="#quiet", text="no history here")
        assert await alice.line() == "[#quiet] <bob> no history here"  # no history page first
        await alice.send("/history")
        assert (await alice.line()).startswith("! bad-command: ")
        for client in (alice, bob):
            await client.close()


async def test_a_rejoined_orphaned_room_keeps_its_epoch_and_offsets() -> None:
    """A room whose members all left keeps its stream while its messages are held; once it is
    joined again it is live, so evicting its old messages must not change its epoch."""
    async with running_server(history_bytes=2_000) as server:
        bob = await JsonClient.login(server.port, "bob")
        await join(bob, "#gone")
        echoes = await say_many(bob, "#gone", ["a", "b"])
        epoch = echoes[0]["epoch"]
        await bob.send_json(type="part", room="#gone")
        await bob.event("part", lambda ev: ev["room"] == "#gone")  # the room vanished

        got, joined = await resume(bob, "#gone", epoch, 1)  # its history is still there
        assert [ev["text"] for ev in got] == ["b"]
        assert (joined["recovered"], joined["epoch"], joined["offset"]) == (True, epoch, 2)

        await join(bob, "#other")
        await say_many(bob, "#other", ["x" * 100] * 30)  # evicts every message of #gone
        await bob.send_json(type="say", room="#gone", text="c")
        live = await bob.event("message", lambda ev: ev["room"] == "#gone")
        assert (live["epoch"], live["offset"]) == (epoch, 3)
        await bob.close()
