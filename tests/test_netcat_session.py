"""A whole session driven exactly as netcat would: raw bytes in, lines out."""

import asyncio

from chat.net.server import ChatServer
from tests.helpers import LineClient, TextClient


async def test_whole_netcat_session(server: ChatServer) -> None:
    alice = await LineClient.connect(server.port)
    assert (
        await alice.line()
        == "* welcome to chat! pick a nick (1-24 of A-Z a-z 0-9 _ - [ ] { } | ^):"
    )
    await alice.send(b"alice\r\n")  # telnet-style line endings work too
    assert (await alice.line()).startswith("* welcome, alice! type /help")
    assert await alice.line() == "* alice joined #lobby (1 here)"
    assert await alice.line() == "* #lobby (1): alice"

    bob = await TextClient.login(server.port, "bob")
    assert await alice.line() == "* bob joined #lobby (2 here)"

    await alice.send(b"hello bob\n")
    assert await bob.line() == "[#lobby] <alice> hello bob"
    await bob.send(b"hi alice\n")
    assert await alice.line() == "[#lobby] <bob> hi alice"

    await alice.send(b"/help\n")
    assert await alice.line() == "* commands:"
    help_lines = [await alice.line() for _ in range(24)]  # 11 commands, 12 of moderation, //
    names = ("help", "nick", "join", "part", "rooms", "who", "msg", "me", "topic", "history")
    for name in (*names, "quit", "mode", "op", "kick", "ban", "mute", "invite", "oper", "kill"):
        assert any(line.startswith(f"* /{name}") for line in help_lines), name

    await alice.send(b"/me waves\n")
    assert await bob.line() == "[#lobby] * alice waves"

    await alice.send(b"/msg bob psst\n")
    assert await bob.line() == "[pm] <alice> psst"

    await alice.send(b"/topic snakes and ladders\n")
    assert await alice.line() == "* alice set the topic of #lobby: snakes and ladders"
    assert await bob.line() == "* alice set the topic of #lobby: snakes and ladders"
    await bob.send(b"/topic\n")
    assert await bob.line() == "* topic of #lobby: snakes and ladders"

    await bob.send(b"/who\n")
    assert await bob.line() == "* #lobby (2): alice, bob"

    await alice.send(b"/join #python\n")
    assert await alice.line() == "* alice joined #python (1 here)"
    assert await alice.line() == "* #python (1): @alice"  # she made it: its operator
    await alice.send(b"/rooms\n")
    assert await alice.line() == "* 2 room(s):"
    assert await alice.line() == "*   #lobby (2)  snakes and ladders"
    assert await alice.line() == "*   #python (1)"

    await alice.send(b"only python sees this\n")  # the current room is now #python
    await alice.send(b"/part\n")
    assert await alice.line() == "* alice left #python"
    await alice.send(b"back in the lobby\n")  # the current room falls back to #lobby
    assert await bob.line() == "[#lobby] <alice> back in the lobby"

    await alice.send(b"/nick al\n")
    assert await alice.line() == "* alice is now known as al"
    assert await bob.line() == "* alice is now known as al"

    await al_quits(alice, bob)


async def al_quits(al: LineClient, bob: LineClient) -> None:
    await al.send(b"/quit lunch time\n")
    assert await al.closed() == ["* bye: quit"]
    assert await bob.line() == "* al quit (lunch time)"
    await bob.send(b"/who\n")
    assert await bob.line() == "* #lobby (1): bob"
    await asyncio.gather(al.close(), bob.close())
