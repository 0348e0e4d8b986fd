"""The stats sidecar end to end: a real server, its sidecar on port 0 on the same loop, real TCP
chat clients, and real HTTP (httpx). Every number is checked against what the test did."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from unittest.mock import ANY

import httpx
from prometheus_client.parser import text_string_to_metric_families

from chat.net.server import ChatServer
from chat.sidecar.embed import Sidecar, running_sidecar
from tests.helpers import TIMEOUT, JsonClient, ServerProcess, TextClient, running_server

Json = dict[str, Any]
WAIT = 30.0  # seconds to wait for a condition that must come (generous: the machine may be busy)


@asynccontextmanager
async def stack(
    tick: float = 0.05, **overrides: Any
) -> AsyncIterator[tuple[ChatServer, Sidecar, httpx.AsyncClient]]:
    async with (
        running_server(**overrides) as srv,
        running_sidecar(srv, tick=tick) as sidecar,
        httpx.AsyncClient(base_url=sidecar.url, trust_env=False, timeout=TIMEOUT) as http,
    ):
        yield srv, sidecar, http


async def get(http: httpx.AsyncClient, path: str, status: int = 200) -> Json:
    r = await http.get(path)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body: Json = r.json()
    return body


async def until(
    http: httpx.AsyncClient, path: str, ok: Callable[[Json], bool], timeout: float = WAIT
) -> Json:
    """Poll `path` until `ok(body)` holds; fail with the last body after `timeout`."""
    body: Json = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = await get(http, path)
        if ok(body):
            return body
        await asyncio.sleep(0.02)
    raise AssertionError(f"{path} never satisfied the condition; last: {body}")


async def metrics(http: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = await http.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


async def test_stats_rooms_and_metrics_report_exactly_what_happened() -> None:
    async with stack() as (srv, _, http):
        assert await get(http, "/health") == {"status": "ok", "uptime_seconds": ANY}
        alice = await TextClient.login(srv.port, "alice")
        bob = await JsonClient.login(srv.port, "bob")
        carol = await JsonClient.login(srv.port, "carol")
        await carol.send_json(type="join", room="#python")
        await carol.event("who", lambda ev: ev["room"] == "#python")
        await carol.send_json(type="topic", room="#python", topic="snakes")
        await carol.event("topic")

        await alice.send("hi all")  # to bob and carol (text: no echo) -> 2 deliveries
        await bob.event("message", lambda ev: ev["text"] == "hi all")
        await carol.event("message", lambda ev: ev["text"] == "hi all")
        await bob.send_json(type="say", text="yo")  # alice, bob (echo), carol -> 3
        await alice.expect(r"<bob> yo")
        await carol.event("message", lambda ev: ev["text"] == "yo")
        await carol.send_json(type="say", room="#python", text="py")  # carol (echo) -> 1
        await carol.event("message", lambda ev: ev["text"] == "py")
        await bob.send_json(type="msg", to="alice", text="psst")  # alice, bob (echo) -> 2
        await alice.expect(r"^\[pm\] <bob> psst")
        await bob.event("private")
        await alice.send("/bogus")
        await alice.expect(r"^! unknown-command")

        stats = await get(http, "/stats")
        assert stats["nodes"] == 1
        assert stats["connections"] == {
            "current": 3,
            "peak": 3,
            "accepted_total": 3,
            "refused_total": 0,
            "registered_total": 3,
        }
        assert stats["rooms"] == 2
        assert stats["messages"]["received"]["total"] == 4
        assert stats["messages"]["delivered"]["total"] == 8
        assert stats["errors"] == {"unknown-command": 1}
        assert stats["disconnects"] == {"slow_consumer": 0, "idle": 0, "by_reason": {}}
        assert stats["uptime_seconds"] >= 0
        assert stats["event_loop"]["lag_seconds"] >= 0

        rooms = await get(http, "/rooms")
        assert (rooms["total"], rooms["offset"], rooms["limit"]) == (2, 0, 100)
        by_name = {r["name"]: r for r in rooms["items"]}
        assert list(by_name) == ["#lobby", "#python"]  # creation order
        lobby, python = by_name["#lobby"], by_name["#python"]
        assert (lobby["members"], lobby["messages_total"], lobby["topic"]) == (3, 2, "")
        assert (python["members"], python["messages_total"], python["topic"]) == (1, 1, "snakes")
        assert lobby["last_activity"] == Near(time.time())
        assert lobby["messages_per_second"] is None  # first look at the room

        biggest = await get(http, "/rooms?order=members&limit=1")
        assert [r["name"] for r in biggest["items"]] == ["#lobby"]
        second = await get(http, "/rooms?order=members&limit=1&offset=1")
        assert [r["name"] for r in second["items"]] == ["#python"]
        assert (await get(http, "/rooms?offset=5"))["items"] == []

        detail = await get(http, "/rooms/%23lobby?limit=2")
        assert detail["members"] == 3 and detail["messages_total"] == 2
        page = detail["member_list"]
        assert (page["total"], page["offset"], page["limit"]) == (3, 0, 2)
        # join order within each dialect: the text member, then the JSON members
        assert page["items"] == [
            {"nick": "alice", "dialect": "text"},
            {"nick": "bob", "dialect": "json"},
        ]
        rest = (await get(http, "/rooms/LOBBY?offset=2&limit=2"))["member_list"]["items"]
        assert rest == [{"nick": "carol", "dialect": "json"}]
        assert (await get(http, "/rooms/python"))["topic"] == "snakes"

        missing = await get(http, "/rooms/nowhere", status=404)
        assert missing["error"] == "no-such-room" and "#nowhere" in missing["message"]
        bad = await get(http, "/rooms/no%20such!", status=404)
        assert bad["error"] == "no-such-room"
        assert (await get(http, "/nothing-here", status=404))["error"] == "not-found"
        assert (await http.get("/rooms?limit=0")).status_code == 422

        m = await metrics(http)
        assert m[("chat_connections", ())] == 3
        assert m[("chat_connections_peak", ())] == 3
        assert m[("chat_rooms", ())] == 2
        assert m[("chat_messages_received_total", ())] == 4
        assert m[("chat_messages_delivered_total", ())] == 8
        assert m[("chat_clients_registered_total", ())] == 3
        assert m[("chat_errors_total", (("code", "unknown-command"),))] == 1

        # Leaving shows up too: bob quits, carol parts #python (which vanishes).
        await bob.send_json(type="quit", reason="bye")
        await carol.send_json(type="part", room="#python")
        await carol.event("part")
        stats = await until(http, "/stats", lambda s: s["connections"]["current"] == 2)
        assert stats["connections"]["peak"] == 3
        assert stats["disconnects"]["by_reason"] == {"quit": 1}
        assert stats["rooms"] == 1
        assert (await get(http, "/rooms/lobby"))["members"] == 2
        await get(http, "/rooms/python", status=404)
        m = await metrics(http)
        assert m[("chat_disconnects_total", (("reason", "quit"),))] == 1
        assert m[("chat_connections", ())] == 2
        for c in (alice, bob, carol):
            await c.close()


async def test_a_slow_consumer_cut_is_counted() -> None:
    async with stack(queue_messages=16, queue_bytes=8 * 1024) as (srv, _, http):
        # The stuck member: a tiny receive window, and it never reads.
        stuck = socket.socket()
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.setblocking(False)
        await asyncio.get_running_loop().sock_connect(stuck, ("127.0.0.1", srv.port))
        try:
            stuck.send(b'{"type":"hello","version":1,"nick":"stuck"}\n')
            sender = await TextClient.login(srv.port, "sender")  # text: no echo to read
            await until(http, "/rooms/lobby", lambda r: r["members"] == 2)
            body = "x" * 1000
            sent = 0
            stats: Json = {}
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                for _ in range(50):
                    await sender.send(f"{sent} {body}")
                    sent += 1
                stats = await get(http, "/stats")
                if stats["disconnects"]["slow_consumer"]:
                    break
            assert stats["disconnects"]["slow_consumer"] == 1, f"not cut after {sent} messages"
            await sender.send("/ping done")  # every line sent before it has been handled
            await sender.expect(r"^\* pong done")
            stats = await until(http, "/stats", lambda s: s["connections"]["current"] == 1)
            assert stats["disconnects"]["by_reason"] == {"slow-consumer": 1}
            assert stats["errors"] == {"slow-consumer": 1}
            assert stats["messages"]["received"]["total"] == sent
            # Each line went to the one other member while it was there, and to nobody after.
            assert 0 < stats["messages"]["delivered"]["total"] <= sent
            lobby = await get(http, "/rooms/lobby")
            assert lobby["messages_total"] == sent
            assert lobby["member_list"]["items"] == [{"nick": "sender", "dialect": "text"}]
            m = await metrics(http)
            assert m[("chat_disconnects_total", (("reason", "slow-consumer"),))] == 1
            await sender.close()
        finally:
            stuck.close()


async def test_an_idle_cut_is_counted() -> None:
    # 2 s: long enough for the login to be over before the cut, however busy the machine.
    async with stack(idle_timeout=2.0) as (srv, _, http):
        sleepy = await JsonClient.login(srv.port, "sleepy")
        assert (await sleepy.event("error", timeout=WAIT))["code"] == "idle"
        await sleepy.closed(WAIT)
        stats = await until(http, "/stats", lambda s: s["disconnects"]["idle"] == 1)
        assert stats["disconnects"]["by_reason"] == {"idle": 1}
        assert stats["connections"]["current"] == 0
        assert stats["rooms"] == 0
        assert (await get(http, "/rooms"))["total"] == 0
        m = await metrics(http)
        assert m[("chat_disconnects_total", (("reason", "idle"),))] == 1
        assert m[("chat_connections", ())] == 0


async def test_rates_and_loop_lag_are_sampled() -> None:
    async with stack(tick=0.1) as (srv, _, http):
        a = await JsonClient.login(srv.port, "a")
        b = await JsonClient.login(srv.port, "b")

        stop = asyncio.Event()

        async def chatter() -> None:
            # A flag, not only cancel(): on 3.11 wait_for() can swallow a cancellation.
            while not stop.is_set():
                await a.send_json(type="say", text="tick")
                await a.event("message")
                await b.event("message")

        task = asyncio.create_task(chatter())
        try:
            busy = await until(
                http, "/stats", lambda s: s["messages"]["received"]["per_second"] > 0
            )
            # every message goes to both JSON members: delivery rate is about twice the rate
            assert busy["messages"]["delivered"]["per_second"] > 0
        finally:
            stop.set()
            await asyncio.wait_for(task, TIMEOUT)
        await until(http, "/stats", lambda s: s["messages"]["received"]["per_second"] == 0)

        # Block the loop on purpose: the probe must see its sleep overrun. A block of D seconds
        # shows as a lag between D - tick and D (the probe's sleep may overlap the block).
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            pass
        stats = await until(http, "/stats", lambda s: s["event_loop"]["lag_max_seconds"] >= 0.15)
        # Seconds, not milliseconds: no lag can exceed the test's own lifetime.
        assert stats["event_loop"]["lag_max_seconds"] < 60
        m = await metrics(http)
        assert m[("chat_event_loop_lag_max_seconds", ())] >= 0.15
        await a.close()
        await b.close()


async def test_page_is_self_contained_and_schema_describes_every_endpoint() -> None:
    async with stack() as (_, _, http):
        page = await http.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "setInterval(refresh" in page.text and "fetch(" in page.text
        assert "<script src" not in page.text and "http" not in page.text.replace("HTTP", "")
        assert "innerHTML" not in page.text  # user-supplied topics are set as text only
        doc = await get(http, "/openapi.json")
        assert {"/", "/health", "/stats", "/rooms", "/rooms/{name}", "/metrics"} <= set(
            doc["paths"]
        )
        schemas = doc["components"]["schemas"]
        for model in ("StatsOut", "RoomPage", "RoomDetail", "Error", "Health", "MemberPage"):
            assert model in schemas
        described = schemas["Room"]["properties"]
        assert all("description" in f for f in described.values())


async def test_chat_server_cli_serves_the_sidecar_and_stops_cleanly() -> None:
    with socket.socket() as probe:  # a free port for the sidecar (0 means "off" on the CLI)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = await ServerProcess.start("--stats-port", str(port))
    try:
        started = await server.log_event("stats.started")
        assert (started["host"], started["port"]) == ("127.0.0.1", port)
        alice = await JsonClient.login(server.port, "alice")
        async with httpx.AsyncClient(trust_env=False, timeout=TIMEOUT) as http:
            stats = await get(http, f"http://127.0.0.1:{port}/stats")
            assert stats["connections"]["current"] == 1
            assert stats["rooms"] == 1
        await alice.close()
    finally:
        assert await server.stop() == 0
    assert any(e.get("event") == "stats.stopped" for e in server.logs)


async def test_without_stats_port_the_sidecar_is_not_started() -> None:
    server = await ServerProcess.start()
    try:
        await JsonClient.login(server.port, "x")
    finally:
        assert await server.stop() == 0
    assert not any(str(e.get("event", "")).startswith("stats.") for e in server.logs)


class Near:
    """Equal to a float within a minute of `value` (a wall-clock timestamp): the right clock
    and unit, however slowly a busy machine ran the test in between."""

    def __init__(self, value: float) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, float) and abs(other - self.value) < 60


async def test_moderation_actions_are_in_stats_and_metrics() -> None:
    async with stack() as (srv, _, http):
        alice = await TextClient.login(srv.port, "alice")
        bob = await TextClient.login(srv.port, "bob")
        await alice.send("/join #m")
        await alice.expect(r"^\* #m \(1\): @alice$")
        await bob.send("/join #m")
        await alice.expect(r"bob joined #m")
        await bob.send("/kick #m alice")  # refused: bob is no operator
        await bob.expect(r"^! not-operator")
        await alice.send("/ban #m bob")
        await alice.send("/kick #m bob")
        await bob.expect(r"^\* bob was kicked from #m by alice$")
        await bob.send("/join #m")
        await bob.expect(r"^! banned")
        stats = await get(http, "/stats")
        assert stats["moderation"] == {
            "refused": 1, "mode": 1, "ban": 1, "kick": 1, "join-refused-banned": 1,
        }  # fmt: skip
        m = await metrics(http)
        assert m[("chat_moderation_actions_total", (("action", "kick"),))] == 1
        assert m[("chat_moderation_actions_total", (("action", "ban"),))] == 1
        await alice.send("/mode #m +ik sesame")
        await alice.expect(r"sets mode \+ik")
        room = await get(http, "/rooms/%23m")
        assert (room["modes"], room["bans"]) == ("+ink *", 1)  # the key's value is never shown
        listed = {r["name"]: r for r in (await get(http, "/rooms"))["items"]}
        assert listed["#m"]["modes"] == "+ink *" and listed["#lobby"]["modes"] == "+n"
        await alice.close()
        await bob.close()
