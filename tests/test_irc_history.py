"""IRCv3 `msgid`, `batch` and `draft/chathistory` over real sockets, parsed with irctokens."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator

import pytest
from irctokens.line import Line

from chat.net.server import ChatServer
from chat.protocol.irc import server_time
from tests.helpers import JsonClient, running_server
from tests.ircclient import IrcClient

FULL = ("batch", "draft/chathistory", "message-tags", "server-time")
MSGID = re.compile(r"([0-9a-f]+)-([0-9]+)")


@pytest.fixture
async def server() -> AsyncIterator[ChatServer]:
    async with running_server(irc=True, irc_port=0) as srv:
        yield srv


async def joined(port: int, nick: str, room: str, caps: tuple[str, ...] = FULL) -> IrcClient:
    client = await IrcClient.login(port, nick, caps)
    await client.send("JOIN", room)
    await client.expect("366", lambda m: m.params[1] == room)
    return client


async def say(client: IrcClient, room: str, texts: list[str]) -> None:
    """Say each of `texts` in `room`, then wait until the server has handled them all."""
    for text in texts:
        await client.send("PRIVMSG", room, text)
    await client.send("PING", "said")
    await client.expect("PONG", lambda m: m.params[-1] == "said")


async def writer(port: int, room: str, count: int, nick: str = "writer") -> IrcClient:
    """A client in `room` that said m1, m2, ... m`count` there."""
    client = await joined(port, nick, room, ())
    await say(client, room, [f"m{i}" for i in range(1, count + 1)])
    return client


async def chathistory(client: IrcClient, *params: str) -> list[Line]:
    """Send CHATHISTORY; return the lines of its `chathistory` batch (checked framing)."""
    await client.send("CHATHISTORY", *params)
    start = await client.expect("BATCH")
    assert start.source == "chat.server"
    assert start.params[0].startswith("+") and start.params[1] == "chathistory"
    assert start.params[2:] == [params[1].lower()]  # the room's name (these tests' are lower case)
    ref = start.params[0][1:]
    assert re.fullmatch(r"[A-Za-z0-9-]+", ref)
    lines: list[Line] = []
    while True:
        msg = await client.message()
        if msg.command == "BATCH":
            assert msg.params == [f"-{ref}"] and msg.tags is None
            return lines
        assert msg.command == "PRIVMSG" and msg.tags is not None and msg.tags["batch"] == ref
        lines.append(msg)


def texts(lines: list[Line]) -> list[str]:
    return [m.params[1] for m in lines]


def ids(lines: list[Line]) -> list[str]:
    return [(m.tags or {})["msgid"] for m in lines]


async def everything(client: IrcClient, room: str) -> list[str]:
    """The msgids of every message of `room`, oldest first."""
    return ids(await chathistory(client, "LATEST", room, "*", "100"))


async def test_caps_and_isupport(server: ChatServer) -> None:
    client = await IrcClient.connect(server.irc_port)
    await client.send("CAP", "LS", "302")
    offered = set((await client.expect("CAP")).params[2].split())
    assert {"batch", "draft/chathistory", "message-tags", "server-time"} <= offered
    lines = await client.register("capper", FULL)
    isupport = {t for m in lines if m.command == "005" for t in m.params[1:-1]}
    assert {"CHATHISTORY=100", "MSGREFTYPES=msgid,timestamp"} <= isupport
    await client.send("CAP", "LIST")
    assert set((await client.expect("CAP")).params[2].split()) == set(FULL)
    await client.close()


async def test_msgid_is_epoch_and_offset_for_everyone(server: ChatServer) -> None:
    port = server.irc_port
    json = await JsonClient.login(server.port, "jason")
    tagged = await IrcClient.login(port, "tagged", ("message-tags",))
    timed = await IrcClient.login(port, "timed", ("server-time",))
    sender = await IrcClient.login(port, "sender", ("echo-message", "message-tags"))
    await sender.send("PRIVMSG", "#lobby", "one")
    await sender.send("PRIVMSG", "#lobby", "\x01ACTION two\x01")
    for n, text in enumerate(("one", "\x01ACTION two\x01"), start=1):
        event = await json.event("message")
        expected = f"{event['epoch']}-{event['offset']}"
        assert event["offset"] == n
        for client in (tagged, sender):  # the sender's echo has the same msgid
            msg = await client.expect("PRIVMSG")
            assert msg.params == ["#lobby", text]
            assert msg.tags == {"msgid": expected}
        live = await timed.expect("PRIVMSG")
        assert live.tags is not None and set(live.tags) == {"time"}  # no message-tags: no msgid
    epoch = expected.rpartition("-")[0]
    assert MSGID.fullmatch(expected)
    await sender.send("PRIVMSG", "#lobby", "x" * 1200)  # three IRC lines: each its own msgid
    pieces = [await tagged.expect("PRIVMSG") for _ in range(3)]
    assert "".join(texts(pieces)) == "x" * 1200
    assert ids(pieces) == [f"{epoch}-3", f"{epoch}-3.2", f"{epoch}-3.3"]
    await sender.send("PRIVMSG", "tagged", "private")  # private messages have no history
    private = await tagged.expect("PRIVMSG", lambda m: m.params[0] == "tagged")
    assert private.tags is None
    await asyncio.gather(json.close(), tagged.close(), timed.close(), sender.close())


async def test_latest_before_after_and_limits(server: ChatServer) -> None:
    port = server.irc_port
    filler = await writer(port, "#h", 12)
    asker = await joined(port, "asker", "#h")
    every = await everything(asker, "#h")
    assert len(every) == 12
    assert all(MSGID.fullmatch(i) for i in every)
    assert len({i.rpartition("-")[0] for i in every}) == 1  # one epoch
    assert [int(i.rpartition("-")[2]) for i in every] == list(range(1, 13))
    latest = await chathistory(asker, "LATEST", "#h", "*", "5")
    assert texts(latest) == ["m8", "m9", "m10", "m11", "m12"]
    assert ids(latest) == every[7:]
    assert all(m.source == "writer!writer@chat" for m in latest)
    assert all(re.fullmatch(r"\d{4}-.*\.\d{3}Z", (m.tags or {})["time"]) for m in latest)
    assert len(await chathistory(asker, "LATEST", "#h", "*", "0")) == 12  # 0: the maximum
    since = await chathistory(asker, "latest", "#H", f"msgid={every[8]}", "10")  # any case
    assert texts(since) == ["m10", "m11", "m12"]
    assert texts(await chathistory(asker, "LATEST", "#h", f"msgid={every[8]}", "2")) == [
        "m11",
        "m12",
    ]
    before = await chathistory(asker, "BEFORE", "#h", f"msgid={every[5]}", "3")
    assert texts(before) == ["m3", "m4", "m5"]
    assert await chathistory(asker, "BEFORE", "#h", f"msgid={every[0]}", "3") == []  # empty
    after = await chathistory(asker, "AFTER", "#h", f"msgid={every[2]}", "2")
    assert texts(after) == ["m4", "m5"]
    assert await chathistory(asker, "AFTER", "#h", f"msgid={every[11]}", "5") == []
    await filler.send("PRIVMSG", "#h", "m13")  # a live line and history agree on its msgid
    live = await asker.expect("PRIVMSG", lambda m: m.params[0] == "#h")
    assert ids(await chathistory(asker, "AFTER", "#h", f"msgid={every[11]}", "5")) == ids([live])
    await asyncio.gather(filler.close(), asker.close())


async def test_at_most_100_per_request(server: ChatServer) -> None:
    port = server.irc_port
    filler = await writer(port, "#many", 120)
    asker = await joined(port, "asker", "#many")
    latest = await chathistory(asker, "LATEST", "#many", "*", "500")
    assert texts(latest) == [f"m{i}" for i in range(21, 121)]
    first = await chathistory(asker, "BEFORE", "#many", f"msgid={ids(latest)[0]}", "1000")
    assert texts(first) == [f"m{i}" for i in range(1, 21)]
    await asyncio.gather(filler.close(), asker.close())


async def test_around_and_between(server: ChatServer) -> None:
    port = server.irc_port
    filler = await writer(port, "#h", 12)
    asker = await joined(port, "asker", "#h")
    every = await everything(asker, "#h")

    async def ask(*params: str) -> list[str]:
        return texts(await chathistory(asker, params[0], "#h", *params[1:]))

    assert await ask("AROUND", f"msgid={every[4]}", "3") == ["m4", "m5", "m6"]
    assert await ask("AROUND", f"msgid={every[4]}", "1") == ["m5"]
    assert await ask("AROUND", f"msgid={every[4]}", "4") == ["m3", "m4", "m5", "m6"]
    assert await ask("AROUND", f"msgid={every[0]}", "4") == ["m1", "m2", "m3", "m4"]
    assert await ask("AROUND", f"msgid={every[11]}", "4") == ["m9", "m10", "m11", "m12"]
    forwards = ("BETWEEN", f"msgid={every[1]}", f"msgid={every[6]}")
    assert await ask(*forwards, "10") == ["m3", "m4", "m5", "m6"]
    assert await ask(*forwards, "2") == ["m3", "m4"]  # counted from the first reference
    backwards = ("BETWEEN", f"msgid={every[6]}", f"msgid={every[1]}")
    assert await ask(*backwards, "10") == ["m3", "m4", "m5", "m6"]  # still oldest first
    assert await ask(*backwards, "2") == ["m5", "m6"]
    assert await ask("BETWEEN", f"msgid={every[3]}", f"msgid={every[3]}", "10") == []
    assert await ask("BETWEEN", f"msgid={every[3]}", f"msgid={every[4]}", "10") == []
    await asyncio.gather(filler.close(), asker.close())


async def test_timestamps(server: ChatServer) -> None:
    port = server.irc_port
    filler = await joined(port, "writer", "#t", ())
    asker = await joined(port, "asker", "#t")
    start = 1_800_000_000.25
    ticks = itertools.count(1)
    server.hub.clock = lambda: start + next(ticks)  # message k is stamped start + k seconds
    await say(filler, "#t", [f"m{i}" for i in range(1, 7)])
    live = [await asker.expect("PRIVMSG") for _ in range(6)]
    stamps = [(m.tags or {})["time"] for m in live]
    assert stamps == [server_time(start + k) for k in range(1, 7)]
    every = ids(live)

    def at(k: float) -> str:
        return f"timestamp={server_time(start + k)}"

    async def ask(*params: str) -> list[str]:
        lines = await chathistory(asker, params[0], "#t", *params[1:])
        assert all((m.tags or {})["time"] == stamps[int(m.params[1][1:]) - 1] for m in lines)
        return texts(lines)

    assert await ask("BEFORE", at(4), "10") == ["m1", "m2", "m3"]
    assert await ask("BEFORE", at(4.5), "10") == ["m1", "m2", "m3", "m4"]
    assert await ask("AFTER", at(4), "10") == ["m5", "m6"]
    assert await ask("AFTER", at(3.5), "1") == ["m4"]
    assert await ask("AFTER", "timestamp=2000-01-01T00:00:00.000Z", "2") == ["m1", "m2"]
    assert await ask("BEFORE", "timestamp=2100-01-01T00:00:00.000Z", "2") == ["m5", "m6"]
    assert await ask("LATEST", at(4), "10") == ["m5", "m6"]
    assert await ask("AROUND", at(3.5), "2") == ["m3", "m4"]
    assert await ask("BETWEEN", at(1), f"msgid={every[4]}", "10") == ["m2", "m3", "m4"]
    assert await ask("BETWEEN", at(6), at(1), "10") == ["m2", "m3", "m4", "m5"]
    await asyncio.gather(filler.close(), asker.close())


async def test_without_batch_or_tags(server: ChatServer) -> None:
    port = server.irc_port
    filler = await writer(port, "#h", 3)
    plain = await joined(port, "plain", "#h", ())
    await plain.send("CHATHISTORY", "LATEST", "#h", "*", "2")
    first, second = await plain.message(), await plain.message()
    assert (first.tags, first.source, first.params) == (None, "writer!writer@chat", ["#h", "m2"])
    assert (second.tags, second.params) == (None, ["#h", "m3"])
    await plain.send("PING", "end")  # nothing else came: no BATCH lines
    assert (await plain.message()).command == "PONG"
    timed = await joined(port, "timed", "#h", ("server-time",))
    await timed.send("CHATHISTORY", "AFTER", "#h", "timestamp=2000-01-01T00:00:00Z", "1")
    only = await timed.message()
    assert only.params == ["#h", "m1"] and only.tags is not None and set(only.tags) == {"time"}
    await asyncio.gather(filler.close(), plain.close(), timed.close())


async def test_errors(server: ChatServer) -> None:
    port = server.irc_port
    filler = await writer(port, "#h", 3)
    other = await joined(port, "other", "#elsewhere", ())
    asker = await joined(port, "asker", "#h")
    every = await everything(asker, "#h")
    epoch = every[0].rpartition("-")[0]
    invalid = "Invalid parameters"
    gone = "Messages could not be retrieved"
    cases: list[tuple[list[str], list[str]]] = [
        ([], ["INVALID_PARAMS", "*", invalid]),
        (["TARGETS", "timestamp=x", "timestamp=y", "10"], ["INVALID_PARAMS", "TARGETS", invalid]),
        (["LATEST", "#h", "*"], ["INVALID_PARAMS", "LATEST", invalid]),
        (["LATEST", "#h", "*", "5", "6"], ["INVALID_PARAMS", "LATEST", invalid]),
        (["LATEST", "#h", "*", "ten"], ["INVALID_PARAMS", "LATEST", "ten", invalid]),
        (["LATEST", "#h", "*", "-1"], ["INVALID_PARAMS", "LATEST", "-1", invalid]),
        (["BEFORE", "#h", "bogus", "5"], ["INVALID_PARAMS", "BEFORE", "bogus", invalid]),
        (["AFTER", "#h", "*", "5"], ["INVALID_PARAMS", "AFTER", "*", invalid]),
        (
            ["AFTER", "#h", "timestamp=yesterday", "5"],
            ["INVALID_PARAMS", "AFTER", "timestamp=yesterday", invalid],
        ),
        (["BETWEEN", "#h", every[0], "5"], ["INVALID_PARAMS", "BETWEEN", invalid]),
        (["LATEST", "#elsewhere", "*", "5"], ["INVALID_TARGET", "LATEST", "#elsewhere", gone]),
        (["LATEST", "#nowhere", "*", "5"], ["INVALID_TARGET", "LATEST", "#nowhere", gone]),
        (["LATEST", "writer", "*", "5"], ["INVALID_TARGET", "LATEST", "writer", gone]),
        (
            ["AFTER", "#h", "msgid=deadbeef0000-1", "5"],
            ["MESSAGE_ERROR", "AFTER", "#h", "msgid=deadbeef0000-1", gone],
        ),
        (
            ["AROUND", "#h", f"msgid={epoch}-99", "5"],
            ["MESSAGE_ERROR", "AROUND", "#h", f"msgid={epoch}-99", gone],
        ),
        (
            ["BEFORE", "#h", f"msgid={epoch}-x", "5"],
            ["MESSAGE_ERROR", "BEFORE", "#h", f"msgid={epoch}-x", gone],
        ),
    ]
    for params, expected in cases:
        await asker.send("CHATHISTORY", *params)
        fail = await asker.message()
        assert (fail.source, fail.command) == ("chat.server", "FAIL"), params
        assert fail.params == ["CHATHISTORY", *expected], params
    await asker.raw("CHATHISTORY LATEST #h * :5 6")  # a parameter with a space is one word back
    assert (await asker.message()).params == [
        "CHATHISTORY",
        "INVALID_PARAMS",
        "LATEST",
        "5",
        invalid,
    ]
    await asyncio.gather(filler.close(), other.close(), asker.close())


async def test_history_off() -> None:
    async with running_server(irc=True, irc_port=0, history_size=0) as srv:
        client = await IrcClient.connect(srv.irc_port)
        await client.send("CAP", "LS", "302")
        offered = set((await client.expect("CAP")).params[2].split())
        assert "batch" in offered and "draft/chathistory" not in offered
        await client.send("CAP", "REQ", "draft/chathistory")
        assert (await client.expect("CAP")).params[1:] == ["NAK", "draft/chathistory"]
        lines = await client.register("nohist", ("message-tags", "batch"))
        isupport = {t.partition("=")[0] for m in lines if m.command == "005" for t in m.params}
        assert not isupport & {"CHATHISTORY", "MSGREFTYPES"}
        await client.expect("366")
        await client.send("CHATHISTORY", "LATEST", "#lobby", "*", "10")
        assert (await client.message()).params == ["nohist", "CHATHISTORY", "Unknown command"]
        other = await IrcClient.login(srv.irc_port, "other")
        await other.send("PRIVMSG", "#lobby", "no offset, no msgid")
        msg = await client.expect("PRIVMSG")
        assert msg.tags is None
        await asyncio.gather(client.close(), other.close())


async def test_reply_fits_half_the_send_queue() -> None:
    async with running_server(irc=True, irc_port=0, queue_bytes=32 * 1024) as srv:
        port = srv.irc_port
        filler = await joined(port, "writer", "#big", ())
        await say(filler, "#big", [f"m{i} " + "y" * 3000 for i in range(1, 9)])
        asker = await joined(port, "asker", "#big")  # after: nothing live queued for it
        latest = await chathistory(asker, "LATEST", "#big", "*", "100")
        count = len(latest) // 7  # each message is seven IRC lines
        assert len(latest) % 7 == 0 and 1 <= count < 8
        heads = [m.params[1].split()[0] for m in latest[::7]]
        assert heads == [f"m{i}" for i in range(9 - count, 9)]  # the newest ones
        assert sum(len(m.format().encode()) + 2 for m in latest) <= 16 * 1024
        oldest = await chathistory(asker, "AFTER", "#big", "timestamp=2000-01-01T00:00:00Z", "9")
        heads = [m.params[1].split()[0] for m in oldest[::7]]
        assert heads == [f"m{i}" for i in range(1, count + 1)]  # the oldest ones
        await asker.send("PING", "alive")
        assert (await asker.expect("PONG")).params[-1] == "alive"
        await asyncio.gather(filler.close(), asker.close())


async def test_a_big_reply_is_charged_to_the_asker() -> None:
    async with running_server(irc=True, irc_port=0, msg_rate=0.1, msg_burst=10) as srv:
        port = srv.irc_port
        filler = await joined(port, "writer", "#big", ())  # 3 lines, and 7 more: 10
        await say(filler, "#big", [f"m{i} " + "z" * 3900 for i in range(1, 7)])
        asker = await joined(port, "asker", "#big")  # 3 lines
        assert len(await chathistory(asker, "LATEST", "#big", "*", "100")) > 6  # ~27 KB
        await asker.send("PING", "next")  # 6 tokens left, were the reply free
        answer = await asker.message()
        assert (answer.command, answer.params[:2]) == ("FAIL", ["*", "RATE_LIMITED"])
        await asyncio.gather(filler.close(), asker.close())
