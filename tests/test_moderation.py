"""Moderation over real sockets, the three dialects in one room: an IRC operator, a netcat
user and a JSON program. Kicks, bans by nick and by mask, mutes, invite-only and moderated
rooms, topic lock, key and limit; server operators' kill and address bans. Nothing sleeps:
every step awaits a line with a timeout."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chat.core import operhash
from chat.net.server import ChatServer
from tests.helpers import JsonClient, TextClient, running_server
from tests.ircclient import IrcClient

PASSWORD = "correct horse"
HASH = operhash.hash_password(PASSWORD)


@pytest.fixture
async def server() -> AsyncIterator[ChatServer]:
    async with running_server(irc=True, irc_port=0, oper=(f"root:{HASH}",)) as srv:
        yield srv


async def room(server: ChatServer) -> tuple[IrcClient, TextClient, JsonClient]:
    """alice (IRC) creates #mod, its operator; bob (text) and carol (JSON) join it."""
    alice = await IrcClient.login(server.irc_port, "alice")
    await alice.send("JOIN", "#mod")
    names = await alice.expect("353")
    assert names.params[3] == "@alice"
    bob = await TextClient.login(server.port, "bob")
    carol = await JsonClient.login(server.port, "carol")
    await bob.send("/join #mod")
    await bob.expect(r"^\* #mod \(2\): @alice, bob$")
    await carol.send_json(type="join", room="#mod")
    who = await carol.event("who", lambda ev: ev["room"] == "#mod")
    assert who["prefixes"] == {"alice": "@"}
    await alice.expect("JOIN", lambda m: (m.source or "").startswith("carol!"))
    return alice, bob, carol


async def test_kick_and_ban_by_nick_and_by_mask_across_dialects(server: ChatServer) -> None:
    alice, bob, carol = await room(server)
    # nobody but the operator may
    await bob.send("/kick #mod carol")
    await bob.expect(r"^! not-operator: you are not an operator of #mod$")
    await carol.send_json(type="ban", room="#mod", mask="bob")
    assert (await carol.event("error"))["code"] == "not-operator"
    await carol.send_json(type="mode", room="#mod", modes="+o", args=["carol"])
    assert (await carol.event("error"))["code"] == "not-operator"

    await alice.send("KICK", "#mod", "bob", "spamming")
    kick = await alice.expect("KICK")
    assert kick.params == ["#mod", "bob", "spamming"] and kick.source == "alice!alice@chat"
    await bob.expect(r"^\* bob was kicked from #mod by alice \(spamming\)$")
    ev = await carol.event("kick")
    assert (ev["nick"], ev["by"], ev["reason"], ev["members"]) == ("bob", "alice", "spamming", 2)
    await bob.send("/join #mod")  # a kick is not a ban
    await alice.expect("JOIN", lambda m: (m.source or "").startswith("bob!"))

    await alice.send("MODE", "#mod", "+b", "BOB")
    mode = await alice.expect("MODE")
    assert mode.params == ["#mod", "+b", "bob!*@*"]
    await bob.expect(r"^\* alice sets mode \+b bob!\*@\* on #mod$")
    assert (await carol.event("mode"))["change"] == "+b bob!*@*"
    await bob.send("/part #mod")
    await bob.send("/join #mod")
    await bob.expect(r"^! banned: you are banned from #mod$")
    await bob.send("/nick bobby")  # a new nick gets past a nick ban ...
    await bob.expect(r"is now known as bobby")
    await bob.send("/join #mod")
    await bob.expect(r"^\* bobby joined #mod")
    await bob.send("/part #mod")
    await bob.expect(r"^\* bobby left #mod")
    await alice.send("MODE", "#mod", "+b", "*!*@127.0.0.1")  # ... not past a mask on the address
    await alice.expect("MODE", lambda m: m.params[1:] == ["+b", "*!*@127.0.0.1"])
    await bob.send("/join #mod")
    await bob.expect(r"^! banned: you are banned from #mod$")
    await alice.send("MODE", "#mod", "b")
    bans = await alice.until("368")
    assert [m.params[2] for m in bans if m.command == "367"] == ["bob!*@*", "*!*@127.0.0.1"]
    await carol.send_json(type="bans", room="#mod")
    assert (await carol.event("bans"))["masks"] == ["bob!*@*", "*!*@127.0.0.1"]
    await carol.send_json(type="say", room="#mod", text="am I banned?")  # a banned member
    assert (await carol.event("error"))["code"] == "cannot-send"
    await alice.send("MODE", "#mod", "-b", "*!*@127.0.0.1")
    await bob.send("/join #mod")
    await bob.expect(r"^\* bobby joined #mod")
    assert server.hub.stats.moderation["kick"] == 1
    assert server.hub.stats.moderation["join-refused-banned"] == 2
    for client in (alice, bob, carol):
        await client.close()


async def test_mute_moderated_invite_only_topic_key_and_limit(server: ChatServer) -> None:
    alice, bob, carol = await room(server)
    await alice.send("MODE", "#mod", "+o", "carol")
    assert (await carol.event("mode"))["change"] == "+o carol"
    # a JSON operator mutes the netcat user for a minute
    await carol.send_json(type="mute", room="#mod", nick="bob", seconds=60)
    await bob.expect(r"^\* bob is muted in #mod for 60 seconds by carol$")
    await bob.send("let me speak")
    await bob.expect(r"^! muted: you are muted in #mod for (60|59) more seconds$")
    await carol.send_json(type="mute", room="#mod", nick="bob", seconds=0)
    await bob.expect(r"may speak in #mod again")
    await bob.send("thanks")
    await alice.expect("PRIVMSG", lambda m: m.params == ["#mod", "thanks"])

    # moderated: only voiced members (and operators) speak
    await alice.send("MODE", "#mod", "+mt")
    await bob.expect(r"^\* alice sets mode \+mt on #mod$")
    await bob.send("hello?")
    await bob.expect(r"^! cannot-send: #mod is moderated: only voiced members speak$")
    await bob.send("/topic #mod mine now")
    await bob.expect(r"^! not-operator: the topic of #mod is locked to its operators$")
    await alice.send("MODE", "#mod", "+v", "bob")
    await bob.expect(r"^\* alice sets mode \+v bob on #mod$")
    await bob.send("voiced")
    await alice.expect("PRIVMSG", lambda m: m.params == ["#mod", "voiced"])
    await alice.send("NAMES", "#mod")
    names = await alice.expect("353")
    assert names.params[3].split() == ["@alice", "+bob", "@carol"]

    # invite-only, then a key and a limit
    await alice.send("MODE", "#mod", "+i")
    await alice.expect("MODE", lambda m: m.params[1:] == ["+i"])
    dave = await IrcClient.login(server.irc_port, "dave")
    await dave.send("JOIN", "#mod")
    assert (await dave.expect("473")).params[:2] == ["dave", "#mod"]
    await carol.send_json(type="invite", room="#mod", nick="dave")
    assert (await carol.event("invite"))["nick"] == "dave"
    invite = await dave.expect("INVITE")
    assert invite.params == ["dave", "#mod"] and invite.source == "carol!carol@chat"
    await alice.send("INVITE", "bob", "#mod")
    assert (await alice.expect("443")).params[:3] == ["alice", "bob", "#mod"]
    await dave.send("JOIN", "#mod")
    await dave.expect("366")
    await dave.send("PART", "#mod")
    await dave.expect("PART")
    await dave.send("JOIN", "#mod")  # an invitation is good for one join
    await dave.expect("473")
    await alice.send("MODE", "#mod", "-i+kl", "sesame", "4")
    await alice.expect("MODE", lambda m: m.params[1:] == ["-i+kl", "*", "4"])
    await dave.send("JOIN", "#mod", "wrong")
    await dave.expect("475")
    await dave.send("JOIN", "#mod", "sesame")
    await dave.expect("366")
    eve = await TextClient.login(server.port, "eve")
    await eve.send("/join #mod sesame")
    await eve.expect(r"^! room-full: #mod is full \(4 members at most\)$")
    await alice.send("MODE", "#mod")
    assert (await alice.expect("324")).params == ["alice", "#mod", "+mntlk", "4", "sesame"]
    for client in (alice, bob, carol, dave, eve):
        await client.close()


async def test_server_operator_kill_and_address_ban(server: ChatServer) -> None:
    alice, bob, carol = await room(server)
    await bob.send("/kill carol")
    await bob.expect(r"^! no-privileges: /kill is for server operators \(/oper\)$")
    await alice.send("OPER", "root", "wrong")
    await alice.expect("464")
    await alice.send("OPER", "root", PASSWORD)
    await alice.expect("381")
    await alice.send("KILL", "carol", "enough")
    assert (await carol.event("error")) == {
        "type": "error",
        "code": "killed",
        "message": "killed by alice: enough",
    }
    await carol.closed()
    await bob.expect(r"^\* carol quit \(killed by alice: enough\)$")
    await bob.send("/oper root " + PASSWORD)
    await bob.expect(r"^\* you are now a server operator$")
    await alice.send("WALLOPS", "ops, heads up")
    await bob.expect(r"^\* wallops from alice: ops, heads up$")

    # an address ban cuts the users on it and refuses new connections from it
    mallory = TextClient(
        *await asyncio.open_connection("127.0.0.1", server.port, local_addr=("127.0.0.2", 0))
    )
    await mallory.expect("pick a nick")
    await mallory.send("mallory")
    await mallory.expect(r"^\* welcome, mallory!")
    await bob.send("/sban 127.0.0.2 1h abuse")
    await bob.expect(r"^\* 127\.0\.0\.2/32 is banned for 3600s \(1 connection\(s\) cut\)$")
    await mallory.expect(r"^! killed: killed by bob: your address is banned: abuse$")
    await mallory.closed()
    again = TextClient(
        *await asyncio.open_connection("127.0.0.1", server.port, local_addr=("127.0.0.2", 0))
    )
    lines = await again.closed()
    assert lines == ["! server-banned: your address is banned from this server: abuse"]
    await bob.send("/sbans")
    await bob.expect(r"^\* server bans \(1\): 127\.0\.0\.2/32 \(\d+s left, by bob\): abuse$")
    moderation = server.hub.stats.moderation
    assert (moderation["kill"], moderation["server-ban"], moderation["oper"]) == (1, 1, 2)
    assert moderation["server-ban-refused"] == 1 and moderation["oper-failed"] == 1
    for client in (alice, bob):
        await client.close()


async def test_server_bans_survive_a_restart_with_a_store(tmp_path: Path) -> None:
    db = str(tmp_path / "chat.db")
    async with running_server(history_db=db, oper=(f"root:{HASH}",)) as srv:
        root = await TextClient.login(srv.port, "root")
        await root.send(f"/oper root {PASSWORD}")
        await root.expect(r"server operator")
        await root.send("/sban 127.0.0.2 1d")
        await root.expect(r"^\* 127\.0\.0\.2/32 is banned for 86400s")
        await root.send("/sban 10.9.0.0/16 1h")
        await root.expect(r"is banned")
        await root.send("/unsban 10.9.0.0/16")
        await root.expect(r"^\* 10\.9\.0\.0/16 is no longer banned$")
        await root.close()
    async with running_server(history_db=db) as srv:
        assert list(srv.hub.operators.server_bans) == ["127.0.0.2/32"]
        again = TextClient(
            *await asyncio.open_connection("127.0.0.1", srv.port, local_addr=("127.0.0.2", 0))
        )
        assert (await again.closed())[0].startswith("! server-banned: ")
        ok = await TextClient.login(srv.port, "fine")  # 127.0.0.1 is not banned
        await ok.close()
