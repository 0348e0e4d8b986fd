"""The client's connection core (no terminal) against a real server."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

from client.connection import Connection, Unreachable
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
