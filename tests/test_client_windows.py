"""Windows, routing, rendering and the toolbar: the client's pure display parts."""

from __future__ import annotations

from typing import Any

from client.connection import Connection
from client.render import mentions, render
from client.state import State
from client.toolbar import toolbar
from client.windows import SCROLLBACK, Windows, route


def text(fragments: list[tuple[str, str]] | None) -> str:
    assert fragments is not None
    return "".join(t for _, t in fragments)


def joined(state: State, windows: Windows, room: str, nick: str = "bob") -> None:
    ev = {"type": "join", "room": room, "nick": nick, "members": 2}
    state.apply(ev)
    if nick == state.nick:
        windows.open(room)


def msg(room: str, nick: str, body: str) -> dict[str, Any]:
    return {"type": "message", "room": room, "nick": nick, "text": body, "ts": 0.0}


def test_lines_before_the_first_room_open_its_window() -> None:
    state, windows = State("bob"), Windows()
    windows.add([None], [("", "welcome")], state, chat=False, mention=False)
    joined(state, windows, "#lobby")
    assert [text(line) for line in windows.rooms["#lobby"].lines] == ["welcome"]
    assert not windows.status.lines


def test_unread_and_mentions_count_in_windows_not_on_screen() -> None:
    state, windows = State("bob"), Windows()
    joined(state, windows, "#lobby")
    joined(state, windows, "#py")  # current
    for ev in (msg("#lobby", "al", "one"), msg("#lobby", "al", "bob: two"), msg("#py", "al", "x")):
        line = render(ev)
        assert line is not None
        mention = mentions(ev, "bob")
        windows.add(route(ev, state), line, state, chat=True, mention=mention)
    lobby, py = windows.rooms["#lobby"], windows.rooms["#py"]
    assert (lobby.unread, lobby.mentioned, py.unread) == (2, True, 0)
    assert windows.step(state, 1) == "#lobby" and windows.step(state, -1) == "#lobby"
    assert windows.key_of(1) == "#lobby" and windows.key_of(3) is None


def test_quit_and_nick_go_to_the_rooms_they_touch() -> None:
    state, windows = State("bob"), Windows()
    joined(state, windows, "#lobby")
    joined(state, windows, "#py")
    joined(state, windows, "#rust")
    joined(state, windows, "#lobby", "al")
    joined(state, windows, "#rust", "al")
    quit = {"type": "quit", "nick": "al", "reason": ""}
    state.apply(quit)
    assert route(quit, state) == ["#lobby", "#rust"]
    assert route({"type": "error", "code": "x", "message": "y"}, state) == [state.current]


def test_scrollback_pages_and_stays_put_while_lines_arrive() -> None:
    state, windows = State("bob"), Windows()
    joined(state, windows, "#lobby")
    window = windows.rooms["#lobby"]
    for n in range(100):
        window.add([("", str(n))])
    assert [text(x) for x in window.visible(3)] == ["97", "98", "99"]
    window.page(10)
    assert [text(x) for x in window.visible(3)] == ["87", "88", "89"]
    window.add([("", "100")])
    assert [text(x) for x in window.visible(3)] == ["87", "88", "89"]
    window.page(1000)
    assert [text(x) for x in window.visible(3)] == ["0"]
    window.page(-1000)
    assert window.scroll == 0 and text(window.visible(1)[0]) == "100"
    for n in range(SCROLLBACK * 2):
        window.add([("", str(n))])
    assert len(window.lines) == SCROLLBACK


def test_mentions_are_whole_nicks_from_others() -> None:
    assert mentions(msg("#a", "al", "hey Bob!"), "bob")
    assert mentions(msg("#a", "al", "bob: hi"), "bob")
    assert not mentions(msg("#a", "al", "bobby"), "bob")
    assert not mentions(msg("#a", "al", "bob_ is not bob_x"), "bob")
    assert not mentions(msg("#a", "bob", "I am bob"), "bob")  # not your own lines
    assert mentions({"type": "private", "from": "al", "to": "bob", "text": "x"}, "bob")
    assert not mentions({"type": "private", "from": "bob", "to": "al", "text": "x"}, "bob")


def test_render_sorts_who_strips_controls_and_hides_quiet_events() -> None:
    who = {"type": "who", "room": "#a", "nicks": ["zed", "carl", "Amy", "bob"], "total": 5}
    assert text(render(who)).endswith("#a (5): Amy, bob, carl, zed and 1 more")
    assert render({**who, "quiet": True}) is None
    evil = msg("#a", "al", "\x1b[2J\x1b]0;pwned\x07red\x9b\u202eX\ud800")
    assert text(render(evil)).endswith("<al> redX\ufffd")


def test_toolbar_shows_link_rooms_unread_and_no_stale_count() -> None:
    conn = Connection("127.0.0.1", 9, "bob", lambda ev: None)
    windows = Windows()
    joined(conn.state, windows, "#lobby")
    joined(conn.state, windows, "#py")
    windows.rooms["#lobby"].unread, windows.rooms["#lobby"].mentioned = 3, True
    bar = text(toolbar(conn, windows, 0.0))
    assert "connecting" in bar and "#py" in bar and "(2)" not in bar  # not online: no count
    assert "1:#lobby+3!" in bar and "2:#py" in bar
