"""Several chat-server processes on one real nats-server: rooms, nicks, /who and private
messages span the nodes; the broker and a node are killed mid-test and the cluster recovers.

Every node is a real `chat-server --nats ...` process, every client a real socket; nothing
sleeps to wait: each step awaits a line, a log event or a process exit, with a timeout.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from client.connection import Connection
from tests.helpers import JsonClient, ServerProcess, TextClient
from tests.natsd import NatsServer, free_port

NODE_TTL = 2.0
"""A short node TTL so that the kill -9 test is quick; the bound it checks scales with it."""


async def start_node(nats: NatsServer, name: str, *args: str) -> ServerProcess:
    node = await ServerProcess.start(
        "--nats", nats.url, "--node-name", name, "--node-ttl", str(NODE_TTL), *args
    )
    await node.log_event("cluster.connected")
    return node


@pytest.fixture
async def nodes(nats_server: NatsServer) -> AsyncIterator[list[ServerProcess]]:
    started = [await start_node(nats_server, name) for name in ("a", "b", "c")]
    try:
        yield started
    finally:
        for node in started:
            await node.stop()


async def test_a_room_spans_three_nodes_in_each_senders_order(nodes: list[ServerProcess]) -> None:
    a, b, c = nodes
    alice = await TextClient.login(a.port, "alice")
    bob = await JsonClient.login(b.port, "bob")
    carol = await JsonClient.login(c.port, "carol")
    await alice.expect(r"^\* carol joined #lobby \(3 here\)")
    count = 200
    for i in range(count):
        await alice.send(f"line {i}")
    for reader in (bob, carol):
        got = [await reader.event("message") for _ in range(count)]
        assert [m["text"] for m in got] == [f"line {i}" for i in range(count)]
        assert {m["nick"] for m in got} == {"alice"} and {m["room"] for m in got} == {"#lobby"}
    await bob.send_json(type="say", text="hi alice")
    await alice.expect(r"^\[#lobby\] <bob> hi alice$")
    await carol.send_json(type="say", text="and me")
    # Exactly once: after alice's lines bob sees his own echo, then carol's line; no repeats.
    assert [(await bob.event("message"))["text"] for _ in range(2)] == ["hi alice", "and me"]
    await alice.expect(r"<carol> and me$")
    for client in (alice, bob, carol):
        await client.close()


async def test_a_nick_taken_on_one_node_is_refused_on_another(
    nodes: list[ServerProcess],
) -> None:
    a, b, _ = nodes
    alice = await TextClient.login(a.port, "alice")
    other = await TextClient.connect(b.port)
    await other.expect("pick a nick")
    await other.send("ALICE")  # the same nick, folded
    await other.expect(r'^! nick-taken: nick "ALICE" is taken on another node')
    await other.send("alice2")
    await other.expect(r"^\* welcome, alice2!")
    await other.send("/nick alice")
    await other.expect(r"^! nick-taken: ")
    await alice.send("/quit")
    await alice.closed()
    # Released on quit: the other node may take it now.
    await other.send("/nick alice")
    await other.expect(r"^\* alice2 is now known as alice$")
    await other.close()


async def barrier(sender: TextClient, text: str, *readers: TextClient) -> None:
    """`sender` says `text` in #lobby and every reader sees it. Notes from one node arrive in
    order, so each reader's node has then applied everything `sender` did before."""
    await sender.send("/join #lobby")  # make #lobby the current room again
    await sender.send(text)
    for reader in readers:
        await reader.expect(rf"<\w+> {text}$")


async def test_who_and_rooms_show_the_whole_cluster(nodes: list[ServerProcess]) -> None:
    a, b, c = nodes
    alice = await TextClient.login(a.port, "alice")
    bob = await TextClient.login(b.port, "bob")
    carol = await TextClient.login(c.port, "carol")
    await bob.send("/join #dev")
    await bob.expect(r"^\* #dev \(1\): @bob$")
    await barrier(bob, "bob is in dev", alice, carol)
    await carol.send("/join #dev")
    line = await carol.expect(r"^\* #dev \(2\): ")
    assert set(line.split(": ", 1)[1].split(", ")) == {"@bob", "carol"}  # bob made it
    await bob.expect(r"^\* carol joined #dev \(2 here\)$")
    await barrier(carol, "carol is in dev", alice)
    await alice.send("/who")
    line = await alice.expect(r"^\* #lobby \(3\): ")
    assert set(line.split(": ", 1)[1].split(", ")) == {"alice", "bob", "carol"}
    await alice.send("/who #dev")  # a room with no member on alice's node
    line = await alice.expect(r"^\* #dev \(2\): ")
    assert set(line.split(": ", 1)[1].split(", ")) == {"@bob", "carol"}
    await alice.send("/rooms")
    await alice.expect(r"^\*   #lobby \(3\)")
    await alice.expect(r"^\*   #dev \(2\)")
    await carol.send("/topic #dev shipping on friday")
    await bob.expect(r"carol set the topic of #dev")
    await barrier(carol, "topic set", alice)
    await alice.send("/join #dev")  # a room that only existed elsewhere: its topic comes too
    await alice.expect(r"^\* topic of #dev: shipping on friday$")
    await alice.expect(r"^\* #dev \(3\): ")
    await carol.send("/part #dev")
    await bob.expect(r"^\* carol left #dev")
    await alice.expect(r"^\* carol left #dev")
    for client in (alice, bob, carol):
        await client.close()


async def test_private_messages_cross_nodes(nodes: list[ServerProcess]) -> None:
    a, b, _ = nodes
    alice = await TextClient.login(a.port, "alice")
    bob = await JsonClient.login(b.port, "bob")
    await alice.expect(r"^\* bob joined #lobby")  # node a knows bob from here on
    await alice.send("/msg bob psst")
    pm = await bob.event("private")
    assert (pm["from"], pm["text"]) == ("alice", "psst")
    await bob.send_json(type="msg", to="ALICE", text="hello back")
    await alice.expect(r"^\[pm\] <bob> hello back$")
    await alice.send("/msg nobody x")
    await alice.expect(r"^! no-such-nick: ")
    await alice.close()
    await bob.close()


@pytest.mark.parametrize("store", ["kept", "lost"])
async def test_the_broker_dies_and_comes_back_and_cross_node_chat_resumes(
    nats_server: NatsServer, tmp_path: Path, store: str
) -> None:
    a = await start_node(nats_server, "a")
    b = await start_node(nats_server, "b")
    try:
        alice = await TextClient.login(a.port, "alice")
        dave = await TextClient.login(a.port, "dave")
        bob = await JsonClient.login(b.port, "bob")
        await alice.expect(r"^\* bob joined #lobby")
        await nats_server.kill()
        await alice.expect(r"cluster link is down")
        await bob.event("notice", lambda ev: ev.get("code") == "cluster-down")
        await alice.send("still here")  # local chat goes on
        await dave.expect(r"<alice> still here$")
        newcomer = await TextClient.connect(a.port)
        await newcomer.expect("pick a nick")
        await newcomer.send("eve")
        await newcomer.expect(r"^! cluster-down: ")  # no nick can be promised cluster-wide
        if store == "lost":  # a new broker on the same address: buckets and nicks are gone
            nats_server.store = tmp_path / "fresh"
        await nats_server.start()  # same port: a restarted broker
        await alice.expect(r"cluster link is back", timeout=15)
        await bob.event("notice", lambda ev: ev.get("code") == "cluster-up", timeout=15)
        await alice.send("after the storm")
        assert (await bob.event("message"))["text"] == "after the storm"
        await bob.send_json(type="say", text="welcome back")
        await dave.expect(r"<bob> welcome back$")
        await newcomer.send("eve")
        await newcomer.expect(r"^\* welcome, eve!")
        await bob.event("join", lambda ev: ev["nick"] == "eve")
        await bob.send_json(type="who")
        who = await bob.event("who")
        assert set(who["nicks"]) == {"alice", "dave", "bob", "eve"}
        await bob.send_json(type="nick", nick="alice")  # re-asserted, even into a new store
        assert (await bob.event("error"))["code"] == "nick-taken"
    finally:
        await a.stop()
        await b.stop()


async def test_a_node_killed_with_sigkill_frees_its_nicks_within_the_node_ttl(
    nats_server: NatsServer,
) -> None:
    a = await start_node(nats_server, "a")
    b = await start_node(nats_server, "b")
    try:
        alice = await TextClient.login(a.port, "alice")  # held: a dropped client would quit
        bob = await TextClient.login(b.port, "bob")
        # Node b may answer bob before alice's join (a note from node a) has reached it: once
        # bob sees a line alice said after joining, node b knows her.
        await barrier(alice, "alice is on node a", bob)
        await bob.send("/who")
        await bob.expect(r"^\* #lobby \(2\): ")
        a.proc.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        await a.proc.wait()
        await bob.expect(r"^\* alice quit \(node lost\)", timeout=NODE_TTL + 5)
        claimant = await TextClient.connect(b.port)
        await claimant.expect("pick a nick")
        while True:  # each try is answered at once; the bound is checked below
            await claimant.send("alice")
            line = await claimant.expect(r"^\* welcome, alice!|^! nick-taken")
            if line.startswith("* welcome"):
                break
            assert time.monotonic() - killed < NODE_TTL + 5, "alice was never freed"
            await asyncio.sleep(0.1)  # pacing between tries, not a wait for an event
        freed_after = time.monotonic() - killed
        print(f"\n[cluster] alice free {freed_after:.2f} s after SIGKILL (node TTL {NODE_TTL} s)")
        await alice.close()
        # Documented bound: node TTL after the last heartbeat (+ JetStream's expiry tick).
        assert freed_after <= NODE_TTL + 2.0, freed_after
    finally:
        await b.stop()
        await a.stop()  # already killed, unless the test failed before: never leave it behind


async def test_an_unreachable_broker_is_a_clear_error_and_exit_1() -> None:
    port = free_port()  # nothing listens there
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chat", "--port", "0", "--log-format", "json",
        "--nats", f"nats://127.0.0.1:{port}", "--nats-connect-timeout", "1",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 1
    assert b"cannot use NATS at nats://127.0.0.1:" in err
    assert b"server.started" not in err


async def test_the_terminal_client_waits_out_a_cut_off_node(nats_server: NatsServer) -> None:
    """chat-client's connection core meets `cluster-down` at hello: it says so, asks again
    with backoff, and is welcomed once the node is back on the broker."""
    a = await start_node(nats_server, "a")
    try:
        await nats_server.kill()
        await a.log_event("cluster.link_down")
        events: list[dict[str, object]] = []
        welcomed = asyncio.Event()

        def seen(ev: dict[str, object]) -> None:
            events.append(ev)
            if ev.get("type") == "welcome":
                welcomed.set()

        conn = Connection("127.0.0.1", a.port, "bob", seen, backoff=(0.2, 1.0))
        task = asyncio.create_task(conn.run())
        await a.log_event("client.connected")
        await nats_server.start()
        await asyncio.wait_for(welcomed.wait(), 15)
        notes = [str(ev.get("text")) for ev in events if ev.get("type") == "local"]
        assert any("cluster link is down" in n and "asking again" in n for n in notes), notes
        assert conn.state.nick == "bob"
        await conn.quit()
        await asyncio.wait_for(task, 5)
    finally:
        await a.stop()


async def test_a_node_stopped_cleanly_says_bye_and_frees_its_nicks_at_once(
    nats_server: NatsServer,
) -> None:
    a = await start_node(nats_server, "a", "--node-ttl", "60")  # no help from the TTL here
    b = await start_node(nats_server, "b", "--node-ttl", "60")
    try:
        alice = await TextClient.login(a.port, "alice")
        bob = await TextClient.login(b.port, "bob")
        await alice.expect(r"^\* bob joined #lobby")
        assert await a.stop() == 0
        assert (await alice.closed())[-1] == "* bye: server shutting down"
        await bob.expect(r"^\* alice quit \(server shutting down\)$")
        await bob.send("/nick alice")  # its nicks went with its node key: free now
        await bob.expect(r"^\* bob is now known as alice$")
        await bob.close()
    finally:
        await a.stop()
        await b.stop()
