"""How fast `--history-db` persists, and whether writing stalls the event loop.

    .venv/bin/python bench/history_db.py [--messages 200000] [--rooms 100] [--runs 3]

Appends messages (~100 characters) to a `MemoryHistory` with a `HistoryDB` behind it, in
slices of 1,000 per loop pass (a busy server's pace), while a ticker measures how late the
loop wakes up (a stall); reports messages persisted per second (append to on disk) and the
worst stall. Each run is paired with the same appends to memory alone, so the stall the disk
adds is told apart from the machine's own (a busy 2-core machine preempts for tens of ms).
Medians of the runs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from chat.core.history import MemoryHistory
from chat.net.historydb import HistoryDB


async def run(messages: int, rooms: int, path: str | None) -> tuple[float, float]:
    memory = MemoryHistory(size=500, max_bytes=1 << 30)
    db = await HistoryDB.open(path, memory) if path else None
    loop = asyncio.get_running_loop()
    worst = 0.0
    done = False

    async def ticker() -> None:
        nonlocal worst
        while not done:
            before = loop.time()
            await asyncio.sleep(0.001)
            worst = max(worst, loop.time() - before - 0.001)

    tick = asyncio.create_task(ticker())
    text = "x" * 100
    start = time.perf_counter()
    for i in range(messages):
        memory.append(f"#r{i % rooms}", "nick", text, time.time(), False)
        if i % 1000 == 999:
            await asyncio.sleep(0)
    if db is not None:
        await db.flush()
    elapsed = time.perf_counter() - start
    done = True
    await tick
    if db is not None:
        await db.close()
    return messages / elapsed, worst * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rates, stalls, bare = [], [], []
    for n in range(args.runs):
        _, alone = asyncio.run(run(args.messages, args.rooms, None))
        with tempfile.TemporaryDirectory() as tmp:
            rate, stall = asyncio.run(run(args.messages, args.rooms, str(Path(tmp) / "h.db")))
        rates.append(rate)
        stalls.append(stall)
        bare.append(alone)
        print(
            f"run {n + 1}: {rate:,.0f} messages/s persisted; worst loop stall {stall:.1f} ms"
            f" with the database, {alone:.1f} ms with memory alone"
        )
    print(
        f"median: {statistics.median(rates):,.0f} messages/s persisted; worst stall"
        f" {statistics.median(stalls):.1f} ms (memory alone: {statistics.median(bare):.1f} ms)"
    )


if __name__ == "__main__":
    main()
