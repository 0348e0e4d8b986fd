"""Well-behaved members in a process of their own: `python -m tests.members PORT ROOM N`.

They log in (JSON dialect) from 127.0.0.1, join ROOM, print `ready`, and wait for `go` on
stdin. Then member 0 speaks `COUNT` numbered messages at a steady pace while every member reads
as fast as it can (and pings, as a listening client does). When every member has the last
message, or was cut, or `DEADLINE` passes, the process prints one JSON line:
`{"members": [{"nick", "got": [numbers in arrival order], "cut": reason or null}, ...],
"latency_ms": {"p50", "p99", "max"}}` (send to receipt, CLOCK_MONOTONIC is system-wide: for
the record, never judged by a test).

Running them in their own process means the attack, driven by the test's process, cannot
slow their reading: what they lose is what the server made them lose.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

COUNT = 40  # 2.4 s at PACE: longer than each attack of tests/test_attacks.py takes
PACE = 0.06  # seconds between the speaker's messages: under the default --msg-rate of 20/s
DEADLINE = 60.0
PING_EVERY = 1.0


async def member(port: int, room: str, nick: str) -> tuple[asyncio.StreamReader, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(json.dumps({"type": "hello", "version": 1, "nick": nick}).encode() + b"\n")
    writer.write(json.dumps({"type": "join", "room": room}).encode() + b"\n")
    while True:  # until our own join of `room` (or #lobby, the default room, if that is it)
        line = await reader.readline()
        if not line:
            raise SystemExit(f"{nick}: closed while logging in")
        if not line.startswith(b"{"):
            continue
        ev = json.loads(line)
        if ev["type"] == "error":
            raise SystemExit(f"{nick}: {ev}")
        if ev["type"] == "who" and ev["room"].lower() == room.lower():
            return reader, writer


async def listen(
    reader: asyncio.StreamReader, result: dict[str, Any], latencies: list[float]
) -> None:
    got: list[int] = result["got"]
    while True:
        line = await reader.readline()
        if not line:
            result["cut"] = result["cut"] or "eof"
            return
        ev = json.loads(line)
        kind = ev["type"]
        if kind == "message" and ev["nick"] == "m0" and ev["text"].startswith("seq "):
            _, seq, sent = ev["text"].split()
            got.append(int(seq))
            latencies.append(time.monotonic() - float(sent))
            if got[-1] == COUNT - 1:
                return
        elif kind in ("bye", "error") and ev.get("code", "bye") in ("slow-consumer", "bye"):
            result["cut"] = ev.get("code") or ev.get("reason")


async def ping(writer: Any) -> None:
    while True:
        await asyncio.sleep(PING_EVERY)  # keepalive pacing, not a wait for an event
        writer.write(b'{"type":"ping"}\n')


async def main(port: int, room: str, n: int) -> None:
    conns = [await member(port, room, f"m{i}") for i in range(n)]
    results: list[dict[str, Any]] = [{"nick": f"m{i}", "got": [], "cut": None} for i in range(n)]
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # "go"
    latencies: list[float] = []
    listeners = [
        asyncio.create_task(listen(r, res, latencies))
        for (r, _), res in zip(conns, results, strict=True)
    ]
    pingers = [asyncio.create_task(ping(w)) for _, w in conns]
    speaker = conns[0][1]
    for seq in range(COUNT):
        text = f"seq {seq} {time.monotonic()}"
        speaker.write(json.dumps({"type": "say", "room": room, "text": text}).encode())
        speaker.write(b"\n")
        await asyncio.sleep(PACE)  # a steady pace, not a wait for an event
    await asyncio.wait(listeners, timeout=DEADLINE)
    for task in [*listeners, *pingers]:
        task.cancel()
    latencies.sort()
    ms = [x * 1000 for x in latencies] or [0.0]
    summary = {"p50": ms[len(ms) // 2], "p99": ms[int(len(ms) * 0.99)], "max": ms[-1]}
    print(json.dumps({"members": results, "latency_ms": summary}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
