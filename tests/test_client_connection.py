"""The client's connection core (no terminal) against a real server."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from typing import Any

from client.connection import Connection, Fatal, Unreachable
from tests.helpers import JsonClient, TextClient, running_server

Event = dict[str, Any]


class Inbox:
    """Collects a connection's events; `wait` awaits one that matches, with a timeout."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._changed = asyncio.Event()

    def __call__(self, ev: Event) -> None:
        self.events.append(ev)
        self._changed.set()

    async def wait(self, match: Callable[[Event], bool], timeout: float = 5.0) -> Event:
        seen = 0
        async with asyncio.timeout(timeout):
            while True:
                for ev in self.events[seen:]:
                    seen += 1
                    if match(ev):
                        return ev
                self._changed.clear()
                await self._changed.wait()


def kind(name: str, **fields: Any) -> Callable[[Event], bool]:
    return lambda ev: ev.get("type") == name and all(ev.get(k) == v for k, v in fields.items())


async def start(port: int, nick: str, **kw: Any) -> tuple[Connection, Inbox, asyncio.Task[None]]:
    inbox = Inbox()
    conn = Connection("127.0.0.1", port, nick, inbox, **kw)
    task = asyncio.create_task(conn.run())
    await inbox.wait(kind("welcome"))
    return conn, inbox, task


async def test_join_send_receive_and_private_messages() -> None:
    async with running_server() as srv:
        conn, inbox, task = await start(srv.port, "bob")
        alice = await TextClient.login(srv.port, "alice")
        await alice.send("/join #py")
        conn.send({"type": "join", "room": "#py"})
        await inbox.wait(kind("who", room="#py"))
        assert conn.state.current == "#py" and conn.state.current_room is not None
        assert conn.state.current_room.members == {"alice"}
        conn.send({"type": "say", "room": "#py", "text": "hello from bob"})
        assert await alice.expect(r"^\[#py\] <bob> hello from bob")
        await alice.send("hi bob")
        got = await inbox.wait(kind("message", nick="alice"))
        assert (got["room"], got["text"]) == ("#py", "hi bob")
        await alice.send("/msg bob psst")
        assert (await inbox.wait(kind("private")))["text"] == "psst"
        conn.send({"type": "msg", "to": "alice", "text": "psst back"})
        assert await alice.expect(r"^\[pm\] <bob> psst back")
        await conn.quit("bye")
        await asyncio.wait_for(task, 5)
        assert await alice.expect(r"^\* bob quit \(bye\)")


async def test_a_taken_nick_falls_back_and_says_so() -> None:
    async with running_server() as srv:
        holder = await JsonClient.login(srv.port, "bob")
        conn, inbox, task = await start(srv.port, "bob")
        assert conn.state.nick == "bob_"
        notice = next(ev for ev in inbox.events if ev["type"] == "local")
        assert "taken" in notice["text"] and "bob_" in notice["text"]
        await conn.quit()
        await asyncio.wait_for(task, 5)
        await holder.close()


async def test_an_unreachable_server_is_one_clear_error() -> None:
    with socket.socket() as s:  # a port with nobody behind it
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conn = Connection("127.0.0.1", port, "bob", lambda ev: None)
    try:
        await asyncio.wait_for(conn.run(), 5)
    except Unreachable as err:
        assert str(err).startswith(f"cannot reach 127.0.0.1:{port}: ")
    else:
        raise AssertionError("no Unreachable")


async def test_reconnect_and_rejoin_after_the_server_restarts_on_the_same_port() -> None:
    async with running_server() as first:
        port = first.port
        conn, inbox, task = await start(port, "bob", backoff=(0.05, 0.2))
        conn.send({"type": "join", "room": "#py"})
        conn.send({"type": "join", "room": "#lobby"})  # current room back to the lobby
        await inbox.wait(kind("notice", code="current-room"))
    # The server is gone: the client says so and keeps what the user types.
    await inbox.wait(lambda ev: ev.get("type") == "local" and "reconnecting" in ev["text"])
    assert conn.state.link == "offline"
    assert conn.send({"type": "say", "room": "#py", "text": "typed while away"})
    async with running_server(port=port) as second:
        watcher = await TextClient.login(second.port, "watcher")
        await watcher.send("/join #py")
        await watcher.expect(r"^\* #py \(")
        await inbox.wait(lambda ev: ev.get("type") == "local" and "rejoining" in ev["text"])
        await watcher.expect(r"^\* bob joined #py")
        assert await watcher.expect(r"^\[#py\] <bob> typed while away")
        await inbox.wait(kind("notice", code="current-room"))
        assert conn.state.nick == "bob" and conn.state.link == "online"
        assert set(conn.state.rooms) == {"#py", "#lobby"} and conn.state.current == "#lobby"
        await conn.quit()
        await asyncio.wait_for(task, 5)


async def test_lines_past_the_offline_queue_are_refused_with_a_notice() -> None:
    inbox = Inbox()
    conn = Connection("127.0.0.1", 9, "bob", inbox)  # never connected
    results = [conn.send({"type": "say", "text": str(i)}) for i in range(101)]
    assert results == [True] * 100 + [False]
    assert inbox.events[-1]["level"] == "error" and "not sent" in inbox.events[-1]["text"]


async def test_quit_twice_in_a_row_is_harmless() -> None:
    """The prompt's /quit and the UI's clean-up both quit: the second must be a no-op (it
    used to find the writer cleared under it: AttributeError)."""
    async with running_server() as srv:
        conn, _, task = await start(srv.port, "bob")
        await conn.quit("once")
        await conn.quit("twice")
        await asyncio.wait_for(task, 5)
        assert conn.state.link == "closed"
        assert conn.send({"type": "say", "room": "#lobby", "text": "late"}) is False


async def test_quit_while_waiting_to_reconnect_ends_at_once() -> None:
    async with running_server() as srv:
        conn, inbox, task = await start(srv.port, "bob", backoff=(30.0, 30.0))
    await inbox.wait(lambda ev: ev.get("type") == "local" and "link lost" in ev["text"])
    assert conn.next_try is not None  # waiting ~15-30 s
    await conn.quit()
    await asyncio.wait_for(task, 2)


async def test_a_lost_link_is_one_event_however_many_attempts() -> None:
    waits = 0
    fifth = asyncio.Event()

    def rng() -> float:  # called once per wait before a try: counts them
        nonlocal waits
        waits += 1
        if waits == 5:
            fifth.set()
        return 0.0

    async with running_server() as srv:
        conn, inbox, task = await start(srv.port, "bob", backoff=(0.01, 0.02), rng=rng)
        before = len(inbox.events)
    await asyncio.wait_for(fifth.wait(), 5)  # four refused tries later
    locals_ = [ev for ev in inbox.events[before:] if ev["type"] == "local"]
    assert len(locals_) == 1 and "link lost" in locals_[0]["text"], locals_
    assert conn.attempt >= 4
    await conn.quit()
    await asyncio.wait_for(task, 5)


async def fake_server(
    answer: Callable[[Event], list[Event]],
) -> tuple[asyncio.Server, int]:
    """A server that answers each JSON line with `answer(line)`."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* welcome to chat! pick a nick:\n")
        while line := await reader.readline():
            for ev in answer(json.loads(line)):
                writer.write(json.dumps(ev).encode() + b"\n")
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_bad_version_is_fatal() -> None:
    def answer(cmd: Event) -> list[Event]:
        return [{"type": "error", "code": "bad-version", "message": "version 2 only"}]

    server, port = await fake_server(answer)
    conn = Connection("127.0.0.1", port, "bob", Inbox())
    try:
        await asyncio.wait_for(conn.run(), 5)
    except Fatal as err:
        assert "version 2 only" in str(err)
    else:
        raise AssertionError("no Fatal")
    finally:
        server.close()
    assert conn.state.link == "closed"


async def test_a_malformed_event_is_ignored_with_a_warning() -> None:
    def answer(cmd: Event) -> list[Event]:
        if cmd["type"] == "hello":
            return [
                {"type": "welcome", "nick": cmd["nick"], "version": 1, "motd": ""},
                {"type": "join", "room": "#lobby"},  # no nick, no members
                {"type": "nick", "old": 5},
                {"type": "pong", "token": "after"},
            ]
        return []

    server, port = await fake_server(answer)
    try:
        inbox = Inbox()
        conn = Connection("127.0.0.1", port, "bob", inbox)
        task = asyncio.create_task(conn.run())
        await inbox.wait(kind("pong", token="after"))
        warnings = [ev for ev in inbox.events if ev["type"] == "local"]
        assert len(warnings) == 2 and all("malformed" in ev["text"] for ev in warnings)
        await conn.quit()
        await asyncio.wait_for(task, 5)
    finally:
        server.close()


async def test_a_reconnect_parts_the_default_room_if_it_had_been_left_quietly() -> None:
    async with running_server() as first:
        port = first.port
        conn, inbox, task = await start(port, "bob", backoff=(0.05, 0.2))
        conn.send({"type": "join", "room": "#py"})
        conn.send({"type": "part", "room": "#lobby"})
        await inbox.wait(kind("part", room="#lobby", nick="bob"))
    await inbox.wait(lambda ev: ev.get("type") == "local" and "link lost" in ev["text"])
    async with running_server(port=port) as second:
        watcher = await JsonClient.login(second.port, "watcher")
        before = len(inbox.events)
        await inbox.wait(kind("part", room="#lobby", nick="bob"))
        await watcher.event("part", lambda ev: ev["nick"] == "bob")
        assert set(conn.state.rooms) == {"#py"} and conn.state.current == "#py"
        loud = [ev for ev in inbox.events[before:] if not ev.get("quiet")]
        # "back after ...", and (a restarted server has a new epoch) that #py's history is gone
        assert [ev["type"] for ev in loud] == ["local", "mark"], loud
        assert loud[1]["room"] == "#py" and "history reset" in loud[1]["text"]
        await conn.quit()
        await asyncio.wait_for(task, 5)
