"""Every error and limit in docs/protocol.md, in both dialects."""

import asyncio

import pytest

from chat.net.server import ChatServer
from tests.helpers import JsonClient, LineClient, TextClient, running_server

IDLE = 3.0  # seconds: the idle timeout of the idle test
WAIT = 30.0  # seconds to wait for an event that must come (generous: the machine may be busy)


async def text_error(client: LineClient, line: str | bytes, code: str) -> str:
    await client.send(line)
    return await client.expect(rf"^! {code}: ")


async def json_error(client: JsonClient, code: str, **command: object) -> dict[str, object]:
    await client.send_json(**command)
    return await client.event("error", lambda ev: ev["code"] == code)


async def test_nick_collision_is_case_insensitive_and_retry_works(server: ChatServer) -> None:
    first = await TextClient.login(server.port, "Bob")
    human = await LineClient.connect(server.port)
    await text_error(human, "bob", "nick-taken")
    await human.send("bobby")
    await human.expect(r"^\* welcome, bobby!")

    prog = await JsonClient.connect(server.port)
    await prog.send_json(type="hello", version=1, nick="BOB")
    assert (await prog.event("error"))["code"] == "nick-taken"
    await prog.send_json(type="hello", version=1, nick="bob2")
    assert (await prog.event("welcome"))["nick"] == "bob2"
    await json_error(prog, "nick-taken", type="nick", nick="bobby")
    await first.close()


@pytest.mark.parametrize("nick", ["9lives", "-dash", "has space", "x" * 25, "émile", "a.b"])
async def test_bad_nicks_are_refused_in_both_dialects(server: ChatServer, nick: str) -> None:
    human = await LineClient.connect(server.port)
    await text_error(human, nick, "bad-nick")
    prog = await JsonClient.connect(server.port)
    await prog.send_json(type="hello", version=1, nick=nick)
    assert (await prog.event("error"))["code"] == "bad-nick"


async def test_commands_before_a_nick(server: ChatServer) -> None:
    human = await LineClient.connect(server.port)
    await text_error(human, "/join #x", "not-registered")
    await human.send("/ping 1")
    await human.expect(r"^\* pong 1")
    prog = await JsonClient.connect(server.port)
    await prog.send('{"type": "hello", "version": 1}')
    assert (await prog.event("error"))["code"] == "bad-command"
    await json_error(prog, "bad-version", type="hello", version=7, nick="x")
    await json_error(prog, "not-registered", type="say", text="hi")


async def test_text_errors(server: ChatServer) -> None:
    c = await TextClient.login(server.port, "alice")
    await text_error(c, "/dance", "unknown-command")
    await text_error(c, "/msg", "bad-command")
    await text_error(c, "/msg nobody hi", "no-such-nick")
    await text_error(c, "/join #no!way", "bad-room")
    await text_error(c, "/part #elsewhere", "not-in-room")
    await text_error(c, "/who #nothing", "not-in-room")
    await text_error(c, "/topic " + "t" * 301, "bad-command")
    await text_error(c, "/nick 1bad", "bad-nick")
    await c.send("/part")
    await c.expect("left #lobby")
    await text_error(c, "anyone?", "not-in-room")
    await c.send("/ping alive")
    assert await c.line() == "* pong alive"


async def test_json_errors(server: ChatServer) -> None:
    c = await JsonClient.login(server.port, "alice")
    await json_error(c, "unknown-command", type="dance")
    await json_error(c, "bad-command", type="msg", to="x")
    await json_error(c, "bad-command", type="say", text=["not", "a", "string"])
    await json_error(c, "no-such-nick", type="msg", to="nobody", text="hi")
    await json_error(c, "bad-room", type="join", room="#bad room")
    await json_error(c, "not-in-room", type="say", room="#elsewhere", text="hi")
    await json_error(c, "bad-command", type="hello", version=1, nick="again")
    await c.send("this is not json")
    assert (await c.event("error"))["code"] == "bad-json"
    await c.send("[1, 2, 3]")
    assert (await c.event("error"))["code"] == "bad-json"
    await c.send_json(type="ping", token="still-here")
    assert (await c.event("pong"))["token"] == "still-here"


async def test_too_many_rooms_and_room_limit() -> None:
    async with running_server(max_rooms_per_client=3, max_rooms=4) as srv:
        t = await TextClient.login(srv.port, "t")
        await t.send("/join #a")
        await t.send("/join #b")
        await text_error(t, "/join #c", "too-many-rooms")
        j = await JsonClient.login(srv.port, "j")
        await j.send_json(type="join", room="#c")
        await j.event("who")
        await json_error(j, "room-limit", type="join", room="#d")
        await j.send_json(type="join", room="#a")  # existing rooms can still be joined
        assert (await j.event("join"))["room"] == "#a"
        await json_error(j, "too-many-rooms", type="join", room="#b")
        await t.send("/part #b")
        await t.expect("left #b")  # #b is gone: 3 rooms; k makes it 4 again
        k = await TextClient.login(srv.port, "k")
        await k.send("/join #f")
        await k.expect(r"^\* #f \(1\)")
        await text_error(t, "/join #e", "room-limit")


async def test_over_long_line_is_dropped_and_the_connection_carries_on(server: ChatServer) -> None:
    limit = server.settings.max_line
    t = await TextClient.login(server.port, "t")
    j = await JsonClient.login(server.port, "j")
    await t.send(b"x" * (limit + 1))
    await t.expect(rf"^! line-too-long: lines are at most {limit} bytes")
    await t.send("after the long one")
    assert (await j.event("message"))["text"] == "after the long one"
    # An unterminated megabyte in pieces: buffered never more than the limit, then it works again.
    for _ in range(16):
        t.writer.write(b"y" * 65536)
    await t.writer.drain()
    await t.send(b"\nfine again")
    await t.expect(r"^! line-too-long")
    assert (await j.event("message"))["text"] == "fine again"
    await j.send(b'{"type":"say","text":"' + b"z" * limit + b'"}')
    assert (await j.event("error"))["code"] == "line-too-long"
    await j.send_json(type="say", text="json fine")
    assert (await j.event("message"))["text"] == "json fine"


async def test_invalid_utf8_is_rejected_in_both_dialects(server: ChatServer) -> None:
    t = await TextClient.login(server.port, "t")
    j = await JsonClient.login(server.port, "j")
    await text_error(t, b"caf\xe9", "bad-utf8")
    await j.send(b'{"type":"say","text":"caf\xe9"}')
    assert (await j.event("error"))["code"] == "bad-utf8"
    await t.send("ok")
    assert (await j.event("message", lambda ev: ev["nick"] == "t"))["text"] == "ok"


async def test_escape_sequences_are_stripped_from_everything_relayed(server: ChatServer) -> None:
    t = await TextClient.login(server.port, "t")
    j = await JsonClient.login(server.port, "j")
    await t.expect("j joined")
    await t.send(b"\x1b[2J\x1b[31mred\x1b[0m \x07\xc2\x9b\xe2\x80\xaeflip")
    got = await j.event("message")
    assert got["text"] == "red flip"
    await j.send_json(type="me", text="\x1b]0;pwned\x07waves\r\x08")
    assert await t.line() == "[#lobby] * j waves"
    await j.send_json(type="topic", topic="\x1b[5mblink")
    assert await t.line() == "* j set the topic of #lobby: blink"
    await j.send_json(type="quit", reason="\x1b[Hgone")
    assert await t.line() == "* j quit (gone)"


async def test_max_clients_refuses_clearly_in_both_dialects() -> None:
    async with running_server(max_clients=2) as srv:
        held = [await TextClient.login(srv.port, "a"), await JsonClient.login(srv.port, "b")]
        human = await LineClient.connect(srv.port)
        lines = await human.closed()
        assert lines == ["! server-full: the server is full; try again later"]
        program = await LineClient.connect(srv.port)
        await program.send('{"type":"hello","version":1,"nick":"c"}')
        lines = await program.closed()
        assert lines[0].startswith("! server-full")  # sent before any dialect is known
        assert srv.stats.refused == 2
        assert len(held) == len(srv.clients) == 2


async def test_idle_client_is_warned_then_cut_and_pinging_keeps_alive() -> None:
    # Long enough that the pinger, pinging every 0.1 s from the moment it is in, is never
    # late on a busy machine; the waits below are for events, with generous bounds.
    async with running_server(idle_timeout=IDLE) as srv:
        pinger = await JsonClient.login(srv.port, "pinger")

        async def keep_alive() -> None:
            while True:
                await pinger.send_json(type="ping")
                await pinger.event("pong", timeout=WAIT)
                await asyncio.sleep(0.1)  # pacing the pings, not waiting for an event

        task = asyncio.create_task(keep_alive())
        try:
            t = await TextClient.login(srv.port, "t")
            j = await JsonClient.login(srv.port, "j")
            warned = await j.event("notice", lambda ev: ev["code"] == "idle-warning", WAIT)
            assert "idle" in warned["text"]
            await t.expect(r"^\* you have been idle", WAIT)
            assert (await j.event("error", timeout=WAIT))["code"] == "idle"
            await j.closed(WAIT)
            assert (await t.expect(r"^! idle: ", WAIT)).startswith("! idle")
            await t.closed(WAIT)
            assert list(srv.hub.nicks) == ["pinger"]
        finally:
            task.cancel()
        assert srv.stats.disconnects["idle"] == 2


async def test_room_full_in_both_dialects() -> None:
    async with running_server(max_room_members=2) as srv:
        held = [await TextClient.login(srv.port, "a"), await TextClient.login(srv.port, "b")]
        late = await LineClient.connect(srv.port)
        await late.send("c")
        await late.expect(r"^\* welcome, c!")
        await late.expect(r"^! room-full: #lobby is full \(2 members\)")  # c is in no room
        j = await JsonClient.connect(srv.port)
        await j.send_json(type="hello", version=1, nick="d")
        await j.event("welcome")
        assert (await j.event("error"))["code"] == "room-full"
        await j.send_json(type="join", room="#other")  # other rooms are fine
        assert (await j.event("join"))["room"] == "#other"
        assert len(held) == srv.hub.rooms["#lobby"].size == 2


async def test_rate_limit_in_the_text_dialect() -> None:
    async with running_server(msg_rate=1.0, msg_burst=3) as srv:
        t = await TextClient.login(srv.port, "fast")
        t.writer.write(b"one\ntwo\nthree\nfour\n")
        await t.writer.drain()
        await t.expect(r"^! rate-limited: more than 1 lines/s: slow down")
        assert srv.stats.messages_received <= 3


@pytest.mark.parametrize(
    ("nick", "code"),
    [
        ("\uff41\uff4c\uff49\uff43\uff45", "nick-taken"),  # fullwidth a l i c e is alice
        ("ALICE", "nick-taken"),
        ("\u0430lice", "bad-nick"),  # Cyrillic a
        ("al\u200bice", "bad-nick"),  # zero-width space
        ("ali\u0301ce", "bad-nick"),  # combining accent
    ],
)
async def test_look_alike_nicks_cannot_impersonate(
    server: ChatServer, nick: str, code: str
) -> None:
    alice = await TextClient.login(server.port, "alice")
    imitator = await JsonClient.connect(server.port)
    await imitator.send_json(type="hello", version=1, nick=nick)
    assert (await imitator.event("error"))["code"] == code
    await alice.close()
