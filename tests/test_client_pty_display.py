"""What the client shows, in a pseudo-terminal (issue 13): own lines once, commands not echoed,
/who sorted, mentions highlighted with a bell, windows per room with unread counts and mention
marks, and scrollback. Each test failed on the client before the fix."""

from __future__ import annotations

import re
from pathlib import Path

from tests.helpers import JsonClient, TextClient, running_server
from tests.test_client_pty import Terminal, client

_OSC = re.compile(rb"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")  # a title: its BEL is no bell


def bells(raw: bytes) -> int:
    return _OSC.sub(b"", raw).count(b"\x07")


def row(term: Terminal, text: str) -> int:
    return next(i for i, line in enumerate(term.lines()) if text in line)


async def test_own_lines_once_and_commands_not_echoed(tmp_path: Path) -> None:
    async with (
        running_server() as srv,
        client(tmp_path, "--nick", "bob", "--port", str(srv.port)) as term,
    ):
        alice = await JsonClient.login(srv.port, "alice")
        await term.until(lambda ls: "online" in ls[-1] and "(2)" in ls[-1])
        term.child.send("hello once\r")
        await alice.event("message", lambda ev: ev["text"] == "hello once")
        await alice.send_json(type="say", text="after bob")
        await term.shows("<alice> after bob")
        assert term.count("hello once") == 1, term.lines()  # the server's echo, not the prompt
        assert row(term, "<bob> hello once") < row(term, "<alice> after bob")
        term.child.send("/topic #lobby fresh paint\r")
        await term.shows("bob set the topic of #lobby: fresh paint")
        term.child.send("/who\r")
        await term.shows("#lobby (2): alice, bob")
        term.child.send("/nosuch\r")
        await term.shows("unknown command /nosuch")
        lines = term.lines()
        assert not any(line.startswith("> /") or "<bob> /" in line for line in lines), lines
        assert term.count("/topic") == 0 and term.count("/who") == 0, lines
        term.child.sendcontrol("d")
        assert await term.close() == 0


async def test_who_is_sorted_whatever_the_dialects(tmp_path: Path) -> None:
    async with running_server() as srv:
        zed = await TextClient.login(srv.port, "zed")
        carl = await JsonClient.login(srv.port, "carl")
        amy = await TextClient.login(srv.port, "Amy")
        async with client(tmp_path, "--nick", "bob", "--port", str(srv.port)) as term:
            await term.until(lambda ls: "online" in ls[-1] and "(4)" in ls[-1])
            term.child.send("/who\r")
            who = "#lobby (4): Amy, bob, carl, zed"  # on joining, and for /who
            await term.until(lambda ls: sum(who in line for line in ls) == 2)
            term.child.sendcontrol("d")
            assert await term.close() == 0
        for c in (zed, carl, amy):
            await c.close()


async def test_a_mention_is_highlighted_and_rings_the_bell(tmp_path: Path) -> None:
    async with (
        running_server() as srv,
        client(tmp_path, "--nick", "bob", "--port", str(srv.port)) as term,
    ):
        alice = await JsonClient.login(srv.port, "alice")
        await term.until(lambda ls: "online" in ls[-1] and "(2)" in ls[-1])
        await alice.send_json(type="say", text="no one in particular")
        await alice.send_json(type="say", text="bobby is not you")
        await alice.send_json(type="say", text="hey BOB, look")
        await term.shows("<alice> hey BOB, look")
        y = row(term, "hey BOB, look")
        x = term.lines()[y].index("hey BOB")
        assert term.screen.buffer[y][x].bold and term.screen.buffer[y][x].fg != "default"
        plain = row(term, "no one in particular")
        px = term.lines()[plain].index("no one")
        assert not term.screen.buffer[plain][px].bold
        await term.until(lambda _: bells(term.raw) >= 1)
        assert bells(term.raw) == 1  # "bobby" is another nick: no bell for it
        await alice.send_json(type="msg", to="bob", text="psst")  # a private message rings too
        await term.shows("[alice -> bob] psst")
        await term.until(lambda _: bells(term.raw) == 2)
        term.child.sendcontrol("d")
        assert await term.close() == 0


async def test_no_bell_keeps_quiet(tmp_path: Path) -> None:
    async with (
        running_server() as srv,
        client(tmp_path, "--nick", "bob", "--no-bell", "--port", str(srv.port)) as term,
    ):
        alice = await JsonClient.login(srv.port, "alice")
        await term.until(lambda ls: "online" in ls[-1] and "(2)" in ls[-1])
        await alice.send_json(type="say", text="bob: wake up")
        await term.shows("<alice> bob: wake up")
        y = row(term, "bob: wake up")
        assert term.screen.buffer[y][term.lines()[y].index("wake")].bold  # still highlighted
        term.child.sendcontrol("d")
        assert await term.close() == 0
        assert bells(term.raw) == 0


async def test_windows_switch_with_alt_n_ctrl_n_ctrl_p_and_slash_window(tmp_path: Path) -> None:
    async with (
        running_server() as srv,
        client(tmp_path, "--nick", "bob", "--port", str(srv.port)) as term,
    ):
        alice = await JsonClient.login(srv.port, "alice")
        for room in ("#py", "#rust"):
            await alice.send_json(type="join", room=room)
        await term.until(lambda ls: "online" in ls[-1])
        term.child.send("/join #py\r")
        await term.until(lambda ls: "#py (2)" in ls[-1])
        term.child.send("/join #rust\r")
        await term.until(lambda ls: "#rust (2)" in ls[-1] and "3:#rust" in ls[-1])
        await alice.send_json(type="say", room="#lobby", text="lobby one")
        await alice.send_json(type="say", room="#lobby", text="lobby two")
        await alice.send_json(type="say", room="#py", text="hey bob, py here")
        await term.until(lambda ls: "1:#lobby+2 " in ls[-1] and "2:#py+1!" in ls[-1])
        assert term.count("lobby one") == 0 and term.count("py here") == 0  # other windows
        term.child.send("\x1b1")  # Alt-1
        await term.until(lambda ls: "#lobby (2)" in ls[-1] and "<alice> lobby two" in "".join(ls))
        assert "1:#lobby+" not in term.toolbar() and "2:#py+1!" in term.toolbar()
        assert term.count("<alice> lobby one") == 1
        term.child.send("in the lobby\r")  # a line goes to the room on screen
        got = await alice.event("message", lambda ev: ev["nick"] == "bob")
        assert (got["room"], got["text"]) == ("#lobby", "in the lobby")
        term.child.sendcontrol("n")  # Ctrl-N: the next window
        await term.until(lambda ls: "#py (2)" in ls[-1] and "hey bob, py here" in "".join(ls))
        assert "!" not in term.toolbar()
        term.child.sendcontrol("p")  # Ctrl-P: back
        await term.until(lambda ls: "#lobby (2)" in ls[-1])
        term.child.send("/window 3\r")
        await term.until(lambda ls: "#rust (2)" in ls[-1])
        term.child.send("/part\r")  # leaves the room on screen, closes its window
        await alice.event("part", lambda ev: ev["nick"] == "bob" and ev["room"] == "#rust")
        await term.until(lambda ls: "3:#rust" not in ls[-1] and "bob left #rust" in "".join(ls))
        term.child.sendcontrol("d")
        assert await term.close() == 0


async def test_page_up_and_down_scroll_the_window(tmp_path: Path) -> None:
    async with (
        running_server() as srv,
        client(tmp_path, "--nick", "bob", "--port", str(srv.port)) as term,
    ):
        alice = await JsonClient.login(srv.port, "alice")
        await term.until(lambda ls: "online" in ls[-1] and "(2)" in ls[-1])
        for n in range(80):
            await alice.send_json(type="say", text=f"line {n:02d}")
        await term.shows("<alice> line 79")
        assert term.count("<alice> line 40") == 0
        term.child.send("\x1b[5~")  # PageUp
        await term.until(lambda ls: "more below" in ls[-1] and "<alice> line 79" not in "".join(ls))
        assert term.count("<alice> line 50") == 1
        await alice.send_json(type="say", text="while scrolled")
        await term.until(lambda ls: "+1" not in ls[-1])  # the same window: not unread
        assert term.count("<alice> line 50") == 1  # the view stays put
        for _ in range(3):
            term.child.send("\x1b[5~")
        await term.shows("<alice> line 00")
        for _ in range(5):
            term.child.send("\x1b[6~")  # PageDown, to the bottom
        await term.until(lambda ls: "more below" not in ls[-1] and "while scrolled" in "".join(ls))
        term.child.sendcontrol("d")
        assert await term.close() == 0
