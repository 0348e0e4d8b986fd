"""A room's past in the real client, in a pseudo-terminal (issues 13 and 14): after its link is
cut (from the server's side, so the in-memory history survives) the client resumes every room
and shows what was missed once, in order, under one line; an overflowed history says some
messages are missing; joining a room shows its recent lines, marked as history."""

from __future__ import annotations

import json
from pathlib import Path

from chat.net.server import ChatServer
from tests.helpers import JsonClient, running_server
from tests.test_client_pty import Terminal, client


def cut(server: ChatServer, nick: str) -> None:
    """Reset `nick`'s TCP connection from the server's side."""
    (proto,) = [p for p in server.clients.values() if p.nick == nick]
    proto.transport.abort()


async def say_while_away(
    server: ChatServer, speaker: JsonClient, lines: list[tuple[str, str]]
) -> None:
    """Cut bob, then have `speaker` say `lines` (room, text) before bob is back (the client
    waits at least 0.25 s before reconnecting; this takes a few ms)."""
    cut(server, "bob")
    await speaker.event("quit", lambda ev: ev["nick"] == "bob")
    said = "".join(json.dumps({"type": "say", "room": r, "text": t}) + "\n" for r, t in lines)
    await speaker.send(said.rstrip("\n"))
    last = lines[-1][1]
    await speaker.event("message", lambda ev: ev["text"] == last)
    back = [p for p in server.clients.values() if p.nick == "bob"]
    assert not back, "bob reconnected before the lines were said: the test proves nothing"


def order(term: Terminal, *texts: str) -> list[int]:
    """The screen rows of `texts`, each of which must be on screen exactly once."""
    lines = term.lines()
    rows = []
    for text in texts:
        found = [i for i, line in enumerate(lines) if text in line]
        assert len(found) == 1, (text, lines)
        rows.append(found[0])
    return rows


async def test_a_cut_link_resumes_every_room_and_shows_the_missed_lines_once(
    tmp_path: Path,
) -> None:
    async with running_server() as srv:
        alice = await JsonClient.login(srv.port, "alice")
        async with client(tmp_path, "--nick", "bob", "--port", str(srv.port)) as term:
            await term.until(lambda ls: "online" in ls[-1] and "#lobby (2)" in ls[-1])
            await alice.send_json(type="say", text="lobby before")
            await term.shows("<alice> lobby before")
            term.child.send("/join #py\r")
            await term.until(lambda ls: "#py (1)" in ls[-1])
            await alice.send_json(type="join", room="#py")
            await alice.send_json(type="say", room="#py", text="py before")
            await term.shows("<alice> py before")

            missed = [("#lobby", "lobby missed 1"), ("#py", "py missed 1"),
                      ("#lobby", "lobby missed 2"), ("#py", "py missed 2"),
                      ("#py", "py missed 3")]  # fmt: skip
            await say_while_away(srv, alice, missed)
            await term.shows("link lost")
            await term.shows("<alice> py missed 3", 15)
            await term.until(lambda ls: "online" in ls[-1] and "#py (2)" in ls[-1])
            # #py is on screen: one line saying how many, then the three, once, in order
            py = ["<alice> py missed 1", "<alice> py missed 2", "<alice> py missed 3"]
            rows = order(term, "— 3 messages while you were away —", "<alice> py before", *py)
            header, before, *lines = rows
            assert before < header < lines[0] < lines[1] < lines[2], term.lines()
            assert term.count("back after") == 1 and term.count("bob joined #py") == 1
            assert "1:#lobby+2 " in term.toolbar()  # the missed lines of #lobby: unread there

            term.child.send("\x1b1")  # Alt-1: #lobby
            await term.until(lambda ls: "<alice> lobby missed 2" in "\n".join(ls))
            rows = order(term, "<alice> lobby before", "— 2 messages while you were away —",
                         "<alice> lobby missed 1", "<alice> lobby missed 2")  # fmt: skip
            assert rows == sorted(rows), term.lines()
            assert term.count("missing") == 0

            # and after the resume, live lines flow as before, each once
            await alice.send_json(type="say", room="#lobby", text="welcome back")
            await term.shows("<alice> welcome back")
            assert term.count("lobby missed") == 2
            term.child.sendcontrol("d")
            assert await term.close() == 0


async def test_more_missed_than_the_history_holds_says_some_are_missing(tmp_path: Path) -> None:
    async with running_server(history_size=2) as srv:
        alice = await JsonClient.login(srv.port, "alice")
        async with client(tmp_path, "--nick", "bob", "--port", str(srv.port)) as term:
            await term.until(lambda ls: "online" in ls[-1] and "#lobby (2)" in ls[-1])
            await alice.send_json(type="say", text="seen")
            await term.shows("<alice> seen")
            await say_while_away(srv, alice, [("#lobby", f"gone {n}") for n in range(1, 6)])
            await term.shows("<alice> gone 5", 15)
            text = "— some messages while you were away are missing (2 replayed) —"
            rows = order(term, text, "<alice> gone 4", "<alice> gone 5")
            assert rows == sorted(rows), term.lines()
            assert term.count("gone 1") == term.count("gone 2") == term.count("gone 3") == 0
            assert term.count("while you were away") == 1
            term.child.sendcontrol("d")
            assert await term.close() == 0


async def test_joining_a_room_shows_its_recent_lines_as_history(tmp_path: Path) -> None:
    async with running_server() as srv:
        alice = await JsonClient.login(srv.port, "alice")
        await alice.send_json(type="join", room="#hist")
        for n in range(1, 4):
            await alice.send_json(type="say", room="#hist", text=f"old {n}")
        await alice.event("message", lambda ev: ev["text"] == "old 3")
        async with client(tmp_path, "--nick", "bob", "--port", str(srv.port)) as term:
            await term.until(lambda ls: "online" in ls[-1] and "#lobby (2)" in ls[-1])
            assert term.count("before you joined") == 0  # #lobby has no history yet
            term.child.send("/join #hist\r")
            await term.shows("<alice> old 3")
            rows = order(term, "bob joined #hist", "— the last 3 lines before you joined —",
                         "<alice> old 1", "<alice> old 2", "<alice> old 3")  # fmt: skip
            assert rows == sorted(rows), term.lines()
            # dim: every character of a history line is drawn in the history style's colour
            row = term.screen.buffer[rows[2]]
            assert {row[x].fg for x in range(len(term.lines()[rows[2]]))} == {"brightblack"}
            assert term.toolbar().endswith("2:#hist")  # no unread count from the page
            await alice.send_json(type="say", room="#hist", text="new one")
            await term.shows("<alice> new one")
            old, new = order(term, "<alice> old 3", "<alice> new one")
            assert old < new
            term.child.sendcontrol("d")
            assert await term.close() == 0
