"""Every command, in both dialects, against a real server."""

from chat.net.server import ChatServer
from tests.helpers import JsonClient, TextClient


async def test_json_session_receives_echo_and_every_event(server: ChatServer) -> None:
    bob = await JsonClient.login(server.port, "bob")
    alice = await TextClient.login(server.port, "alice")
    joined = await bob.event("join")
    history = {"epoch": joined.pop("epoch"), "offset": joined.pop("offset")}  # the room's stream
    assert joined == {"type": "join", "room": "#lobby", "nick": "alice", "members": 2}
    assert isinstance(history["epoch"], str) and history["epoch"] and history["offset"] == 0

    await bob.send_json(type="say", text="hi all")
    own = await bob.event("message")
    assert (own["room"], own["nick"], own["text"], own["action"]) == (
        "#lobby",
        "bob",
        "hi all",
        False,
    )
    assert isinstance(own["ts"], float)
    assert await alice.line() == "[#lobby] <bob> hi all"

    await alice.send("hello bob")
    got = await bob.event("message")
    assert (got["nick"], got["text"]) == ("alice", "hello bob")

    await bob.send_json(type="me", text="waves")
    assert (await bob.event("message"))["action"] is True
    assert await alice.line() == "[#lobby] * bob waves"

    await alice.send("/msg bob psst")
    pm = await bob.event("private")
    assert (pm["from"], pm["to"], pm["text"]) == ("alice", "bob", "psst")
    await bob.send_json(type="msg", to="ALICE", text="hey")  # nicks are case-insensitive
    assert (await bob.event("private"))["to"] == "alice"  # the JSON sender sees its own pm
    assert await alice.line() == "[pm] <bob> hey"

    await bob.send_json(type="topic", topic="json talk")
    assert await bob.event("topic") == {
        "type": "topic",
        "room": "#lobby",
        "topic": "json talk",
        "by": "bob",
    }
    await bob.send_json(type="topic")
    assert (await bob.event("topic"))["by"] is None

    await bob.send_json(type="join", room="py")
    assert (await bob.event("join"))["room"] == "#py"
    assert await bob.event("who") == {
        "type": "who", "room": "#py", "nicks": ["bob"], "total": 1, "prefixes": {"bob": "@"}
    }  # fmt: skip
    await bob.send_json(type="rooms")
    rooms = await bob.event("rooms")
    assert rooms["total"] == 2
    assert rooms["rooms"][0] == {"name": "#lobby", "members": 2, "topic": "json talk"}

    await bob.send_json(type="say", room="#lobby", text="to the lobby while #py is current")
    assert (await bob.event("message"))["room"] == "#lobby"
    await alice.expect(r"^\[#lobby\] <bob> to the lobby")

    await bob.send_json(type="who", room="#lobby")
    assert (await bob.event("who"))["nicks"] == ["bob", "alice"]
    await bob.send_json(type="part", room="#py", reason="done")
    assert await bob.event("part") == {
        "type": "part",
        "room": "#py",
        "nick": "bob",
        "reason": "done",
        "members": 0,
    }

    await bob.send_json(type="nick", nick="robert")
    assert await bob.event("nick") == {"type": "nick", "old": "bob", "new": "robert"}
    assert await alice.line() == "* bob is now known as robert"

    await bob.send_json(type="ping", token="abc")
    assert await bob.event("pong") == {"type": "pong", "token": "abc"}
    await bob.send_json(type="help")
    assert any("/msg" in line for line in (await bob.event("help"))["lines"])

    await bob.send_json(type="quit", reason="bye now")
    assert await bob.event("bye") == {"type": "bye", "reason": "quit"}
    assert await alice.line() == "* robert quit (bye now)"
    await bob.closed()


async def test_join_when_already_in_room_switches_current(server: ChatServer) -> None:
    alice = await TextClient.login(server.port, "alice")
    await alice.send("/join #a")
    await alice.expect(r"^\* #a \(1\)")
    await alice.send("/join #lobby")
    assert await alice.line() == "* #lobby is now your current room"
    bob = await TextClient.login(server.port, "bob")
    await alice.send("where am I")
    assert await bob.line() == "[#lobby] <alice> where am I"


async def test_room_vanishes_with_its_topic_when_empty(server: ChatServer) -> None:
    alice = await TextClient.login(server.port, "alice")
    await alice.send("/join #tmp")
    await alice.send("/topic temporary")
    await alice.expect("set the topic of #tmp")
    await alice.send("/part")
    await alice.expect(r"left #tmp")
    assert "#tmp" not in server.hub.rooms
    await alice.send("/join #tmp")
    await alice.expect(r"^\* #tmp \(1\)")
    await alice.send("/topic")
    assert await alice.line() == "* #tmp has no topic"


async def test_quit_tells_each_neighbour_once(server: ChatServer) -> None:
    alice = await TextClient.login(server.port, "alice")
    bob = await TextClient.login(server.port, "bob")
    for who in (alice, bob):
        await who.send("/join #second")
        await who.expect(r"^\* #second \(")
    await alice.send("/quit")
    await bob.expect(r"^\* alice quit")
    await bob.send("/ping marker")
    assert await bob.line() == "* pong marker"  # no second quit line before the pong
