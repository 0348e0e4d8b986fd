"""chat-bench at a tiny size against a real `chat-server` process: every scenario runs, the
numbers it reports add up (a fixed message count is delivered exactly), --compare-floor drives
both servers, --spawn-cluster a real nats-server with chat-server nodes, --attack a hostile
client beside the traffic, and budgets are judged; `--dialect irc` loads our IRC listener and
`--compare-ngircd` Debian's ngircd beside it (when ngircd is installed). Behaviour only: how fast
is `make perf`'s question. Bounded: each run has a subprocess timeout and chat-bench's own
--timeout; all of it on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from chat.bench import cli, servers
from chat.bench.attacks import stuck
from chat.bench.cluster import deal, spread
from chat.bench.frames import IRC, JSON, TEXT
from chat.bench.scenarios import pace_by_members, plan_connections, plan_fanout
from chat.bench.workers import Member, MemberSpec, Straddle
from tests.helpers import TEST_FLAGS, TextClient, running_server

RUN_TIMEOUT = 60


class Server:
    """`chat-server --port 0` as a child; its port from the `server.started` log line."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chat", "--port", "0", "--log-format", "json", *TEST_FLAGS],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        self.port = 0
        self._started = threading.Event()
        # One thread reads the log for as long as the server runs, so the pipe never fills.
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._started.wait(20) or not self.port:
            self.stop()
            raise AssertionError("chat-server did not log server.started")

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            if not self.port and b"server.started" in raw:
                self.port = int(json.loads(raw)["port"])
                self._started.set()
        self._started.set()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        assert self.proc.wait(10) == 0
        self._reader.join(10)


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    try:
        yield srv
    finally:
        srv.stop()


def bench(tmp_path: Path, *args: str, status: int = 0) -> dict[str, Any]:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "chat.bench.cli", *args, "--workers", "2", "--timeout", "20",
         "--json", str(out)],
        capture_output=True, text=True, timeout=RUN_TIMEOUT,
    )  # fmt: skip
    assert proc.returncode == status, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc: dict[str, Any] = json.loads(out.read_text())
    assert doc["scenario"] == args[0] and doc["machine"]["cpus"]
    assert "deliveries/s" in proc.stdout or "held" in proc.stdout  # the summary table
    return doc


def target(srv: Server) -> list[str]:
    return ["--port", str(srv.port), "--server-pid", str(srv.proc.pid)]


def test_connections_are_held_and_measured(server: Server, tmp_path: Path) -> None:
    doc = bench(tmp_path, "connections", *target(server), "--members", "60", "--room-size", "7",
                "--hold", "0.5")  # fmt: skip
    run = doc["runs"]["given"][0]
    assert run["connected"] == run["held"] == 60 and run["lost"] == 0
    assert run["ramp_per_s"] > 0 and run["rss_after_kib"] > 0
    assert run["idle_cpu_pct"] >= 0  # a share of CPU time: how small is make perf's business


def test_fanout_in_flight_delivers_every_message_to_every_member(
    server: Server, tmp_path: Path
) -> None:
    doc = bench(tmp_path, "fanout", *target(server), "--members", "30", "--senders", "3",
                "--messages", "20", "--inflight", "5", "--probes", "3")  # fmt: skip
    run = doc["runs"]["given"][0]
    # JSON clients get their own messages back: each message reaches all 30 members.
    assert run["delivered"] == run["expected"] == 30 * 3 * 20
    assert run["sent"] == 3 * 20 and run["lost"] == 0
    assert run["deliveries_per_s"] > 0
    # Every probe timed every message: 3 probes x 60 messages.
    assert run["samples"] == 3 * 60
    assert 0 < run["lat_p50_ms"] <= run["lat_p95_ms"] <= run["lat_p99_ms"] <= run["lat_max_ms"]


def test_fanout_at_a_fixed_rate_in_the_text_dialect(server: Server, tmp_path: Path) -> None:
    doc = bench(tmp_path, "fanout", *target(server), "--dialect", "text", "--members", "20",
                "--senders", "2", "--rate", "200", "--messages", "10", "--probes", "2")  # fmt: skip
    run = doc["runs"]["given"][0]
    # A text sender does not get its own line back.
    assert run["delivered"] == run["expected"] == 2 * 10 * 19
    assert run["samples"] == 2 * 2 * 10


def test_rooms_deliver_only_within_each_room(server: Server, tmp_path: Path) -> None:
    doc = bench(tmp_path, "rooms", *target(server), "--rooms", "5", "--room-size", "4",
                "--messages", "10", "--inflight", "3", "--probes", "5")  # fmt: skip
    run = doc["runs"]["given"][0]
    assert run["delivered"] == run["expected"] == 5 * 10 * 4
    assert run["samples"] == 5 * 10  # one probe per room sees its room's 10 messages


def test_soak_loses_nothing_while_connections_churn(server: Server, tmp_path: Path) -> None:
    doc = bench(tmp_path, "soak", *target(server), "--rooms", "4", "--room-size", "3", "--senders",
                "1", "--rate", "40", "--minutes", "0.025", "--churn", "10")  # fmt: skip
    (run,) = doc["runs"]["given"]
    assert run["expected"] == 4 * 15 * 3  # 4 rooms, 15 messages each (10/s for 1.5 s), 3 members
    assert run["delivered"] == run["expected"] and run["lost_messages"] == 0
    assert run["churned"] > 0 and run["churn_failed"] == 0
    assert run["rss_first_kib"] > 0 and len(run["rss_series"]) >= 1


def test_compare_floor_runs_both_servers_and_reports_the_ratio(tmp_path: Path) -> None:
    doc = bench(tmp_path, "fanout", "--compare-floor", "--members", "20", "--senders", "2",
                "--messages", "10", "--inflight", "4")  # fmt: skip
    for kind in ("chat", "floor"):
        run = doc["runs"][kind][0]
        assert run["delivered"] == run["expected"] == 20 * 2 * 10
        assert run["server_cpu_pct"] >= 0 and run["rss_per_conn_kib"] > 0
    ratio = doc["ratio"]["deliveries_per_s"]
    assert (
        ratio
        == doc["medians"]["chat"]["deliveries_per_s"] / doc["medians"]["floor"]["deliveries_per_s"]
    )


@pytest.mark.parametrize("dialect", [JSON, TEXT, IRC])
def test_counting_finds_markers_split_across_any_chunk_boundaries(dialect: Any) -> None:
    rng = random.Random(7)
    line = dialect.message_marker.lstrip(b"\n") + b' "L00001 5 x"'
    stream = b"".join(rng.choice([line + b"\n", b"* noise\n", b"[pm] <a> b\n"]) for _ in range(500))
    expected = (b"\n" + stream).count(dialect.message_marker)
    for _ in range(20):
        counter, pos = Straddle(dialect.message_marker), 0
        while pos < len(stream):
            step = rng.choice([1, 2, 3, 7, 64, 1000])
            counter.feed(stream[pos : pos + step])
            pos += step
        assert counter.count == expected > 0


def test_a_spawned_cluster_delivers_across_nodes_and_compares_with_one_node(
    tmp_path: Path,
) -> None:
    doc = bench(tmp_path, "fanout", "--spawn-cluster", "2", "--compare-single",
                "--members", "20", "--senders", "2", "--messages", "10", "--inflight", "4",
                "--probes", "2")  # fmt: skip
    for kind in ("single", "2 nodes"):
        (run,) = doc["runs"][kind]
        assert run["delivered"] == run["expected"] == 20 * 2 * 10 and run["lost"] == 0
        assert run["server_cpu_pct"] >= 0 and run["samples"] == 2 * 2 * 10
    (cluster,) = doc["runs"]["2 nodes"]
    assert cluster["nats_slow_consumers"] == 0 and cluster["node_warnings"] == {}
    assert cluster["nats_in_msgs"] >= 2 * 10  # every message crossed the broker
    assert "2 nodes/single" in doc["ratios"]


def test_a_cluster_holds_connections_on_every_node(tmp_path: Path) -> None:
    doc = bench(tmp_path, "connections", "--spawn-cluster", "3", "--members", "60",
                "--room-size", "7", "--hold", "0.5")  # fmt: skip
    (run,) = doc["runs"]["3 nodes"]
    assert run["connected"] == run["held"] == 60 and run["lost"] == 0
    assert len(run["rss_nodes_kib"]) == 3 and min(run["rss_nodes_kib"]) > 0


def test_connections_spread_over_the_rooms_or_fill_them_in_order() -> None:
    spread_rooms = [m.room for m in plan_connections(10, 4).members]
    assert spread_rooms == ["#c0", "#c1", "#c2"] * 3 + ["#c0"]  # 3 rooms, the next login elsewhere
    in_order = [m.room for m in plan_connections(10, 4, in_order=True).members]
    assert in_order == ["#c0"] * 4 + ["#c1"] * 4 + ["#c2"] * 2


def test_spread_puts_senders_on_the_first_node_and_their_pacers_on_the_last() -> None:
    plan = plan_fanout(members=40, senders=2, probes=4)
    spread_ = spread(plan.members, 3)
    assert [m.node for m in spread_ if m.sender >= 0] == [0, 0]
    assert all(m.node != 0 for m in spread_ if m.probe)
    pacers = {m.paces: m for m in spread_ if m.paces >= 0}
    assert sorted(pacers) == [0, 1] and all(m.node == 2 and m.sender < 0 for m in pacers.values())
    assert {m.node for m in spread_} == {0, 1, 2}
    # A pacer is dealt to the worker of the sender it paces (it tops that sender up).
    for share in deal(spread_, 3):
        senders = {m.sender for m in share if m.sender >= 0}
        assert {m.paces for m in share if m.paces >= 0 and m.sender < 0} <= senders
    # One node: every sender paces itself, as before.
    assert all(m.paces == m.sender for m in spread(plan.members, 1) if m.sender >= 0)


def test_a_login_answered_with_an_error_is_a_failure_not_a_wait() -> None:
    welcome = b'{"type":"welcome","nick":"a"}\n'
    refused = b'{"type":"error","code":"cluster-down","message":"x"}\n'
    assert JSON.refused(welcome + refused) == refused.decode().strip()
    assert JSON.refused(welcome + b'{"type":"who","room":"#c1"') is None
    assert TEXT.refused(b"! nick-taken: pick another\n") == "! nick-taken: pick another"
    assert TEXT.refused(b"* welcome\n[#lobby] <b> ! not an error\n") is None


# --- IRC: our listener, and ngircd beside it ----------------------------------------------------


def test_fanout_in_flight_over_irc_delivers_every_message_to_every_other_member(
    tmp_path: Path,
) -> None:
    doc = bench(tmp_path, "fanout", "--spawn", "--dialect", "irc", "--members", "30",
                "--senders", "3", "--messages", "20", "--inflight", "5",
                "--probes", "3")  # fmt: skip
    (run,) = doc["runs"]["chat"]
    # No echo-message asked for: a sender does not get its own PRIVMSGs back.
    assert run["delivered"] == run["expected"] == 29 * 3 * 20
    assert run["sent"] == 3 * 20 and run["lost"] == 0
    assert run["samples"] == 3 * 60  # every probe timed every message


def test_rooms_over_irc_deliver_only_within_each_room(tmp_path: Path) -> None:
    # Members JOIN their room and PART the #lobby our server put them in.
    doc = bench(tmp_path, "rooms", "--spawn", "--dialect", "irc", "--rooms", "3",
                "--room-size", "4", "--messages", "5", "--rate", "100",
                "--probes", "3")  # fmt: skip
    (run,) = doc["runs"]["chat"]
    assert run["delivered"] == run["expected"] == 3 * 5 * 3
    assert run["samples"] == 3 * 5


def test_connections_over_irc_are_held(tmp_path: Path) -> None:
    doc = bench(tmp_path, "connections", "--spawn", "--dialect", "irc", "--members", "40",
                "--room-size", "7", "--hold", "0.3")  # fmt: skip
    (run,) = doc["runs"]["chat"]
    assert run["connected"] == run["held"] == 40 and run["lost"] == 0


def test_without_echoes_a_plain_member_paces_each_sender() -> None:
    plan = plan_fanout(members=12, senders=2, probes=3)
    paced = pace_by_members(plan.members)
    assert [m.paces for m in paced if m.sender >= 0] == [-1, -1]
    pacers = {m.paces: i for i, m in enumerate(paced) if m.paces >= 0}
    assert pacers == {0: 5, 1: 6}  # the first members that neither post nor time
    for share in deal(paced, 2):  # and each goes to the worker of the sender it paces
        senders = {m.sender for m in share if m.sender >= 0}
        assert {m.paces for m in share if m.paces >= 0} <= senders


def test_an_irc_login_waits_for_its_room_and_knows_a_refusal() -> None:
    assert IRC.login("ab1", "#lobby") == b"NICK ab1\r\nUSER ab1 0 * :ab1\r\nJOIN #lobby\r\n"
    assert IRC.login("ab1", "#r1").endswith(b"JOIN #r1\r\nPART #lobby\r\n")
    assert IRC.ready_marker("#r1", "ab1") in b":s 366 ab1 #r1 :End of /NAMES list\r\n"
    assert IRC.refused(b":s 433 * ab1 :Nickname is already in use\r\n") == (
        ":s 433 * ab1 :Nickname is already in use"
    )
    closed = b"ERROR :Closing link: server-full\r\n"
    assert IRC.refused(closed) == closed.decode().strip()
    # ngircd never put us in #lobby: its answer to our PART is no refusal; nor is the MOTD.
    assert IRC.refused(b":s 001 ab1 :Welcome\r\n:s 403 ab1 #lobby :No such channel\r\n") is None
    assert IRC.refused(b":s 372 ab1 :- ERROR 433 is fine in a MOTD\r\n") is None


async def test_an_irc_member_answers_every_ping_even_split_across_reads() -> None:
    written: list[bytes] = []
    worker = SimpleNamespace(
        loop=asyncio.get_running_loop(), dialect=IRC, delivered=0, irc_server=b"",
        echoed=lambda m, n: None, closed=lambda m: None,
    )  # fmt: skip
    member = Member(cast(Any, worker), MemberSpec("ab1", "#lobby"))
    member.transport = cast(Any, SimpleNamespace(write=written.append, is_closing=lambda: False))
    stream = (
        b":irc.example 001 ab1 :Welcome\r\nPING :irc.example\r\n"
        b":s 366 ab1 #lobby :End of NAMES list\r\n:a!a@h PRIVMSG #lobby :L00001 5 x\r\n"
        b"PING :irc.example\r\n:a!a@h PRIVMSG #lobby :L00001 6 x\r\nPING :irc.example\r\n"
    )
    for at in range(0, len(stream), 7):  # PINGs cut anywhere
        member.data_received(stream[at : at + 7])
    assert member.ready.result() is True
    assert written == [b"PONG :irc.example\r\n"] * 3
    assert worker.delivered == 2


@pytest.mark.skipif(servers.find_ngircd() is None, reason="ngircd is not installed "
                    "(Debian: apt-get install ngircd)")  # fmt: skip
def test_compare_ngircd_runs_ngircd_and_our_two_dialects(tmp_path: Path) -> None:
    doc = bench(tmp_path, "fanout", "--compare-ngircd", "--members", "20", "--senders", "2",
                "--messages", "10", "--inflight", "4", "--probes", "2")  # fmt: skip
    for kind, echo in (("chat json", True), ("chat irc", False), ("ngircd", False)):
        (run,) = doc["runs"][kind]
        assert run["delivered"] == run["expected"] == (20 if echo else 19) * 2 * 10, kind
        assert run["lost"] == 0 and run["samples"] == 2 * 2 * 10
        assert run["server_cpu_pct"] >= 0 and run["rss_per_conn_kib"] > 0
    assert set(doc["ratios"]) == {"chat irc/ngircd", "chat irc/chat json"}


def test_compare_ngircd_without_ngircd_says_so_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(servers, "NGIRCD_PATHS", ())
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["fanout", "--compare-ngircd", "--members", "10"])
    assert str(exit_.value) == "ngircd not found: install Debian's package (apt-get install ngircd)"


# --- attacks and budgets (make perf): that they run and judge, not how fast anything is ------

TINY = ("--members", "6", "--senders", "1", "--probes", "2", "--rate", "20",
        "--warmup", "0.2", "--duration", "0.75")  # fmt: skip
NEVER_MISSED = ("--max-p99-ms", "60000", "--min-samples", "1", "--max-rss-growth-mib", "4096")


@pytest.mark.parametrize("kind", ["burst", "churn", "bigline", "flood"])
def test_an_attack_runs_beside_the_traffic_and_is_handled(tmp_path: Path, kind: str) -> None:
    doc = bench(tmp_path, "fanout", "--spawn", "--attack", kind, *TINY, *NEVER_MISSED)
    (run,) = doc["runs"]["chat"]
    assert run["attack"] == kind and run["attacks"] >= 1, run
    assert run["attacks_unexpected"] == 0, run["attack_problem"]
    assert run["lost"] == 0 and run["samples"] > 0
    assert doc["budgets"] and all(b["met"] for b in doc["budgets"]), doc["budgets"]


def test_a_missed_budget_is_said_and_fails_the_run(tmp_path: Path) -> None:
    # Too few latency samples for the p99 asked: a budget that cannot be met by any machine.
    doc = bench(tmp_path, "fanout", "--spawn", *TINY, "--max-p99-ms", "60000",
                "--min-samples", "1000000000", status=1)  # fmt: skip
    missed = [b["budget"] for b in doc["budgets"] if not b["met"]]
    assert len(missed) == 1 and missed[0].startswith("latency samples"), doc["budgets"]


async def test_a_stuck_member_attack_sees_the_cut() -> None:
    """`chat.bench.attacks.stuck` returns once the server has cut its never-reading member,
    although nothing reaches the member's socket to say so."""
    async with running_server(queue_bytes=16 * 1024, queue_messages=64) as srv:
        attack = asyncio.ensure_future(stuck("127.0.0.1", srv.port, 1, "#lobby"))
        sender = await TextClient.login(srv.port, "sender")  # text: no echo it would not read
        line = "x" * 2000
        async with asyncio.timeout(40):
            while not attack.done():  # the kernel takes a few MB for it before the server
                for _ in range(100):
                    await sender.send(line)
                await asyncio.wait([attack], timeout=0.01)
        assert attack.result() == (True, "")
        assert srv.stats.disconnects["slow-consumer"] == 1
