"""Plan a run, spread it over worker processes, drive it, measure it.

The coordinator is this (synchronous) process. It builds the list of members (nick, room,
whether it posts, whether it times what it receives), deals them round-robin to the workers,
and steps every worker through the same phases. The server is measured from outside: RSS and CPU
from /proc when its PID is known, deliveries as counted by the receivers.
"""

from __future__ import annotations

import multiprocessing
import random
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection, wait
from typing import Any

from chat.bench import procfs
from chat.bench.attacks import Attacker
from chat.bench.churn import Churner
from chat.bench.cluster import deal
from chat.bench.frames import DIALECTS, LOBBY
from chat.bench.report import Progress, Result, percentiles
from chat.bench.workers import MemberSpec, WorkerConfig, run

POLL = 0.2
"""Seconds between counter polls while a phase runs (progress and end conditions)."""


@dataclass
class Plan:
    scenario: str
    members: list[MemberSpec]
    rooms: dict[str, int] = field(default_factory=dict)
    """Room -> members in it."""
    senders_in: dict[str, int] = field(default_factory=dict)
    """Room -> members of it that post."""

    def expected(self, per_sender: int, echo: bool) -> int:
        """Deliveries when every sender posts `per_sender` messages."""
        return sum(
            s * per_sender * (self.rooms[r] - (0 if echo else 1))
            for r, s in self.senders_in.items()
        )


def nick_prefix() -> str:
    """Per-run nick prefix, so a run never collides with the leftovers of the previous one."""
    return "".join(random.choices(string.ascii_lowercase, k=3))


def plan_fanout(members: int, senders: int, probes: int) -> Plan:
    pre = nick_prefix()
    specs = [
        MemberSpec(
            f"{pre}{i}",
            LOBBY,
            sender=i if i < senders else -1,
            probe=senders <= i < senders + probes,
            paces=i if i < senders else -1,
        )
        for i in range(members)
    ]
    return Plan("fanout", specs, {LOBBY: members}, {LOBBY: min(senders, members)})


def pace_by_members(members: list[MemberSpec]) -> list[MemberSpec]:
    """For a dialect without echoes (IRC, text): in-flight senders cannot pace themselves on
    their own messages, so each is paced by a plain member of its room (the first one not
    pacing another: early in the fan-out, as a JSON sender's own echo is)."""
    out = list(members)
    spare: dict[str, list[int]] = {}
    for i, m in enumerate(out):
        if m.sender < 0 and not m.probe:
            spare.setdefault(m.room, []).append(i)
    for i, m in enumerate(out):
        if m.sender < 0:
            continue
        free = spare.get(m.room)
        if not free:
            raise SystemExit(
                f"--inflight without echoes needs, in {m.room}, one member per sender that is "
                "neither a sender nor a probe (to see its messages arrive)"
            )
        j = free.pop(0)
        out[i] = replace(m, paces=-1)
        out[j] = replace(out[j], paces=m.sender)
    return out


def plan_rooms(rooms: int, size: int, senders: int, probes: int) -> Plan:
    """`rooms` rooms of `size` members; the first `senders` members of each room post."""
    pre = nick_prefix()
    specs: list[MemberSpec] = []
    n_sender = n_probe = 0
    for i in range(rooms * size):
        room, rank = f"#r{i % rooms}", i // rooms
        sender = n_sender if rank < senders else -1
        n_sender += sender >= 0
        probe = rank == senders and n_probe < probes
        n_probe += probe
        specs.append(MemberSpec(f"{pre}{i}", room, sender=sender, probe=probe, paces=sender))
    names = {f"#r{k}" for k in range(rooms)}
    return Plan(
        "rooms", specs, dict.fromkeys(names, size), dict.fromkeys(names, min(senders, size))
    )


def plan_connections(members: int, room_size: int, in_order: bool = False) -> Plan:
    """`members` idle connections in rooms of `room_size`: spread (connection i into room
    i % rooms, so consecutive logins go to different rooms) or filling the rooms in order."""
    pre = nick_prefix()
    size = max(1, room_size)
    nrooms = max(1, -(-members // size))
    specs = [
        MemberSpec(f"{pre}{i}", f"#c{i // size if in_order else i % nrooms}")
        for i in range(members)
    ]
    return Plan("connections", specs)


class Pool:
    """Worker processes, each driven over its own pipe, one command at a time."""

    def __init__(self, n: int, config: WorkerConfig) -> None:
        ctx = multiprocessing.get_context("fork")
        self.conns: list[Connection] = []
        self.procs: list[Any] = []
        for _ in range(n):
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=run, args=(theirs, config), daemon=True)
            proc.start()
            theirs.close()
            self.conns.append(ours)
            self.procs.append(proc)

    def call(self, cmd: dict[str, Any] | list[dict[str, Any]], timeout: float) -> list[Any]:
        cmds = cmd if isinstance(cmd, list) else [cmd] * len(self.conns)
        for conn, c in zip(self.conns, cmds, strict=True):
            conn.send(c)
        replies: dict[int, Any] = {}
        deadline = time.monotonic() + timeout
        while len(replies) < len(self.conns):
            left = deadline - time.monotonic()
            pending = [c for i, c in enumerate(self.conns) if i not in replies]
            ready = wait(pending, max(0.0, left))
            if not ready:
                raise SystemExit(f"a worker did not answer {cmds[0]['op']!r} in {timeout:.0f}s")
            for r in ready:
                assert isinstance(r, Connection)
                try:
                    replies[self.conns.index(r)] = r.recv()
                except EOFError:
                    raise SystemExit("a worker process died") from None
        return [replies[i] for i in range(len(self.conns))]

    def stats(self) -> Result:
        replies = self.call({"op": "stats"}, 10)
        return {k: sum(r[k] for r in replies) for k in ("delivered", "sent", "open", "lost", "cpu")}

    def close(self) -> None:
        for conn in self.conns:
            try:
                conn.send({"op": "close", "timeout": 3.0})
                if conn.poll(10):
                    conn.recv()
                conn.send({"op": "exit"})
            except (OSError, EOFError):
                pass
        for proc in self.procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join(5)


@dataclass
class Target:
    """The server(s) under load: one, or the nodes of a cluster (and its nats-server)."""

    host: str
    ports: tuple[int, ...]
    pids: tuple[int, ...] = ()
    nats_pid: int = 0

    @property
    def port(self) -> int:
        return self.ports[0]

    @property
    def pid(self) -> int:
        """Nonzero when the servers' PIDs are known (for RSS and CPU)."""
        return self.pids[0] if self.pids and all(self.pids) else 0

    def rss_kib(self) -> int:
        return sum(procfs.rss_kib(p) for p in self.pids)

    def cpu_seconds(self) -> float:
        return sum(procfs.cpu_seconds(p) for p in self.pids)

    def write_calls(self) -> int:
        return sum(procfs.write_calls(p) for p in self.pids)


def connect(pool: Pool, plan: Plan, timeout: float) -> Result:
    """Log the plan's members in, the probes last: a room writes its members in the order they
    joined, so each message has passed its whole fan-out before a probe sees it (the shape of
    issue 16's instrument; probes in the middle would time part of the fan-out only)."""
    replies: list[dict[str, Any]] = []
    for group in (
        [m for m in plan.members if not m.probe],
        [m for m in plan.members if m.probe],
    ):
        if group:
            shares = deal(group, len(pool.conns))
            replies += pool.call(
                [{"op": "connect", "members": s, "timeout": timeout} for s in shares],
                timeout + 10,
            )
    ready = sum(r["ready"] for r in replies)
    failed = [f for r in replies for f in r["failed"]]
    seconds = max(r["t1"] for r in replies) - min(r["t0"] for r in replies)
    return {
        "connected": ready,
        "failed": sum(r["nfailed"] for r in replies),
        "failures": failed[:5],
        "ramp_s": seconds,
        "ramp_per_s": ready / seconds if seconds else 0.0,
    }


def run_connections(target: Target, plan: Plan, config: WorkerConfig, args: Any) -> Result:
    progress = Progress()
    rss0 = [procfs.rss_kib(p) for p in target.pids] if target.pid else []
    nats0 = procfs.cpu_seconds(target.nats_pid) if target.nats_pid else 0.0
    ramp_cpu0 = target.cpu_seconds()
    pool = Pool(args.workers, config)
    try:
        progress.show(f"connecting {len(plan.members):,} ...")
        t_ramp = time.monotonic()
        out = connect(pool, plan, args.timeout)
        ramp = time.monotonic() - t_ramp
        if target.pid and ramp:
            out["server_ramp_cpu_pct"] = 100 * (target.cpu_seconds() - ramp_cpu0) / ramp
        if target.nats_pid and ramp:
            out["nats_ramp_cpu_pct"] = 100 * (procfs.cpu_seconds(target.nats_pid) - nats0) / ramp
        cpu0, t0 = target.cpu_seconds(), time.monotonic()
        end = t0 + args.hold
        while (now := time.monotonic()) < end:
            s = pool.stats()
            progress.show(f"holding {s['open']:,} connections, {end - now:.0f}s left")
            time.sleep(min(POLL * 5, max(0.0, end - time.monotonic())))
        cpu1, t1 = target.cpu_seconds(), time.monotonic()
        s = pool.stats()
        rss1 = [procfs.rss_kib(p) for p in target.pids] if target.pid else []
        out |= {"held": s["open"], "lost": s["lost"], "hold_s": t1 - t0}
        if target.pid:
            out |= {
                "rss_before_kib": sum(rss0),
                "rss_after_kib": sum(rss1),
                "rss_per_conn_kib": (sum(rss1) - sum(rss0)) / s["open"] if s["open"] else 0.0,
                "idle_cpu_pct": 100 * (cpu1 - cpu0) / (t1 - t0),
            }
            if len(rss1) > 1:
                out |= {"rss_nodes_kib": rss1, "rss_node_max_kib": max(rss1)}
        if target.nats_pid:
            out["nats_rss_kib"] = procfs.rss_kib(target.nats_pid)
        return out
    finally:
        progress.done()
        pool.close()


def run_traffic(
    target: Target,
    plan: Plan,
    config: WorkerConfig,
    args: Any,
    tick: Callable[[], None] | None = None,
    connected: Callable[[], None] | None = None,
) -> Result:
    """fanout and rooms: connect everyone, post (rate or in-flight), count, time, report.

    `tick` (if any) is called on every poll while traffic runs; it must be cheap. `connected`
    (if any) is called once everyone is in, before traffic starts; the server's RSS growth
    (`rss_growth_kib`) is counted from then to the end of the traffic."""
    dialect = DIALECTS[config.dialect]
    progress = Progress()
    rss0 = target.rss_kib() if target.pid else 0
    pool = Pool(args.workers, config)
    try:
        progress.show(f"connecting {len(plan.members):,} ...")
        out = connect(pool, plan, args.timeout)
        if out["failed"]:
            raise SystemExit(f"{out['failed']} connections failed: {out['failures']}")
        rss_connected = target.rss_kib() if target.pid else 0
        if target.pid:
            out["rss_per_conn_kib"] = (rss_connected - rss0) / out["connected"]
        if connected is not None:
            connected()
        expected = plan.expected(args.messages, dialect.echo) if args.messages else 0
        start = {"op": "start", "inflight": args.inflight, "rate": 0.0, "messages": args.messages}
        if not args.inflight:
            start["rate"] = args.rate / sum(plan.senders_in.values())  # per sender
        base = pool.stats()
        t_start = time.monotonic()  # before any worker can send
        pool.call(start, 10)
        warm_end = t_start + (0.0 if expected else args.warmup)
        deadline = t_start + (args.timeout if expected else args.warmup + args.duration)
        a: Result | None = None
        a_cpu = a_nats = 0.0
        a_writes = 0
        while True:
            s = pool.stats()
            now = time.monotonic()
            if a is None and now >= warm_end:
                a, a_cpu = (base if expected else s), target.cpu_seconds()
                a_nats = procfs.cpu_seconds(target.nats_pid) if target.nats_pid else 0.0
                a_writes = target.write_calls()
                a["t"] = t_start if expected else now
            got = s["delivered"] - base["delivered"]
            if tick is not None:
                tick()
            progress.show(
                f"{got:,} delivered, {s['sent'] - base['sent']:,} sent, {s['open']:,} open"
            )
            if (expected and got >= expected) or now >= deadline or s["open"] < out["connected"]:
                break
            time.sleep(POLL if not expected else 0.02)
        b_cpu = target.cpu_seconds()
        b_nats = procfs.cpu_seconds(target.nats_pid) if target.nats_pid else 0.0
        b_writes = target.write_calls()
        if target.pid:
            out["rss_growth_kib"] = target.rss_kib() - rss_connected
        b = pool.call({"op": "stop"}, 10)
        assert a is not None
        t1 = max(r["t"] for r in b)
        b_sum = {k: sum(r[k] for r in b) for k in ("delivered", "sent", "open", "lost", "cpu")}
        secs = t1 - a["t"]
        out |= {
            "seconds": secs,
            "delivered": b_sum["delivered"] - a["delivered"],
            "sent": b_sum["sent"] - a["sent"],
            "deliveries_per_s": (b_sum["delivered"] - a["delivered"]) / secs,
            "messages_per_s": (b_sum["sent"] - a["sent"]) / secs,
            "bench_cpu_pct": 100 * (b_sum["cpu"] - a["cpu"]) / secs,
            "lost": b_sum["lost"],
        }
        if expected:
            out["expected"] = expected
        if target.nats_pid:
            out["nats_cpu_pct"] = 100 * (b_nats - a_nats) / secs
        if target.pid:
            out["server_cpu_pct"] = 100 * (b_cpu - a_cpu) / secs  # all nodes together
            used = b_cpu - a_cpu + b_nats - a_nats  # the nodes' and nats-server's CPU seconds
            if used > 0:
                out["deliveries_per_cpu_s"] = out["delivered"] / used
            # /proc counts write()/writev() (uvloop's), not send() (asyncio's): then it is 0.
            writes = b_writes - a_writes
            if writes > 0:
                out["deliveries_per_write"] = out["delivered"] / writes
        window = {"op": "samples", "t0_ns": int(a["t"] * 1e9), "t1_ns": int(t1 * 1e9)}
        out |= percentiles([r["latencies"] for r in pool.call(window, 30)])
        return out
    finally:
        progress.done()
        pool.close()


SOAK_SAMPLE = 10.0
"""Seconds between the soak's samples of the server's RSS."""


def run_soak(target: Target, plan: Plan, config: WorkerConfig, args: Any) -> Result:
    """rooms traffic at a steady rate for `--minutes`, with connection churn beside it; the
    server's RSS is sampled every `SOAK_SAMPLE` s, and every stable member must get exactly
    every message sent to its room (zero loss)."""
    samples: list[tuple[float, int]] = []
    t0 = time.monotonic()

    def sample() -> None:
        now = time.monotonic()
        if target.pid and (not samples or now - t0 - samples[-1][0] >= SOAK_SAMPLE):
            samples.append((now - t0, target.rss_kib()))

    churner = Churner(target.host, target.port, args.churn, sorted(plan.rooms))
    try:
        out = run_traffic(target, plan, config, args, tick=sample)
    finally:
        out_churn = churner.stop()
    out |= out_churn
    out["lost_messages"] = out.get("expected", 0) - out["delivered"]
    if samples:
        rss = [kib for _, kib in samples]
        settled = rss[len(rss) // 10 :] or rss  # after the first tenth: warm-up allocations
        out |= {
            "rss_first_kib": settled[0],
            "rss_last_kib": rss[-1],
            "rss_max_kib": max(rss),
            "rss_growth_pct": 100 * (rss[-1] - settled[0]) / settled[0],
            "rss_series": samples,
        }
    return out


def run_attacked(target: Target, plan: Plan, config: WorkerConfig, args: Any) -> Result:
    """fanout or rooms traffic while an attacker (`chat.bench.attacks`) hits the first server
    from 127.0.0.2, from the moment everyone is in until the traffic ends."""
    attacker: Attacker | None = None
    room = sorted(plan.rooms)[0]  # where a stuck member sits: a room with traffic

    def begin() -> None:
        nonlocal attacker
        attacker = Attacker(args.attack, target.host, target.port, room)

    attacked: Result = {}
    try:
        out = run_traffic(target, plan, config, args, connected=begin)
    finally:
        if attacker is not None:
            attacked = attacker.stop()
    return out | attacked
