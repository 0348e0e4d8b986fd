"""History in cluster mode: JetStream numbers every room line, so every node serves the same
offsets, in the same order, and a client resumes on any node (issue 14).

Real `chat-server --nats` processes on a real nats-server, real sockets; nothing sleeps to
wait for an event: each step awaits a line, a log event or a process exit, with a timeout.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import nats

from tests.helpers import JsonClient, TextClient
from tests.natsd import NatsServer
from tests.test_cluster import start_node


async def messages(client: JsonClient, count: int, timeout: float = 30) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        return [await client.event("message") for _ in range(count)]

    return await asyncio.wait_for(read(), timeout)


def seen(events: list[dict[str, Any]]) -> list[tuple[int, str, str, str]]:
    return [(m["offset"], m["epoch"], m["nick"], m["text"]) for m in events]


async def test_two_nodes_agree_on_order_and_offsets_with_concurrent_senders(
    nats_server: NatsServer,
) -> None:
    a = await start_node(nats_server, "a")
    b = await start_node(nats_server, "b")
    try:
        alice = await JsonClient.login(a.port, "alice")
        bob = await JsonClient.login(b.port, "bob")
        carol = await TextClient.login(a.port, "carol")  # a second dialect on node a
        await alice.event("join", lambda ev: ev["nick"] == "carol")
        count = 150

        async def say(client: JsonClient, who: str) -> None:
            for i in range(count):
                await client.send_json(type="say", text=f"{who} {i}")

        await asyncio.gather(say(alice, "alice"), say(bob, "bob"))
        on_a, on_b = await asyncio.gather(messages(alice, 2 * count), messages(bob, 2 * count))
        assert seen(on_a) == seen(on_b)  # the same lines, order, offsets and epoch
        assert [m["offset"] for m in on_a] == list(range(1, 2 * count + 1))  # no hole, no repeat
        assert len({m["epoch"] for m in on_a}) == 1
        for who in ("alice", "bob"):  # each sender's lines in the order sent
            mine = [m["text"] for m in on_a if m["nick"] == who]
            assert mine == [f"{who} {i}" for i in range(count)]
        text = [await carol.expect(r"^\[#lobby\] <") for _ in range(2 * count)]
        assert [line.split("> ", 1)[1] for line in text] == [m["text"] for m in on_a]
        await bob.send_json(type="history", room="#lobby", before=11, limit=5)
        page = await bob.event("history")
        assert [m["offset"] for m in page["messages"]] == [6, 7, 8, 9, 10]
        assert seen(page["messages"]) == seen(on_a[5:10])
        for client in (alice, bob, carol):
            await client.close()
    finally:
        await a.stop()
        await b.stop()


async def test_a_client_whose_node_is_sigkilled_resumes_on_another_with_no_gap(
    nats_server: NatsServer,
) -> None:
    a = await start_node(nats_server, "a")
    b = await start_node(nats_server, "b")
    try:
        alice = await JsonClient.login(a.port, "alice")
        bob = await JsonClient.login(b.port, "bob")
        await alice.event("join", lambda ev: ev["nick"] == "bob")
        for i in range(5):
            await bob.send_json(type="say", text=f"before {i}")
        last = (await messages(alice, 5))[-1]
        a.proc.send_signal(signal.SIGKILL)
        sent = [f"meanwhile {i}" for i in range(300)]

        async def talk() -> None:
            for text in sent:
                await bob.send_json(type="say", text=text)

        await asyncio.gather(talk(), a.proc.wait())
        echoed = await messages(bob, 5 + len(sent))
        assert [m["text"] for m in echoed[5:]] == sent
        # The same user comes back on node b (its old nick is held until node a's TTL).
        back = await JsonClient.login(b.port, "alice_")
        await back.send_json(
            type="join", room="#lobby", since={"epoch": last["epoch"], "offset": last["offset"]}
        )
        replayed = []
        while (ev := await back.next_event())["type"] != "join" or ev["nick"] != "alice_":
            if ev["type"] == "message":
                replayed.append(ev)
        assert ev["recovered"] is True
        assert (ev["epoch"], ev["offset"]) == (last["epoch"], last["offset"] + len(sent))
        assert [m["text"] for m in replayed] == sent  # exactly the missed ones, in order, once
        assert [m["offset"] for m in replayed] == [m["offset"] for m in echoed[5:]]
        assert all(m["replay"] for m in replayed)
        for client in (bob, back):
            await client.close()
        await alice.close()
    finally:
        await a.stop()
        await b.stop()


async def test_a_node_started_later_serves_the_same_history(nats_server: NatsServer) -> None:
    a = await start_node(nats_server, "a")
    b = None
    try:
        alice = await JsonClient.login(a.port, "alice")
        await alice.send_json(type="join", room="#dev")
        await alice.event("who", lambda ev: ev["room"] == "#dev")
        for i in range(30):
            await alice.send_json(type="say", room="#dev", text=f"line {i}")
        said = await messages(alice, 30)
        epoch = said[0]["epoch"]
        b = await start_node(nats_server, "b")
        # A room nobody on node b is in yet: resumed from the history node b loaded.
        bob = await JsonClient.login(b.port, "bob")
        await bob.send_json(type="join", room="#dev", since={"epoch": epoch, "offset": 10})
        replayed = [await bob.event("message") for _ in range(20)]
        joined = await bob.event("join", lambda ev: ev["nick"] == "bob")
        assert joined["recovered"] is True and (joined["epoch"], joined["offset"]) == (epoch, 30)
        assert seen(replayed) == seen(said[10:])
        await bob.send_json(type="history", room="#dev", before=11, limit=100)
        page = await bob.event("history")
        assert seen(page["messages"]) == seen(said[:10])
        # Numbering goes on from there on both nodes.
        await bob.send_json(type="say", room="#dev", text="hello from b")
        for client in (alice, bob):
            m = await client.event("message")
            assert (m["offset"], m["epoch"], m["text"]) == (31, epoch, "hello from b")
        await alice.close()
        await bob.close()
    finally:
        await a.stop()
        if b is not None:
            await b.stop()


async def test_a_node_cut_off_from_the_stream_says_recovered_false(
    nats_server: NatsServer,
) -> None:
    a = await start_node(nats_server, "a")
    try:
        alice = await JsonClient.login(a.port, "alice")
        dave = await JsonClient.login(a.port, "dave")
        await alice.send_json(type="say", text="numbered")
        first = await dave.event("message")
        assert first["offset"] == 1
        await nats_server.kill()
        await a.log_event("cluster.link_down")
        await alice.send_json(type="say", text="said while cut off")
        local = await dave.event("message")  # this node's members still get it, unnumbered
        assert local["text"] == "said while cut off" and "offset" not in local
        await dave.send_json(
            type="join", room="#lobby", since={"epoch": first["epoch"], "offset": 1}
        )
        joined = await dave.event("join", lambda ev: ev["nick"] == "dave")
        assert joined["recovered"] is False  # it cannot know what the other nodes said
        await nats_server.start()
        await a.log_event("cluster.link_up", timeout=20)
        await alice.send_json(type="say", text="numbered again")
        again = await dave.event("message", lambda ev: ev["text"] == "numbered again")
        assert (again["offset"], again["epoch"]) == (2, first["epoch"])
        await alice.close()
        await dave.close()
    finally:
        await a.stop()


async def test_a_stream_deleted_under_the_cluster_is_created_again_with_a_new_epoch(
    nats_server: NatsServer,
) -> None:
    a = await start_node(nats_server, "a")
    b = await start_node(nats_server, "b")
    try:
        alice = await JsonClient.login(a.port, "alice")
        bob = await JsonClient.login(b.port, "bob")
        await alice.event("join", lambda ev: ev["nick"] == "bob")
        await alice.send_json(type="say", text="first")
        first = await bob.event("message")
        nc = await nats.connect(nats_server.url)
        try:
            await nc.jetstream().delete_stream("CHAT_HISTORY")  # an operator's mistake
        finally:
            await nc.close()
        await alice.send_json(type="say", text="second")  # node a creates it again
        for client in (alice, bob):  # node b notices within a heartbeat and reads it anew
            second = await client.event("message", lambda ev: ev["text"] == "second")
            assert second["offset"] == 1 and second["epoch"] != first["epoch"]
        await b.log_event("history.stream_lost")
        await bob.send_json(type="say", text="third")
        for client in (alice, bob):
            third = await client.event("message")
            assert (third["text"], third["offset"]) == ("third", 2)
            assert third["epoch"] == second["epoch"]
        await alice.close()
        await bob.close()
    finally:
        await a.stop()
        await b.stop()
