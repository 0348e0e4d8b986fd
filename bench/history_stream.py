"""How long a cluster node takes to load the retained history before it listens.

    .venv/bin/python bench/history_stream.py [--rooms 400] [--per-room 500] [--runs 3]

Starts a nats-server (JetStream, a temporary store), lets a first node create the
`CHAT_HISTORY` stream, fills it with `rooms x per-room` batches of one ~100-character line
each (what a quiet cluster's rooms hold), then starts a node `--runs` times and reports how
long each took from spawning the process to `server.started` (Python's own start included)
and how many messages it loaded (`history.loaded`). Median of the runs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import nats

from chat.cluster import histwire as hw
from tests.helpers import ServerProcess
from tests.natsd import NatsServer


async def fill(url: str, rooms: int, per_room: int) -> float:
    nc = await nats.connect(url)
    js = nc.jetstream()
    started = time.monotonic()
    acks = []
    for r in range(rooms):
        room = f"#room{r}"
        for i in range(per_room):
            line = hw.Line("alice", "x" * 100, 1.0, False)
            batch = hw.Batch("n1", r * per_room + i + 1, room, room, "e1", i + 1, (line,))
            acks.append(await js.publish_async(hw.subject(room), hw.encode(batch)))
    await asyncio.gather(*acks)
    await nc.close()
    return time.monotonic() - started


async def main(rooms: int, per_room: int, runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="chat-bench-hist-") as store:
        broker = NatsServer(Path(store))
        await broker.start()
        try:
            first = await ServerProcess.start("--nats", broker.url, "--node-name", "a")
            await first.stop()  # the stream exists now, with the default bounds
            took = await fill(broker.url, rooms, per_room)
            print(f"published {rooms * per_room:,} batches in {took:.1f} s")
            times = []
            for run in range(runs):
                started = time.monotonic()
                node = await ServerProcess.start("--nats", broker.url, "--node-name", "b")
                times.append(time.monotonic() - started)
                loaded = await node.log_event("history.loaded")
                await node.stop()
                print(f"run {run + 1}: started in {times[-1]:.2f} s, {loaded['messages']:,} loaded")
            median = statistics.median(times)
            rate = rooms * per_room / median
            print(f"median start {median:.2f} s: {rate:,.0f} messages/s, Python's start included")
        finally:
            await broker.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rooms", type=int, default=400)
    parser.add_argument("--per-room", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.rooms, args.per_room, args.runs))
