"""Hostile and broken clients against a live server while well-behaved members chat.

For each: the server stays up, the well-behaved members get every message in order, and the
offender gets a clear error or is cut with a logged reason. See docs/reliability.md for the
table of cases. What the attacks cost in latency and memory is a budget of `make perf`
(`chat-bench fanout --attack ...`), not of this suite: see tests/arena.py.
"""

import asyncio
import socket
import struct
from collections import Counter
from contextlib import suppress
from typing import Any

from tests.arena import ATTACKER, WAIT, arena, attacker, json_attacker, non_reader


async def test_slowloris_trickling_a_line_is_cut_as_idle() -> None:
    async with arena("--idle-timeout", "2") as a:
        trickler = await attacker(a.server.port)
        silent = await attacker(a.server.port)
        await silent.send(b"half a li")  # ...and never another byte
        trickled = asyncio.ensure_future(trickler.closed(timeout=WAIT))
        sent = 0
        while not trickled.done():  # one byte every 0.1 s until the server cuts it
            trickler.writer.write(b"z")  # bytes arrive, a line never completes
            sent += 1
            with suppress(ConnectionError):
                await trickler.writer.drain()
            await asyncio.wait([trickled], timeout=0.1)  # the attacker's pace, or the cut
        assert sent > 1, "cut before it could trickle"
        assert "! idle: idle for 2s; disconnecting" in trickled.result()
        assert "! idle: idle for 2s; disconnecting" in await silent.closed(timeout=WAIT)
        await a.finish()
        assert len(a.disconnects("idle")) == 2


async def test_a_member_that_never_reads_is_cut_as_slow_consumer() -> None:
    async with arena("--msg-rate", "1000", "--msg-burst", "1000") as a:
        stuck = await non_reader(a.server.port, "stuck")
        loud = await json_attacker(a.server.port, "loud")  # busy, but within the rate limit
        cut = a.server.log_event("client.disconnected", lambda ev: ev["nick"] == "stuck", WAIT)
        waiter = asyncio.ensure_future(cut)
        while not waiter.done():
            stuck.send(b'{"type":"ping"}\n')  # it talks, it just never reads
            for _ in range(20):
                await loud.send_json(type="say", text="L" * 3000)
            await loud.send_json(type="ping", token="paced")
            await loud.event("pong", timeout=WAIT)
            await asyncio.wait([waiter], timeout=0.01)
        assert (await waiter)["reason"] == "slow-consumer"
        stuck.close()
        await a.finish()


async def test_a_megabyte_line_without_newline_is_rejected_without_buffering() -> None:
    async with arena() as a:
        j = await json_attacker(a.server.port, "big")
        for _ in range(16):
            j.writer.write(b"m" * 65536)
            await j.writer.drain()
        await j.send(b"")  # the newline, at last
        assert (await j.event("error", timeout=WAIT))["code"] == "line-too-long"
        await j.send_json(type="ping", token="after")
        assert (await j.event("pong", timeout=WAIT))["token"] == "after"
        await a.finish()


async def test_a_burst_of_5000_connections_from_one_address() -> None:
    async with arena() as a:

        async def one() -> str:
            try:
                c = await attacker(a.server.port)
            except OSError as err:
                return f"connect failed: {err.errno}"
            try:
                return await c.line(timeout=WAIT)
            finally:
                c.writer.transport.abort()

        lines: list[str] = []
        for _ in range(10):  # 10 waves of 500, each wave's sockets closed before the next
            lines += await asyncio.gather(*(one() for _ in range(500)))
        refused = [x for x in lines if x.startswith("! too-many-connections: 100 connections")]
        greeted = [x for x in lines if x.startswith("* welcome to chat!")]
        assert len(lines) == 5000
        assert len(refused) + len(greeted) == 5000, {x for x in lines} - {refused[0], greeted[0]}
        assert refused, "the per-IP limit never triggered"
        await a.finish()


async def test_connect_disconnect_churn_leaks_nothing() -> None:
    async with arena() as a:

        async def churn(i: int) -> None:
            c = await attacker(a.server.port)
            if i % 3 == 0:
                await c.send(f"churn{i}")
            if i % 2:  # half of them leave with a reset instead of a FIN
                sock = c.writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.writer.transport.abort() if i % 2 else c.writer.close()

        for wave in range(20):
            await asyncio.gather(*(churn(wave * 50 + i) for i in range(50)))

        counts: Counter[str] = Counter()

        def settled(entry: dict[str, Any]) -> bool:  # called once per log entry
            peer = entry.get("peer", "")  # "unknown": reset before the server saw its address
            if peer.startswith(ATTACKER) or peer == "unknown":
                counts[entry["event"]] += 1
            attempts = counts["client.connected"] + counts["client.refused"]
            return attempts == 1000 and counts["client.disconnected"] == counts["client.connected"]

        await a.server.wait_logs(settled, timeout=WAIT)
        await a.finish()
        assert counts["client.connected"] > 500  # most got in; the rest met the per-IP limit


async def test_invalid_utf8_nul_escape_and_bidi_are_neutralised() -> None:
    async with arena() as a:
        watch = await a.watcher()
        evil = await attacker(a.server.port)
        await evil.send("mallory")
        await evil.expect(r"^\* welcome, mallory")
        await evil.send(b"caf\xe9 \xff\xfe")
        assert (await evil.expect(r"^! bad-utf8")).startswith("! bad-utf8")
        await evil.send(
            b"nul\x00byte \x1b[2J\x1b]0;owned\x07wipe \xe2\x80\xaereversed\xe2\x80\xac end"
        )
        got = await watch.event("message", lambda ev: ev["nick"] == "mallory")
        assert got["text"] == "nulbyte wipe reversed end"
        await a.finish()


async def test_a_half_closed_socket_is_ended_cleanly() -> None:
    async with arena() as a:
        watch = await a.watcher()
        half = await attacker(a.server.port)
        await half.send("halfy")
        await half.expect(r"^\* welcome, halfy")
        await half.send("last words")
        half.writer.write_eof()  # we will send nothing more, but could still read
        said = await watch.event("message", lambda ev: ev["nick"] == "halfy")
        assert said["text"] == "last words"
        await half.closed()  # the server closes its side too
        gone = await a.server.log_event("client.disconnected", lambda ev: ev["nick"] == "halfy")
        assert gone["reason"] == "eof"
        await a.finish()


async def test_a_reset_in_the_middle_of_a_write() -> None:
    async with arena() as a:
        victim = await non_reader(a.server.port, "resetter")
        await a.server.log_event("room.joined", lambda ev: ev["nick"] == "resetter")
        loud = await json_attacker(a.server.port, "loud2")
        for _ in range(30):  # the server is now writing to a socket whose window is closed
            await loud.send_json(type="say", text="R" * 2000)
        await loud.send_json(type="ping")
        await loud.event("pong")
        victim.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        victim.close()  # RST with unread data and writes in flight
        gone = await a.server.log_event("client.disconnected", lambda ev: ev["nick"] == "resetter")
        assert gone["reason"] in ("reset", "eof", "slow-consumer")
        await a.finish()


async def test_a_flooder_is_warned_then_cut() -> None:
    async with arena() as a:
        flooder = await json_attacker(a.server.port, "flooder")
        for n in range(400):
            flooder.writer.write(b'{"type":"say","text":"spam %d"}\n' % n)
        await flooder.writer.drain()
        seen = await flooder.closed(timeout=WAIT)
        assert any('"code":"rate-limited"' in line for line in seen)
        assert any('"code":"flood"' in line for line in seen)
        gone = await a.server.log_event("client.disconnected", lambda ev: ev["nick"] == "flooder")
        assert gone["reason"] == "flood"
        await a.finish()
