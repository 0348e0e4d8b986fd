"""Moderation across two cluster nodes on a real nats-server: an operator on node a kicks,
bans, mutes, invites and kills users on node b; a banned user cannot rejoin through either
node, by nick or by mask; an address ban set on a reaches b. Every node is a real
`chat-server --nats ...` process; nothing sleeps: each step awaits a line, with a timeout.

Where a step on node b must see what node a did, the test first waits for a member on b to
see the change (a mode line, a notice): node b has then applied the note."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chat.core import operhash
from tests.helpers import JsonClient, ServerProcess, TextClient
from tests.ircclient import IrcClient
from tests.natsd import running_nats
from tests.test_cluster import start_node

PASSWORD = "hunter2 but longer"
HASH = operhash.hash_password(PASSWORD)


@pytest.fixture
async def nodes(tmp_path: Path) -> AsyncIterator[tuple[ServerProcess, ServerProcess]]:
    async with running_nats(tmp_path / "nats") as nats:
        a = await start_node(nats, "a", "--oper", f"root:{HASH}")
        b = await start_node(nats, "b", "--oper", f"root:{HASH}", "--irc", "--irc-port", "0")
        try:
            yield a, b
        finally:
            await a.stop()
            await b.stop()


async def barrier(
    sender: TextClient, text: str, json_reader: JsonClient, reader: TextClient
) -> None:
    """`sender` (node a) says `text` in #lobby; once the readers (node b) have it, node b has
    applied everything node a published before."""
    await sender.send("/join #lobby")
    await sender.send(text)
    await json_reader.event("message", lambda ev: ev["text"] == text)
    await reader.expect(rf"<\w+> {text}$")


async def irc_port(node: ServerProcess) -> int:
    return int((await node.log_event("server.started"))["irc_port"])


async def test_kick_ban_mute_invite_kill_and_address_ban_across_nodes(
    nodes: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = nodes
    alice = await TextClient.login(a.port, "alice")
    bob = await JsonClient.login(b.port, "bob")
    carol = await TextClient.login(b.port, "carol")
    await alice.expect(r"^\* carol joined #lobby")
    await alice.send("/join #c")
    await alice.expect(r"^\* #c \(1\): @alice$")
    await barrier(alice, "made #c", bob, carol)  # node b knows #c and its operator now
    await bob.send_json(type="join", room="#c")
    who = await bob.event("who", lambda ev: ev["room"] == "#c")
    assert who["prefixes"] == {"alice": "@"}  # the operator of a room made on another node
    await carol.send("/join #c")
    await carol.expect(r"^\* #c \(3\): @alice, bob, carol$|^\* #c \(3\): bob, carol, @alice$")
    await alice.expect(r"^\* carol joined #c")

    # a non-operator on b can't; the operator on a can, and b obeys
    await carol.send("/kick #c bob")
    await carol.expect(r"^! not-operator: you are not an operator of #c$")
    await alice.send("/ban #c bob")
    assert (await bob.event("mode"))["change"] == "+b bob!*@*"
    await alice.send("/kick #c bob spamming")
    kick = await bob.event("kick")
    assert (kick["room"], kick["nick"], kick["by"], kick["reason"]) == (
        "#c", "bob", "alice", "spamming",
    )  # fmt: skip
    await carol.expect(r"^\* bob was kicked from #c by alice \(spamming\)$")
    await alice.expect(r"^\* bob was kicked from #c by alice \(spamming\)$")
    await bob.send_json(type="join", room="#c")
    assert (await bob.event("error"))["code"] == "banned"
    # ... nor through the other node
    await bob.send_json(type="quit")
    await bob.closed()
    bob2 = await JsonClient.login(a.port, "bob")
    await bob2.send_json(type="join", room="#c")
    assert (await bob2.event("error"))["code"] == "banned"
    await alice.send("/who #c")
    await alice.expect(r"^\* #c \(2\): ")

    # a mask: user name `mallet` whatever the nick
    await alice.send("/ban #c *!mallet@*")
    await carol.expect(r"^\* alice sets mode \+b \*!mallet@\* on #c$")
    mal = await IrcClient.connect(await irc_port(b))
    await mal.send("NICK", "innocent")
    await mal.send("USER", "mallet", "0", "*", "not mallory")
    await mal.expect("376")
    await mal.send("JOIN", "#c")
    assert (await mal.expect("474")).params[:2] == ["innocent", "#c"]

    # a mute set on a silences a member on b, with a clear error
    await alice.send("/mute #c carol 60")
    await carol.expect(r"^\* you are muted in #c for (60|59) seconds$")
    await carol.send("/join #c")
    await carol.send("can I talk?")
    await carol.expect(r"^! muted: you are muted in #c for \d+ more seconds$")
    await alice.send("/unmute #c carol")
    await carol.expect(r"^\* you may speak in #c again$")

    # invite-only and moderated hold on b
    await alice.send("/mode #c +im")
    await carol.expect(r"^\* alice sets mode \+im on #c$")
    await carol.send("hello?")
    await carol.expect(r"^! cannot-send: #c is moderated: only voiced members speak$")
    dave = await TextClient.login(b.port, "dave")
    await alice.expect(r"^\* dave joined #lobby")  # node a knows dave
    await dave.send("/join #c")
    await dave.expect(r"^! invite-only: #c is invite-only")
    await alice.send("/invite dave #c")
    await dave.expect(r"^\* alice invited dave to #c$")
    await dave.send("/join #c")
    await dave.expect(r"^\* dave joined #c")
    await alice.expect(r"^\* dave joined #c")  # node a knows dave is in #c
    await alice.send("/voice #c dave")
    await dave.expect(r"^\* alice sets mode \+v dave on #c$")
    await dave.send("voiced, from b")
    await alice.expect(r"^\[#c\] <dave> voiced, from b$")

    # a server operator on a kills a user on b, and bans an address cluster-wide
    await alice.send("/oper root " + PASSWORD)
    await alice.expect(r"^\* you are now a server operator$")
    await alice.send("/kill carol enough")
    await carol.expect(r"^! killed: killed by alice: enough$")
    await carol.closed()
    await dave.expect(r"^\* carol quit \(killed by alice: enough\)$")
    mallory = TextClient(
        *await asyncio.open_connection("127.0.0.1", b.port, local_addr=("127.0.0.2", 0))
    )
    await mallory.expect("pick a nick")
    await mallory.send("mallory")
    await mallory.expect(r"^\* welcome, mallory!")
    await alice.send("/sban 127.0.0.2 1h abuse")
    await alice.expect(r"^\* 127\.0\.0\.2/32 is banned for 3600s")
    await mallory.expect(r"^! killed: killed by alice: your address is banned: abuse$")
    again = TextClient(
        *await asyncio.open_connection("127.0.0.1", b.port, local_addr=("127.0.0.2", 0))
    )
    assert await again.closed() == [
        "! server-banned: your address is banned from this server: abuse"
    ]
    kill = await a.log_event("moderation.kill")
    assert (kill["nick"], kill["target"]) == ("alice", "carol")
    for client in (alice, bob2, dave, mal):
        await client.close()


async def test_a_node_joining_later_learns_the_modes_and_bans(tmp_path: Path) -> None:
    async with running_nats(tmp_path / "nats") as nats:
        a = await start_node(nats, "a", "--oper", f"root:{HASH}")
        try:
            alice = await TextClient.login(a.port, "alice")
            await alice.send("/join #late")
            await alice.expect(r"^\* #late \(1\): @alice$")
            await alice.send("/mode #late +i")
            await alice.expect(r"sets mode \+i on #late")
            b = await start_node(nats, "b")
            try:
                bob = await TextClient.login(b.port, "bob")
                await alice.expect(r"^\* bob joined #lobby")
                await alice.send("/join #lobby")
                await alice.send("after my state")  # node a sent its state before this line
                await bob.expect(r"<alice> after my state$")
                await bob.send("/join #late")
                await bob.expect(r"^! invite-only: #late is invite-only")
                await bob.close()
            finally:
                await b.stop()
            await alice.close()
        finally:
            await a.stop()
