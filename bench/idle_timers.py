"""Which idle-timeout design? Measures, inside a running asyncio loop with 19,000 clients:

- rearm: one timer per client, cancelled and re-created with `loop.call_later` on every read;
- stamp: every read stores `loop.time()` on the client; one sweep walks all clients periodically.

Run: .venv/bin/python bench/idle_timers.py [--clients 19000] [--reads 1000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time

from chat.net.idle import sweep

TIMEOUT = 300.0


class Client:
    __slots__ = ("handle", "last_seen", "warned")

    def __init__(self, now: float) -> None:
        self.last_seen = now
        self.warned = False
        self.handle: asyncio.TimerHandle | None = None

    def idle_check(self, now: float) -> None:
        """What a connection does when swept: warn at 80% of the timeout, cut at all of it."""
        silent = now - self.last_seen
        if silent >= TIMEOUT:
            self.handle = None  # (cut: nothing to do in a measurement)
        elif silent >= TIMEOUT * 0.8 and not self.warned:
            self.warned = True


def _noop() -> None:
    pass


async def measure(clients: int, reads: int) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    pool = [Client(loop.time()) for _ in range(clients)]
    order = [random.randrange(clients) for _ in range(reads)]
    for c in pool:
        c.handle = loop.call_later(TIMEOUT, _noop)

    t0 = time.perf_counter()
    for i in order:
        c = pool[i]
        assert c.handle is not None
        c.handle.cancel()
        c.handle = loop.call_later(TIMEOUT, _noop)
    rearm = (time.perf_counter() - t0) / reads * 1e9
    await asyncio.sleep(0)  # let the loop purge cancelled handles, as it would
    for c in pool:
        assert c.handle is not None
        c.handle.cancel()

    t0 = time.perf_counter()
    for i in order:
        c = pool[i]
        c.last_seen = loop.time()
        c.warned = False
    stamp = (time.perf_counter() - t0) / reads * 1e9

    now = loop.time()
    t0 = time.perf_counter()
    for _ in range(20):
        sweep(pool, now)
    sweep_ms = (time.perf_counter() - t0) / 20 * 1e3
    return {"rearm_ns_per_read": rearm, "stamp_ns_per_read": stamp, "sweep_ms": sweep_ms}


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--clients", type=int, default=19_000)
    p.add_argument("--reads", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    runs = [asyncio.run(measure(args.clients, args.reads)) for _ in range(args.repeat)]
    print(f"{args.clients} clients, {args.reads} reads, median of {args.repeat} runs")
    for key in runs[0]:
        print(f"  {key:20s} {statistics.median(r[key] for r in runs):10.1f}")
    rearm = statistics.median(r["rearm_ns_per_read"] for r in runs)
    stamp = statistics.median(r["stamp_ns_per_read"] for r in runs)
    print(f"  rearm / stamp        {rearm / stamp:10.1f}x")


if __name__ == "__main__":
    main()
