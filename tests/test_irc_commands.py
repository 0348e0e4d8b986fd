"""IRC over real sockets: channel and user commands, queries, and every error numeric."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest

from chat.net.server import ChatServer
from tests.helpers import running_server
from tests.ircclient import IrcClient


@pytest.fixture
async def server() -> AsyncIterator[ChatServer]:
    async with running_server(irc=True, irc_port=0, max_rooms_per_client=3) as srv:
        yield srv


async def pair(server: ChatServer) -> tuple[IrcClient, IrcClient]:
    alice = await IrcClient.login(server.irc_port, "alice")
    bob = await IrcClient.login(server.irc_port, "bob")
    await alice.expect("JOIN", lambda m: m.source == "bob!bob@chat")
    return alice, bob


async def test_join_several_part_and_join_zero(server: ChatServer) -> None:
    alice, bob = await pair(server)
    await alice.send("JOIN", "#a,#b", "key1,key2")  # a room without +k takes any key
    for room in ("#a", "#b"):
        join = await alice.expect("JOIN")
        assert (join.source, join.params) == ("alice!alice@chat", [room])
        assert (await alice.expect("353")).params == ["alice", "=", room, "@alice"]  # creator
        assert (await alice.expect("366")).params[:2] == ["alice", room]
    await bob.send("JOIN", "#a")
    await alice.expect("JOIN", lambda m: (m.source or "").startswith("bob!") and m.params == ["#a"])
    names = await bob.expect("353")
    assert names.params[3].split() == ["@alice", "bob"]
    await alice.send("JOIN", "#lobby")  # already there: nothing at all
    await alice.send("PART", "#a", "bye now")
    part = await alice.expect("PART")
    assert (part.source, part.params) == ("alice!alice@chat", ["#a", "bye now"])
    assert (await bob.expect("PART")).params == ["#a", "bye now"]
    await alice.send("JOIN", "0")  # part everything
    parted = {(await alice.expect("PART")).params[0] for _ in range(2)}
    assert parted == {"#lobby", "#b"}
    await asyncio.gather(alice.close(), bob.close())


async def test_privmsg_notice_and_ctcp_action(server: ChatServer) -> None:
    alice, bob = await pair(server)
    await alice.send("PRIVMSG", "#lobby", "hello \x02bold\x02 and \x0304,01red\x03 text")
    msg = await bob.expect("PRIVMSG")
    assert (msg.source, msg.params) == ("alice!alice@chat", ["#lobby", "hello bold and red text"])
    assert msg.tags is None  # no server-time asked for
    await alice.send("PRIVMSG", "bob", "\x01ACTION waves\x01")
    action = await bob.expect("PRIVMSG")
    assert action.params == ["bob", "\x01ACTION waves\x01"]
    await alice.send("PRIVMSG", "bob", "\x01VERSION\x01")  # other CTCP: not relayed
    await alice.send("NOTICE", "#lobby", "a notice")
    assert (await bob.expect("PRIVMSG")).params == ["#lobby", "a notice"]
    await alice.send("NOTICE", "nobody", "never answered")  # no error reply to a NOTICE
    await alice.send("PING", "sync")
    assert (await alice.message()).command == "PONG"  # nothing came before it
    await asyncio.gather(alice.close(), bob.close())


async def test_topic(server: ChatServer) -> None:
    alice, bob = await pair(server)
    await alice.send("TOPIC", "#lobby")
    assert (await alice.message()).params == ["alice", "#lobby", "No topic is set"]  # 331
    await alice.send("TOPIC", "#lobby", "snakes \x0303and\x03 ladders")
    for client in (alice, bob):
        topic = await client.expect("TOPIC")
        assert topic.source == "alice!alice@chat"
        assert topic.params == ["#lobby", "snakes and ladders"]
    await bob.send("TOPIC", "#lobby")
    assert (await bob.expect("332")).params == ["bob", "#lobby", "snakes and ladders"]
    setter = await bob.message()
    assert setter.command == "333" and setter.params[:3] == ["bob", "#lobby", "alice"]
    assert setter.params[3].isdigit()
    await bob.send("TOPIC", "#lobby", "x" * 400)  # cut to TOPICLEN, as IRC servers do
    assert len((await bob.expect("TOPIC")).params[1]) == 300
    carol = await IrcClient.connect(server.irc_port)  # a joiner gets 332 and 333
    await carol.register("carol")
    assert (await carol.expect("332")).params[1] == "#lobby"
    assert (await carol.message()).command == "333"
    await asyncio.gather(alice.close(), bob.close(), carol.close())


async def test_names_who_whois(server: ChatServer) -> None:
    alice, bob = await pair(server)
    await alice.send("NAMES", "#lobby")
    names = await alice.expect("353")
    assert names.params[:3] == ["alice", "=", "#lobby"]
    assert sorted(names.params[3].split()) == ["alice", "bob"]
    assert (await alice.message()).params == ["alice", "#lobby", "End of /NAMES list"]
    await alice.send("NAMES", "#nowhere")
    assert (await alice.message()).params[:2] == ["alice", "#nowhere"]  # 366 only
    await alice.send("WHO", "#lobby")
    rows = await alice.until("315")
    who = {m.params[5]: m.params for m in rows if m.command == "352"}
    assert set(who) == {"alice", "bob"}  # the asker's own row included (irssi waits for it)
    assert who["alice"] == [
        "alice", "#lobby", "alice", "chat", "chat.server", "alice", "H", "0 alice the tester"
    ]  # fmt: skip
    assert rows[-1].params == ["alice", "#lobby", "End of WHO list"]
    await alice.send("WHO", "bob")
    assert (await alice.expect("352")).params[5] == "bob"
    assert (await alice.expect("315")).params[1] == "bob"
    await alice.send("WHOIS", "bob")
    whois = {m.command: m.params for m in await alice.until("318")}
    assert whois["311"] == ["alice", "bob", "bob", "chat", "*", "bob the tester"]
    assert whois["319"] == ["alice", "bob", "#lobby"]
    assert whois["312"][:3] == ["alice", "bob", "chat.server"]
    await alice.send("WHOIS", "ghost")
    assert (await alice.message()).params[:2] == ["alice", "ghost"]  # 401
    assert (await alice.message()).command == "318"
    await asyncio.gather(alice.close(), bob.close())


async def test_nick_change_and_collision(server: ChatServer) -> None:
    alice, bob = await pair(server)
    await alice.send("NICK", "Bob")  # the same nick folded: 433
    taken = await alice.expect("433")
    assert taken.params[:2] == ["alice", "Bob"]
    await alice.send("NICK", "-bad")
    assert (await alice.expect("432")).params[:2] == ["alice", "-bad"]
    await alice.send("NICK", "al")
    for client in (alice, bob):
        nick = await client.expect("NICK")
        assert (nick.source, nick.params) == ("alice!alice@chat", ["al"])
    await alice.send("PING", "x")
    assert (await alice.expect("PONG")).params == ["chat.server", "x"]
    await bob.send("WHOIS", "al")
    assert (await bob.expect("311")).params[1] == "al"
    await asyncio.gather(alice.close(), bob.close())


async def test_list_mode_away_and_the_rest(server: ChatServer) -> None:
    alice, bob = await pair(server)
    await alice.send("LIST")
    rows = await alice.until("323")
    assert [m.command for m in rows] == ["321", "322", "323"]
    assert rows[1].params == ["alice", "#lobby", "2", ""]
    await alice.send("MODE", "#lobby")
    assert (await alice.message()).params == ["alice", "#lobby", "+n"]  # 324
    await alice.send("MODE", "#lobby", "b")
    assert (await alice.message()).command == "368"
    await alice.send("MODE", "#lobby", "+o", "bob")
    assert (await alice.message()).command == "482"
    await alice.send("MODE", "#nowhere")
    assert (await alice.message()).command == "403"
    await alice.send("MODE", "alice")
    assert (await alice.message()).params == ["alice", "+"]  # 221
    await alice.send("MODE", "alice", "+i")
    assert (await alice.message()).command == "MODE"
    await alice.send("MODE", "bob")
    assert (await alice.message()).command == "502"
    await bob.send("AWAY", "lunch")
    assert (await bob.message()).command == "306"
    await alice.send("PRIVMSG", "bob", "you there?")
    assert (await alice.message()).params == ["alice", "bob", "lunch"]  # 301
    await alice.send("WHO", "bob")
    assert (await alice.message()).params[6] == "G"
    await bob.send("AWAY")
    assert (await bob.expect("305")).params[0] == "bob"
    await alice.send("USERHOST", "bob", "nobody")
    assert (await alice.expect("302")).params == ["alice", "bob=+bob@chat"]  # 302
    await alice.send("ISON", "bob", "nobody", "ALICE")
    assert (await alice.message()).params == ["alice", "bob alice"]  # 303
    await alice.send("MOTD")
    assert (await alice.until("376"))[0].command == "375"
    await alice.send("LUSERS")
    lusers = await alice.until("255")
    assert "There are 2 users" in lusers[0].params[1]
    await alice.send("VERSION")
    assert (await alice.message()).command == "351"
    assert (await alice.message()).command == "005"
    await alice.send("TIME")
    assert (await alice.expect("391")).params[1] == "chat.server"
    await asyncio.gather(alice.close(), bob.close())


async def test_error_numerics(server: ChatServer) -> None:
    alice, bob = await pair(server)
    cases: list[tuple[str, str]] = [
        ("PRIVMSG nobody :hi", "401 alice nobody"),
        ("PRIVMSG #nowhere :hi", "403 alice #nowhere"),
        ("JOIN #bad!name", "403 alice #bad!name"),
        ("PART #nowhere", "403 alice #nowhere"),
        ("PRIVMSG", "411 alice"),
        ("PRIVMSG #lobby", "412 alice"),
        ("PRIVMSG #lobby :", "412 alice"),
        ("JOIN", "461 alice JOIN"),
        ("PART", "461 alice PART"),
        ("TOPIC", "461 alice TOPIC"),
        ("PING", "409 alice"),
        ("WHOIS", "431 alice"),
        ("KICK #lobby bob", "482 alice #lobby"),  # the default room has no operators
        ("KNOCK #lobby", "421 alice KNOCK"),
    ]
    for sent, expected in cases:
        await alice.raw(sent)
        got = await alice.message()
        assert " ".join([got.command, *got.params]).startswith(expected), (sent, got.format())
    await bob.send("JOIN", "#private")
    await bob.expect("366")
    await alice.send("PRIVMSG", "#private", "let me in")
    assert (await alice.message()).params[:2] == ["alice", "#private"]  # 404
    await alice.send("PART", "#private")
    assert (await alice.message()).command == "442"
    await alice.send("TOPIC", "#private", "mine")
    assert (await alice.message()).command == "442"
    await alice.send("JOIN", "#a,#b,#c")  # max_rooms_per_client=3, #lobby is one
    await alice.expect("366", lambda m: m.params[1] == "#b")
    too_many = await alice.expect("405")
    assert too_many.params[:2] == ["alice", "#c"]
    await alice.raw(b"PRIVMSG #lobby :caf\xe9\r\n")  # latin-1: UTF8ONLY
    fail = await alice.message()
    assert (fail.command, fail.params[:2]) == ("FAIL", ["*", "INVALID_UTF8"])
    await asyncio.gather(alice.close(), bob.close())


async def test_room_full_and_long_lines() -> None:
    async with running_server(irc=True, irc_port=0, max_room_members=1, max_line=512) as srv:
        alice = await IrcClient.login(srv.irc_port, "alice")
        bob = await IrcClient.connect(srv.irc_port)
        await bob.register("bob")
        full = await bob.expect("471")
        assert full.params[:2] == ["bob", "#lobby"]
        await bob.raw("PRIVMSG alice :" + "x" * 600)
        assert (await bob.message()).params == ["bob", "Input line was too long"]  # 417
        await bob.send("PING", "still here")
        assert (await bob.message()).command == "PONG"
        await asyncio.gather(alice.close(), bob.close())


async def test_rate_limit_and_flood() -> None:
    async with running_server(irc=True, irc_port=0, msg_rate=1.0, msg_burst=2) as srv:
        client = await IrcClient.connect(srv.irc_port)
        await client.raw("PING a\r\nPING b\r\nPING c\r\nPING d\r\nPING e\r\n")
        fail = await client.expect("FAIL")
        assert fail.params[:2] == ["*", "RATE_LIMITED"]
        lines = await client.closed()
        assert lines[-1].command == "ERROR" and "flood" in lines[-1].params[0]
        await client.close()


async def test_message_tags_and_echo_message(server: ChatServer) -> None:
    tagged = await IrcClient.login(server.irc_port, "tagged", ("server-time", "message-tags"))
    echo = await IrcClient.login(server.irc_port, "echo", ("echo-message", "server-time"))
    plain = await IrcClient.login(server.irc_port, "plain")
    await echo.raw("@+draft/reply=abc;+typing=active PRIVMSG #lobby :tagged hello")
    for client, tags in ((tagged, {"time", "msgid"}), (echo, {"time"})):  # the sender's echo too
        msg = await client.expect("PRIVMSG")
        assert msg.params == ["#lobby", "tagged hello"]
        assert msg.tags is not None and set(msg.tags) == tags  # client tags not relayed
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", msg.tags["time"])
    await echo.raw("@+typing=active TAGMSG #lobby")  # dropped, without a 421
    await echo.send("PING", "tagmsg")
    assert (await echo.message()).params == ["chat.server", "tagmsg"]
    plain_msg = await plain.expect("PRIVMSG")
    assert plain_msg.tags is None
    await plain.send("PRIVMSG", "#lobby", "no echo for me")
    await tagged.expect("PRIVMSG", lambda m: m.params[1] == "no echo for me")
    await plain.send("PING", "after")
    assert (await plain.message()).command == "PONG"  # not its own PRIVMSG back
    await echo.send("PRIVMSG", "plain", "psst")
    mine = await echo.expect("PRIVMSG", lambda m: m.params[0] == "plain")  # echo: PMs too
    assert (mine.source, mine.params) == ("echo!echo@chat", ["plain", "psst"])
    await asyncio.gather(tagged.close(), echo.close(), plain.close())


async def test_long_messages_are_split_for_irc(server: ChatServer) -> None:
    alice, bob = await pair(server)
    text = "é" * 400  # 800 bytes: over one IRC line
    await alice.send("PRIVMSG", "#lobby", text)
    first = await bob.expect("PRIVMSG")
    second = await bob.expect("PRIVMSG")
    assert first.params[1] + second.params[1] == text
    assert len(first.format().encode()) + 2 <= 512
    await asyncio.gather(alice.close(), bob.close())
