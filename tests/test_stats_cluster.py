"""Cluster-wide stats. End to end with real everything: a real nats-server, two in-process chat
servers each with a `StatsReporter` on its own NATS connection, real chat clients, and
`chat-stats` as a child process queried over HTTP. And the report wire format without I/O.

Nothing sleeps to wait: every wait polls an endpoint or a log with a deadline.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import nats
import nats.errors
import pytest
from nats.aio.client import Client as NatsClient

from chat.cluster.reporter import StatsReporter
from chat.cluster.reportwire import (
    MAX_REPORT_BYTES,
    REPORT_ROOMS,
    Report,
    decode_members,
    decode_members_request,
    decode_report,
    encode_members_request,
    encode_report,
    members_subject,
    report_subject,
)
from chat.core.stats import RoomSnapshot, Stats, snapshot
from chat.net.server import ChatServer
from chat.sidecar.embed import running_sidecar
from chat.sidecar.standalone import StatsSettings, redact
from tests.helpers import TIMEOUT, JsonClient, ServerProcess, TextClient, running_server
from tests.natsd import free_port, running_nats
from tests.test_sidecar import get, metrics, until

CHAT_STATS = Path(sys.executable).parent / "chat-stats"
INTERVAL = 0.2
"""Seconds between a test node's reports."""
STALE = 1.0
"""chat-stats' staleness bound in these tests: five missed reports."""


@asynccontextmanager
async def reporting(url: str, node: str, server: ChatServer) -> AsyncIterator[StatsReporter]:
    """`server` reports as `node` on its own NATS connection, as a cluster node does."""
    nc = await nats.connect(url, reconnect_time_wait=0.1, max_reconnect_attempts=-1)
    reporter = StatsReporter(nc, node, server.hub, interval=INTERVAL)
    await reporter.start()
    try:
        yield reporter
    finally:
        await reporter.stop()
        await nc.close()


async def start_chat_stats(*args: str) -> ServerProcess:
    """`chat-stats` as a child process on a free port, once it logged `stats.started`."""
    proc = await asyncio.create_subprocess_exec(
        str(CHAT_STATS), "--port", "0", "--log-format", "json", *args,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stats = ServerProcess(proc)
    started = await stats.log_event("stats.started", timeout=15)
    stats.port = int(started["port"])
    return stats


@asynccontextmanager
async def http_for(stats: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    base = f"http://127.0.0.1:{stats.port}"
    async with httpx.AsyncClient(base_url=base, trust_env=False, timeout=TIMEOUT) as http:
        yield http


async def no_responders(nc: NatsClient, subject: str, timeout: float = TIMEOUT) -> None:
    """Wait until NATS says nobody answers on `subject`.

    Polled: nats-py 2.16's `flush()` writes its PING ahead of the SUB/UNSUB commands still
    queued for its flusher task, so it is no barrier for interest changes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            await nc.request(subject, encode_members_request("#lobby", 0, 1), timeout=0.2)
        except nats.errors.NoRespondersError:
            return
        except nats.errors.TimeoutError:
            pass
        await asyncio.sleep(0.02)  # pacing between polls
    raise AssertionError(f"someone still answers on {subject}")


def node_ids(body: dict[str, Any]) -> list[str]:
    return [n["id"] for n in body["items"]]


# --- end to end ---------------------------------------------------------------------------


async def test_chat_stats_merges_every_nodes_numbers(tmp_path: Path) -> None:
    async with (
        running_nats(tmp_path) as broker,
        running_server() as one,
        running_server() as two,
        reporting(broker.url, "node-a", one),
        reporting(broker.url, "node-b", two) as reporter_b,
    ):
        stats = await start_chat_stats("--nats", broker.url, "--stale-after", str(STALE))
        try:
            alice = await TextClient.login(one.port, "alice")
            bob = await JsonClient.login(one.port, "bob")
            carol = await TextClient.login(two.port, "carol")
            await bob.send_json(type="join", room="#dev")
            await bob.event("who", lambda ev: ev["room"] == "#dev")
            await carol.send("/join #DEV")
            await carol.expect(r"^\* #DEV \(")
            await alice.send("hi")  # one message on node-a, to bob there
            await bob.event("message", lambda ev: ev["text"] == "hi")

            async with http_for(stats) as http:
                assert (await get(http, "/health"))["status"] == "ok"
                # Reports are snapshots every 0.2 s: one taken after the logins but before
                # "hi" shows 3 connections and no message yet; wait for the one after both.
                merged = await until(
                    http,
                    "/stats",
                    lambda s: (
                        s["nodes"] == 2
                        and s["connections"]["current"] == 3
                        and s["messages"]["delivered"]["total"] == 1
                    ),
                )
                assert merged["connections"]["registered_total"] == 3
                assert merged["messages"]["received"]["total"] == 1
                assert merged["messages"]["delivered"]["total"] == 1

                nodes = await get(http, "/nodes")
                assert nodes["total"] == 2
                assert [
                    (n["id"], n["stats"]["nodes"], n["stats"]["connections"]["current"])
                    for n in nodes["items"]
                ] == [("node-a", 1, 2), ("node-b", 1, 1)]
                assert all(0 <= n["report_age_seconds"] < STALE for n in nodes["items"])

                # #dev exists on both nodes (as "#dev" and "#DEV"): one room, members added.
                rooms = await until(
                    http, "/rooms", lambda r: [x["members"] for x in r["items"]] == [3, 2]
                )
                assert rooms["total"] == 2
                assert [r["name"] for r in rooms["items"]] == ["#lobby", "#dev"]
                assert (await get(http, "/stats"))["rooms"] == 2
                biggest = await get(http, "/rooms?order=members&limit=1&offset=1")
                assert [r["name"] for r in biggest["items"]] == ["#dev"]

                # Member pages come from the nodes, node by node (by id), across the boundary.
                lobby = await get(http, "/rooms/%23lobby")
                assert lobby["members"] == 3 and lobby["messages_total"] == 1
                assert lobby["member_list"]["total"] == 3
                assert lobby["member_list"]["items"] == [
                    {"nick": "alice", "dialect": "text"},
                    {"nick": "bob", "dialect": "json"},
                    {"nick": "carol", "dialect": "text"},
                ]
                page = (await get(http, "/rooms/LOBBY?offset=1&limit=2"))["member_list"]
                assert [m["nick"] for m in page["items"]] == ["bob", "carol"]
                dev = await get(http, "/rooms/dev")
                assert [m["nick"] for m in dev["member_list"]["items"]] == ["bob", "carol"]
                assert (await get(http, "/rooms/nowhere", status=404))["error"] == "no-such-room"

                m = await metrics(http)
                assert m[("chat_connections", ())] == 3
                assert m[("chat_nodes", ())] == 2
                assert m[("chat_rooms", ())] == 2
                assert m[("chat_node_connections", (("node", "node-a"),))] == 2
                assert m[("chat_node_connections", (("node", "node-b"),))] == 1

                # node-b stops reporting: it drops out after the staleness bound.
                await reporter_b.stop()
                gone = await until(
                    http, "/nodes", lambda n: node_ids(n) == ["node-a"], timeout=STALE + TIMEOUT
                )
                assert gone["total"] == 1
                merged = await get(http, "/stats")
                assert (merged["nodes"], merged["connections"]["current"]) == (1, 2)
                assert (await get(http, "/rooms/dev"))["members"] == 1
                lost = await stats.log_event("stats.node_lost", lambda e: e["node"] == "node-b")
                assert lost["silent_seconds"] > STALE
            for c in (alice, bob, carol):
                await c.close()
        finally:
            assert await stats.stop() == 0
    events = [e.get("event") for e in stats.logs]
    assert events.count("stats.node_seen") == 2 and events[-1] == "stats.stopped"


async def test_chat_stats_rides_out_a_nats_restart(tmp_path: Path) -> None:
    async with (
        running_nats(tmp_path) as broker,
        running_server() as one,
        reporting(broker.url, "solo", one),
    ):
        stats = await start_chat_stats("--nats", broker.url, "--stale-after", str(STALE))
        try:
            async with http_for(stats) as http:
                await until(http, "/nodes", lambda n: node_ids(n) == ["solo"])
                await broker.kill()
                await stats.log_event("stats.nats_disconnected")
                # No reports get through: the node goes stale, the sidecar keeps serving.
                empty = await until(http, "/stats", lambda s: s["nodes"] == 0)
                assert empty["connections"]["current"] == 0
                assert (await get(http, "/health"))["status"] == "ok"
                await broker.start()  # same port: both clients reconnect on their own
                await stats.log_event("stats.nats_reconnected", timeout=15)
                await until(http, "/nodes", lambda n: node_ids(n) == ["solo"], timeout=15)
        finally:
            assert await stats.stop() == 0


async def test_chat_stats_exits_1_when_nats_is_unreachable() -> None:
    closed = free_port()  # nothing listens there
    began = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        str(CHAT_STATS), "--nats", f"nats://user:secret@127.0.0.1:{closed}",
        "--connect-timeout", "1", "--log-format", "json",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 1
    assert time.monotonic() - began < 10
    text = err.decode()
    assert "Traceback" not in text and "secret" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    failed = [e for e in lines if e["level"] == "error"]
    assert [e["event"] for e in failed] == ["stats.failed"]
    assert f"cannot connect to NATS at nats://127.0.0.1:{closed}" in failed[0]["error"]


async def test_chat_stats_exits_1_when_its_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        async with running_nats(tmp_path) as broker:
            proc = await asyncio.create_subprocess_exec(
                str(CHAT_STATS), "--nats", broker.url, "--port", str(busy.getsockname()[1]),
                "--log-format", "json",
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            _, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 1
    failed = [json.loads(line) for line in err.decode().splitlines()]
    assert any(e["event"] == "stats.failed" and "in use" in e["error"] for e in failed)


async def test_reporter_publishes_reports_and_answers_member_pages(tmp_path: Path) -> None:
    async with running_nats(tmp_path) as broker, running_server() as one:
        alice = await TextClient.login(one.port, "alice")
        bob = await JsonClient.login(one.port, "bob")
        nc = await nats.connect(broker.url)
        try:
            reports: asyncio.Queue[bytes] = asyncio.Queue()

            async def on_report(msg: Any) -> None:
                await reports.put(msg.data)

            await nc.subscribe(report_subject("node-a"), cb=on_report)
            await nc.flush()
            async with reporting(broker.url, "node-a", one) as reporter:
                report = decode_report(await asyncio.wait_for(reports.get(), TIMEOUT))
                assert report.node == "node-a"
                assert (report.snapshot.connections, report.snapshot.rooms) == (2, 1)
                assert [(r.name, r.members) for r in report.rooms] == [("#lobby", 2)]
                # Reports keep coming, one per interval.
                await asyncio.wait_for(reports.get(), TIMEOUT)

                subject = members_subject("node-a")
                reply = await nc.request(subject, encode_members_request("#lobby", 0, 5000))
                assert decode_members(reply.data, 10) == [("alice", "text"), ("bob", "json")]
                reply = await nc.request(subject, encode_members_request("#lobby", 1, 1))
                assert decode_members(reply.data, 10) == [("bob", "json")]
                reply = await nc.request(subject, encode_members_request("#nowhere", 0, 1))
                assert decode_members(reply.data, 10) == []
                reply = await nc.request(subject, b"{not json")
                with pytest.raises(ValueError, match="bad members request"):
                    decode_members(reply.data, 10)
                await reporter.stop()
                await no_responders(nc, subject)
        finally:
            await nc.close()
            await alice.close()
            await bob.close()


async def test_the_local_sidecar_lists_one_node() -> None:
    async with running_server() as srv, running_sidecar(srv, tick=0.05) as sidecar:
        alice = await JsonClient.login(srv.port, "alice")
        async with httpx.AsyncClient(base_url=sidecar.url, trust_env=False) as http:
            nodes = await get(http, "/nodes")
            assert node_ids(nodes) == ["local"] and nodes["total"] == 1
            only = nodes["items"][0]
            assert only["report_age_seconds"] == 0
            assert only["stats"]["connections"]["current"] == 1
            m = await metrics(http)
            assert m[("chat_node_connections", (("node", "local"),))] == 1
            assert m[("chat_nodes", ())] == 1
        await alice.close()


def test_the_reporter_needs_no_stats_extra() -> None:
    """A node without fastapi/uvicorn (no `stats` extra) can still report."""
    blocked = ("fastapi", "uvicorn", "starlette", "pydantic", "prometheus_client")
    code = (
        "import sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None\n"
        "import chat.cluster.reporter\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr.decode()


# --- settings -----------------------------------------------------------------------------


def test_chat_stats_settings_flags_and_environment(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        StatsSettings.from_args([], environ={})
    assert exit_info.value.code == 2
    assert "--nats" in capsys.readouterr().err
    env = {"CHAT_STATS_NATS": "nats://a:4222, nats://b:4222", "CHAT_STATS_STALE_AFTER": "2.5"}
    settings = StatsSettings.from_args(["--port", "0"], environ=env)
    assert settings.urls == ["nats://a:4222", "nats://b:4222"]
    assert (settings.port, settings.stale_after, settings.host) == (0, 2.5, "127.0.0.1")
    for bad in (["--stale-after", "0"], ["--port", "70000"]):
        with pytest.raises(SystemExit):
            StatsSettings.from_args(["--nats", "nats://x:1", *bad], environ={})
    with pytest.raises(SystemExit):
        StatsSettings.from_args(["--help"], environ={})
    help_text = capsys.readouterr().out
    for flag in ("--nats", "--host", "--port", "--stale-after", "--log-level", "--log-format"):
        assert flag in help_text
    assert "CHAT_STATS_STALE_AFTER" in help_text and "8080" in help_text
    assert redact("nats://user:pw@host:4222") == "nats://host:4222"
    assert redact("tls://host:4222") == "tls://host:4222"


# --- the report wire format ---------------------------------------------------------------


def _report(rooms: int = 3, topic: str = "café ☕") -> Report:
    stats = Stats(started=1000.0)
    stats.connected()
    stats.connected()
    stats.disconnected("quit")
    stats.messages_received, stats.deliveries = 7, 21
    stats.errors["bad-nick"] += 2
    return Report(
        node="node1-3fa2c1d0",
        snapshot=snapshot(stats, rooms, now=1010.5),
        rooms=[
            RoomSnapshot(
                f"#Room{i}", f"#room{i}", rooms - i, topic, 10 * i, 0.5 if i else None, None
            )
            for i in range(rooms)
        ],
    )


def _doc(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(encode_report(_report()))
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        target = doc
        for p in parents:
            target = target[int(p)] if isinstance(target, list) else target[p]
        if value is _DELETE:
            del target[leaf]
        else:
            target[leaf] = value
    return doc


_DELETE = object()


def test_a_report_round_trips() -> None:
    report = _report()
    data = encode_report(report)
    assert decode_report(data) == report
    assert "café ☕" in data.decode()  # not \u-escaped: the byte budget goes further
    empty = replace(report, rooms=[])
    assert decode_report(encode_report(empty)) == empty


def test_a_report_is_bounded_in_rooms_and_bytes() -> None:
    many = _report(rooms=REPORT_ROOMS + 500, topic="")
    decoded = decode_report(encode_report(many))
    assert decoded.rooms == many.rooms[:REPORT_ROOMS]
    assert decoded.snapshot.rooms == REPORT_ROOMS + 500  # the node still counts them all

    wordy = _report(rooms=REPORT_ROOMS, topic="🐍" * 300)  # 1.2 KiB of topic per room
    data = encode_report(wordy)
    assert len(data) <= MAX_REPORT_BYTES
    kept = decode_report(data).rooms
    assert 0 < len(kept) < REPORT_ROOMS
    assert kept == wordy.rooms[: len(kept)]  # the longest prefix that fits


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        b"[" * 100_000,
        b'{"v": 1, "node": "a", "snapshot": {"taken": NaN}, "rooms": []}',
    ],
)
def test_garbage_is_not_a_report(data: bytes) -> None:
    with pytest.raises(ValueError):
        decode_report(data)


@pytest.mark.parametrize(
    "changes",
    [
        {"v": 2},
        {"node": "no.dots"},
        {"node": ""},
        {"snapshot__connections": -1},
        {"snapshot__connections": True},
        {"snapshot__connections": 1.5},
        {"snapshot__loop_lag": "0"},
        {"snapshot__received_per_second": -0.5},
        {"snapshot__taken": 1e999},
        {"snapshot__rooms": _DELETE},
        {"snapshot__errors": {"bad-nick": "2"}},
        {"snapshot__disconnects": []},
        {"snapshot": None},
        {"rooms": {}},
        {"rooms__0__members": "3"},
        {"rooms__0__topic": None},
        {"rooms__1__messages_per_second": -1},
        {"rooms__0__last_activity": _DELETE},
        {"rooms__0__modes": "imnt"},
        {"rooms__0__modes": "+" + "i" * 100},
        {"rooms__0__modes": 3},
        {"rooms__0__bans": -1},
    ],
)
def test_an_invalid_report_raises_value_error(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        decode_report(json.dumps(_doc(**changes)).encode())


def test_too_many_rooms_is_not_a_report() -> None:
    doc = _doc()
    doc["rooms"] = doc["rooms"][:1] * (REPORT_ROOMS + 1)
    with pytest.raises(ValueError, match="rooms in one report"):
        decode_report(json.dumps(doc).encode())


def test_member_requests_and_replies() -> None:
    assert decode_members_request(encode_members_request("#a", 3, 5000), 1000) == ("#a", 3, 1000)
    for bad in (b"{}", b'{"room": "#a", "offset": -1, "limit": 1}', b"[", b"[" * 100_000):
        with pytest.raises(ValueError):
            decode_members_request(bad, 1000)
    with pytest.raises(ValueError):
        decode_members_request(encode_members_request("#a", 0, 0), 1000)
    assert decode_members(b'[{"nick": "a", "dialect": "text"}] ', 5) == [("a", "text")]
    assert decode_members(b'[{"nick": "a", "dialect": "text"}] ', 0) == []
    for bad in (b'{"error": "no"}', b'{"x": 1}', b'[{"nick": 1, "dialect": "text"}]'):
        with pytest.raises(ValueError):
            decode_members(bad, 5)


def test_reports_subjects_are_one_token_per_node() -> None:
    assert report_subject("node-a") == "chat.stats.node-a"
    assert members_subject("node-a") == "chat.stats.members.node-a"
    with pytest.raises(ValueError):
        report_subject("a.b")
    with pytest.raises(ValueError):
        StatsReporter(None, "a b", None, 1.0)  # type: ignore[arg-type]
