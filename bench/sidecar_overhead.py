"""Does the stats sidecar cost the chat path anything? Fan-out throughput with and without it.

Starts `chat-server` as a subprocess, alternately without and with `--stats-port`, and drives
the same fan-out load over loopback each time: MEMBERS JSON clients in #lobby, SENDERS of them
posting as fast as a bounded in-flight window allows, every message delivered to every member
(JSON clients get their own messages back). In the with-sidecar runs GET /stats is polled 10
times a second for the whole run. Reports deliveries per second counted by the receivers over
the measured interval, per run and as medians.

    .venv/bin/python bench/sidecar_overhead.py [--runs 3] [--seconds 5] [--members 200]

Self-contained: it needs only the chat package installed with its `stats` extra.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import sys
import time
from dataclasses import dataclass, field

HELLO = '{{"type":"hello","version":1,"nick":"{nick}"}}\n'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Member:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    lines: int = 0


@dataclass
class Run:
    sidecar: bool
    deliveries_per_s: float
    server_cpu: float
    """Share of one core the server used over the measured interval."""
    polls: int = 0
    poll_ms: list[float] = field(default_factory=list)

    @property
    def per_cpu_second(self) -> float:
        return self.deliveries_per_s / self.server_cpu if self.server_cpu else 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def wait_listening(port: int, proc: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        w.close()
        return
    raise SystemExit(f"nothing listening on {port}")


async def http_get(port: int, path: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


async def login(port: int, nick: str) -> Member:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(HELLO.format(nick=nick).encode())
    while True:
        line = await asyncio.wait_for(reader.readline(), 10)
        if not line:
            raise SystemExit(f"{nick}: server closed the connection")
        if line.startswith(b'{"type":"who"'):
            return Member(reader, writer)


async def one_run(args: argparse.Namespace, sidecar: bool) -> Run:
    port = free_port()
    cmd = [
        sys.executable, "-m", "chat", "--port", str(port), "--log-level", "warning",
        "--log-format", "json", "--max-clients", str(args.members + 50), "--idle-timeout", "600",
        "--max-per-ip", "0", "--msg-rate", "0", "--loop", args.loop,
    ]  # fmt: skip
    stats_port = 0
    if sidecar:
        stats_port = free_port()
        cmd += ["--stats-port", str(stats_port)]
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL
    )
    tasks: list[asyncio.Task[None]] = []
    members: list[Member] = []
    try:
        await wait_listening(port, proc)
        if sidecar:
            await wait_listening(stats_port, proc)
            status, _ = await http_get(stats_port, "/health")
            assert status == 200, status
        for i in range(args.members):
            members.append(await login(port, f"m{i}"))
        stop = asyncio.Event()

        async def read(m: Member) -> None:
            while data := await m.reader.read(1 << 16):
                m.lines += data.count(b"\n")

        sent = 0
        line = json.dumps({"type": "say", "text": "x" * args.size}).encode() + b"\n"
        batch = line * args.batch

        async def send(m: Member) -> None:
            nonlocal sent
            while not stop.is_set():
                # Bounded in flight: never more than `window` messages ahead of the slowest
                # member, so nobody's queue fills and nobody is cut as a slow consumer.
                while sent - min(x.lines for x in members) > args.window:
                    await asyncio.sleep(0.001)
                    if stop.is_set():
                        return
                m.writer.write(batch)
                sent += args.batch
                await m.writer.drain()

        polls = 0
        poll_ms: list[float] = []

        async def poll() -> None:
            # GET /stats on a fixed 100 ms schedule (a request that takes longer than that
            # is followed at once by the next), so it is 10 a second whatever the latency.
            nonlocal polls
            loop = asyncio.get_running_loop()
            due = loop.time()
            while not stop.is_set():
                t0 = loop.time()
                status, body = await http_get(stats_port, "/stats")
                assert status == 200 and json.loads(body)["nodes"] == 1, status
                poll_ms.append((loop.time() - t0) * 1000)
                polls += 1
                due += 0.1
                await asyncio.sleep(max(0.0, due - loop.time()))

        for m in members:
            m.lines = 0
        tasks += [asyncio.create_task(read(m)) for m in members]
        tasks += [asyncio.create_task(send(m)) for m in members[: args.senders]]
        if sidecar:
            tasks.append(asyncio.create_task(poll()))
        await asyncio.sleep(args.warmup)
        start_lines, start = sum(m.lines for m in members), time.perf_counter()
        cpu_start, polls_before, ms_before = cpu_seconds(proc.pid), polls, len(poll_ms)
        await asyncio.sleep(args.seconds)
        end_lines, end = sum(m.lines for m in members), time.perf_counter()
        cpu = (cpu_seconds(proc.pid) - cpu_start) / (end - start)
        stop.set()
        rate = (end_lines - start_lines) / (end - start)
        return Run(sidecar, rate, cpu, polls - polls_before, poll_ms[ms_before:])
    finally:
        for t in tasks:
            t.cancel()
        for m in members:
            m.writer.close()
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        await proc.wait()


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--runs", type=int, default=3, help="runs of each kind, alternated")
    p.add_argument("--seconds", type=float, default=5.0, help="measured seconds per run")
    p.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first")
    p.add_argument("--members", type=int, default=200)
    p.add_argument("--senders", type=int, default=4)
    p.add_argument("--size", type=int, default=100, help="characters of text per message")
    p.add_argument("--batch", type=int, default=10, help="lines per write of a sender")
    p.add_argument("--window", type=int, default=400, help="messages in flight at most")
    p.add_argument("--loop", default="auto", choices=["auto", "asyncio", "uvloop"])
    args = p.parse_args()
    print(
        f"# {args.members} JSON members in one room, {args.senders} senders, "
        f"{args.size}-char messages, {args.runs} alternated runs of {args.seconds:.0f}s each; "
        f"cpus={os.cpu_count()} python={sys.version.split()[0]}",
        flush=True,
    )
    results: dict[bool, list[Run]] = {False: [], True: []}
    for i in range(args.runs):
        order = (False, True) if i % 2 == 0 else (True, False)
        for sidecar in order:
            run = await one_run(args, sidecar)
            results[sidecar].append(run)
            extra = ""
            if sidecar:
                ms = statistics.median(run.poll_ms) if run.poll_ms else float("nan")
                extra = f"  {run.polls} GET /stats, median {ms:.1f} ms"
            label = "with sidecar   " if sidecar else "without sidecar"
            print(
                f"run {i + 1} {label}: {run.deliveries_per_s:>10,.0f} deliveries/s"
                f"  server cpu {100 * run.server_cpu:3.0f}%"
                f"  {run.per_cpu_second:>10,.0f} per cpu-s{extra}",
                flush=True,
            )
    print()
    for name, key in (("deliveries/s", "deliveries_per_s"), ("per cpu-s", "per_cpu_second")):
        without = statistics.median(getattr(r, key) for r in results[False])
        with_ = statistics.median(getattr(r, key) for r in results[True])
        print(
            f"median {name:<12}  without: {without:>10,.0f}  with (polled 10x/s): "
            f"{with_:>10,.0f}  difference {100 * (with_ - without) / without:+.1f}%"
        )


if __name__ == "__main__":
    asyncio.run(main())
