"""The client's pure parts without a terminal: client/state.py, client/commands.py and
client/render.py (what tests/test_client_commands.py and test_client_windows.py leave out)."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from client.commands import ALIASES, COMMANDS, Parsed, is_private, parse
from client.render import (
    NICK_COLOURS,
    STYLE,
    Fragments,
    duration,
    mentions,
    nick_style,
    render,
    stamp,
)
from client.state import MAX_KNOWN_MEMBERS, State

Event = dict[str, Any]


def join(room: str, nick: str, members: int) -> Event:
    return {"type": "join", "room": room, "nick": nick, "members": members}


def part(room: str, nick: str, members: int, reason: str = "") -> Event:
    return {"type": "part", "room": room, "nick": nick, "reason": reason, "members": members}


def who(room: str, nicks: list[str], total: int | None = None) -> Event:
    return {"type": "who", "room": room, "nicks": nicks, "total": total or len(nicks)}


def text(fragments: Fragments | None) -> str:
    assert fragments is not None
    return "".join(t for _, t in fragments)


def without_stamp(fragments: Fragments | None) -> Fragments:
    assert fragments is not None
    assert fragments[0][0] == "class:time"
    return fragments[1:]


# --- state --------------------------------------------------------------------------------


def me_in(*rooms: str, nick: str = "bob") -> State:
    state = State(nick)
    state.apply({"type": "welcome", "nick": nick, "version": 1, "motd": ""})
    for room in rooms:
        state.apply(join(room, nick, 1))
    return state


def test_welcome_takes_the_nick_and_forgets_the_rooms() -> None:
    state = me_in("#a", "#b")
    assert state.current == "#b"
    state.apply({"type": "welcome", "nick": "bob_", "version": 1, "motd": "hi"})
    assert state.nick == "bob_" and state.rooms == {} and state.current is None
    assert state.current_room is None


def test_my_join_makes_the_room_current_others_are_members() -> None:
    state = me_in()
    state.apply(join("#Py", "BOB", 3))  # my own join, in any case
    assert state.current == "#py"
    room = state.current_room
    assert room is not None and room.name == "#Py" and room.count == 3 and room.members == set()
    state.apply(join("#PY", "al", 4))
    assert room.members == {"al"} and room.count == 4
    assert room.name == "#Py"  # shown as first seen
    assert list(state.rooms) == ["#py"]


def test_rooms_are_kept_in_join_order() -> None:
    state = me_in("#c", "#a", "#b")
    assert list(state.rooms) == ["#c", "#a", "#b"]


def test_known_members_are_capped_but_the_count_is_not() -> None:
    state = me_in("#big")
    for i in range(MAX_KNOWN_MEMBERS + 5):
        state.apply(join("#big", f"n{i}", i + 2))
    room = state.rooms["#big"]
    assert len(room.members) == MAX_KNOWN_MEMBERS and room.count == MAX_KNOWN_MEMBERS + 6


def test_my_part_forgets_the_room_and_the_last_joined_becomes_current() -> None:
    state = me_in("#a", "#b", "#c")
    state.apply(part("#c", "bob", 0))
    assert list(state.rooms) == ["#a", "#b"] and state.current == "#b"
    state.apply(part("#A", "bob", 0))  # not the current room: it stays
    assert list(state.rooms) == ["#b"] and state.current == "#b"
    state.apply(part("#b", "bob", 0))
    assert state.rooms == {} and state.current is None


def test_someone_elses_part_updates_members_and_count() -> None:
    state = me_in("#a")
    state.apply(join("#a", "al", 2))
    state.apply(part("#a", "al", 1, "bye"))
    room = state.rooms["#a"]
    assert room.members == set() and room.count == 1
    state.apply(part("#elsewhere", "al", 4))  # a room we are not in: nothing made up
    assert list(state.rooms) == ["#a"]


def test_a_quit_leaves_every_room_it_was_in_and_says_which() -> None:
    state = me_in("#a", "#b", "#c")
    for room in ("#a", "#c"):
        state.apply(join(room, "al", 2))
    state.apply({"type": "quit", "nick": "al", "reason": ""})
    assert state.affected == ["#a", "#c"]
    assert [(r.members, r.count) for r in state.rooms.values()] == [
        (set(), 1),
        (set(), 1),
        (set(), 1),
    ]
    state.apply({"type": "quit", "nick": "ghost", "reason": ""})
    assert state.affected == []  # reset by every event
    assert all(r.count == 1 for r in state.rooms.values())  # an unknown quitter: no change


def test_a_nick_change_renames_in_every_room() -> None:
    state = me_in("#a", "#b")
    state.apply(join("#b", "al", 2))
    state.apply({"type": "nick", "old": "al", "new": "alan"})
    assert state.rooms["#b"].members == {"alan"} and state.affected == ["#b"]
    assert state.rooms["#a"].members == set()
    state.apply({"type": "nick", "old": "BOB", "new": "robert"})  # mine, in any case
    assert state.nick == "robert"
    state.apply(join("#a", "robert", 1))  # now recognised as me: no member added
    assert state.rooms["#a"].members == set()


def test_who_replaces_the_members_without_me() -> None:
    state = me_in("#a")
    state.apply(join("#a", "old", 2))
    state.apply(who("#a", ["Bob", "al", "cy"], total=120))
    room = state.rooms["#a"]
    assert room.members == {"al", "cy"} and room.count == 120


def test_who_of_a_room_i_am_not_in_does_not_add_it_to_my_rooms() -> None:
    # `/who #other` is answered for any existing room. `State.rooms` is the rooms joined
    # (a reconnect's rejoin takes every one of them back: client/rejoin.py), so the answer
    # must not make #other one of them.
    state = me_in("#a")
    state.apply(who("#other", ["al"]))
    assert list(state.rooms) == ["#a"]
    assert state.current == "#a"


def test_topic_and_rooms_and_the_current_room_notice() -> None:
    state = me_in("#a", "#b")
    state.apply({"type": "topic", "room": "#A", "topic": "t1", "by": "al"})
    assert state.rooms["#a"].topic == "t1"
    listing = [{"name": "#x", "members": 2, "topic": ""}, {"name": "#a", "members": 1, "topic": ""}]
    state.apply({"type": "rooms", "rooms": listing, "total": 2})
    state.apply({"type": "rooms", "rooms": [{"name": "#y", "members": 1, "topic": ""}], "total": 1})
    assert state.room_names == {"#x", "#a", "#y"}  # accumulated for completion
    notice = {"type": "notice", "code": "current-room", "text": "#A is now your current room"}
    state.apply(notice)
    assert state.current == "#a"
    state.apply({**notice, "text": "#zzz is now your current room"})  # not ours: ignored
    assert state.current == "#a"
    state.apply({"type": "notice", "code": "info", "text": "#b is now your current room"})
    assert state.current == "#a"  # only the current-room code counts


def test_unknown_events_change_nothing() -> None:
    state = me_in("#a")
    before = repr(state)
    for ev in ({"type": "pong", "token": ""}, {"type": "mystery"}, {}):
        state.apply(ev)
    assert repr(state) == before


# --- commands -----------------------------------------------------------------------------


def test_every_alias_points_at_a_command() -> None:
    assert set(ALIASES.values()) <= set(COMMANDS)


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("/join #a #b", {"type": "join", "room": "#a"}),
        ("/JOIN   #a", {"type": "join", "room": "#a"}),
        ("/msg  al   hello  there ", {"type": "msg", "to": "al", "text": "hello  there"}),
        ("/me waves", {"type": "me", "room": "#py", "text": "waves"}),
        ("/nick new extra", {"type": "nick", "nick": "new"}),
        ("/topic #x", {"type": "topic", "room": "#x"}),
        ("/topic #x a b", {"type": "topic", "room": "#x", "topic": "a b"}),
        ("/rooms", {"type": "rooms"}),
        ("/list", {"type": "rooms"}),
        ("/leave", {"type": "part", "room": "#py"}),
        ("/part #x", {"type": "part", "room": "#x", "reason": ""}),
        ("/quit", {"type": "quit", "reason": ""}),
        ("/exit  see ya", {"type": "quit", "reason": "see ya"}),
        ("  text with space  ", {"type": "say", "room": "#py", "text": "text with space"}),
        ("//", {"type": "say", "room": "#py", "text": "/"}),
        ("//me not an action", {"type": "say", "room": "#py", "text": "/me not an action"}),
    ],
)
def test_lines_become_commands(line: str, command: Event) -> None:
    assert parse(line, "#py").command == command


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("/part", {"type": "part"}),  # the server's own current room, if any
        ("/who", {"type": "who"}),
        ("/topic", {"type": "topic"}),
        ("/topic hello", {"type": "topic", "topic": "hello"}),
        ("/join #a", {"type": "join", "room": "#a"}),
        ("/msg al hi", {"type": "msg", "to": "al", "text": "hi"}),
    ],
)
def test_commands_with_no_current_room_name_none(line: str, command: Event) -> None:
    assert parse(line, None).command == command


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("/join", "usage: /join #room [key]"),
        ("/msg", "usage: /msg nick text"),
        ("/msg al    ", "usage: /msg nick text"),
        ("/nick", "usage: /nick name"),
        ("/me", "usage: /me action"),
        ("/window -1", "usage: /window N (N from 1: the numbers in the toolbar)"),
        ("/", "unknown command /; /help lists them"),
        ("/HELLO x", "unknown command /hello; /help lists them"),
    ],
)
def test_refusals_send_nothing(line: str, error: str) -> None:
    parsed = parse(line, "#py")
    assert parsed == Parsed(error=error)


def test_a_me_or_plain_line_in_no_room_is_refused() -> None:
    for line in ("/me waves", "hello", "//slash"):
        parsed = parse(line, None)
        assert parsed.command is None and parsed.error == "you are in no room: /join #room first"


def test_client_only_commands_send_nothing_to_the_server() -> None:
    assert parse("/help me", "#py") == Parsed(help=True)
    assert parse("/win 12", "#py") == Parsed(window=12)
    assert parse("/exit", None).quit


def test_private_lines_in_any_case_and_spacing() -> None:
    assert is_private("/MSG al x") and is_private("\t/query al x")
    assert not is_private("/msgs") and not is_private("//msg al x")


# --- render -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0s"),
        (12.4, "12s"),
        (59.4, "59s"),
        (59.6, "1m00s"),  # rounded first
        (185, "3m05s"),
        (3599, "59m59s"),
        (3600, "1h00m"),
        (7830, "2h10m"),
        (90_000, "25h00m"),
    ],
)
def test_duration(seconds: float, shown: str) -> None:
    assert duration(seconds) == shown


def test_nick_colours_are_stable_and_case_insensitive() -> None:
    assert nick_style("Alice") == nick_style("alice") in NICK_COLOURS
    assert len({nick_style(f"user{i}") for i in range(200)}) > 1  # not one colour for all


def test_stamp_is_the_local_hour_and_minute() -> None:
    ts = 1_700_000_000.0
    assert stamp(ts) == [("class:time", time.strftime("%H:%M ", time.localtime(ts)))]
    assert re.fullmatch(r"\d\d:\d\d ", stamp()[0][1])


def test_a_message_line_and_a_mention() -> None:
    ev = {"type": "message", "room": "#a", "nick": "al", "text": "hi", "ts": 0.0}
    assert without_stamp(render(ev)) == [(nick_style("al"), "<al>"), ("", " hi")]
    assert without_stamp(render(ev, mention=True))[1] == ("class:mention", " hi")
    action = {**ev, "action": True}
    assert text(render(action)).endswith("* al hi")
    assert without_stamp(render(action, mention=True))[-1][0] == "class:action class:mention"


def test_private_lines_show_both_ends() -> None:
    ev = {"type": "private", "from": "al", "to": "bob", "text": "psst", "ts": 0.0}
    frags = without_stamp(render(ev))
    assert frags == [("class:private ", "[al -> bob] psst")]
    action = without_stamp(render({**ev, "action": True}, mention=True))
    assert action == [("class:private class:mention", "[al -> bob] * al psst")]


@pytest.mark.parametrize(
    ("ev", "shown"),
    [
        (join("#a", "al", 3), "-- al joined #a (3 here)"),
        (part("#a", "al", 2), "-- al left #a"),
        (part("#a", "al", 2, "lunch"), "-- al left #a (lunch)"),
        ({"type": "quit", "nick": "al", "reason": ""}, "-- al quit"),
        ({"type": "quit", "nick": "al", "reason": "eof"}, "-- al quit (eof)"),
        ({"type": "nick", "old": "al", "new": "alan"}, "-- al is now known as alan"),
        ({"type": "topic", "room": "#a", "topic": "t", "by": "al"}, "-- al set the topic of #a: t"),
        ({"type": "topic", "room": "#a", "topic": "t", "by": None}, "-- topic of #a: t"),
        ({"type": "topic", "room": "#a", "topic": "", "by": None}, "-- #a has no topic"),
        (who("#a", ["b", "A"], 2), "-- #a (2): A, b"),
        (
            {"type": "rooms", "rooms": [{"name": "#a", "members": 3, "topic": "x"}], "total": 9},
            "-- 9 room(s): #a (3)",
        ),
        ({"type": "welcome", "nick": "al", "version": 1, "motd": "m"}, "-- connected as al. m"),
        ({"type": "notice", "code": "info", "text": "hello"}, "-- hello"),
        ({"type": "bye", "reason": "idle"}, "-- the server closed the session: idle"),
        ({"type": "help", "lines": ["a", "b"]}, "-- a\nb"),
        ({"type": "error", "code": "bad-room", "message": "no"}, "! no (bad-room)"),
        ({"type": "local", "level": "warn", "text": "offline"}, "-- offline"),
    ],
)
def test_each_event_kind_renders_as_one_line(ev: Event, shown: str) -> None:
    frags = without_stamp(render(ev))
    assert text(frags) == shown


def test_styles_of_errors_locals_and_notices_exist() -> None:
    error = without_stamp(render({"type": "error", "code": "x", "message": "y"}))
    local = without_stamp(render({"type": "local", "level": "warn", "text": "z"}))
    notice = without_stamp(render({"type": "bye", "reason": "r"}))
    for (style, _), name in zip(
        (*error, *local, *notice), ("error", "warn", "notice"), strict=True
    ):
        assert style == f"class:{name}" and name in STYLE


@pytest.mark.parametrize(
    "ev",
    [
        {"type": "pong", "token": ""},
        {"type": "notice", "code": "current-room", "text": "#a is now your current room"},
        {"type": "mystery"},
        {**join("#a", "al", 1), "quiet": True},
        {"type": "message", "room": "#a", "nick": "al", "text": "x", "ts": 0.0, "quiet": True},
    ],
)
def test_events_without_a_line(ev: Event) -> None:
    assert render(ev) is None


HOSTILE = "\x1b[2J\x1b]0;title\x07x\r\n\x00\x9b\u202e\ud800"


def test_nothing_shown_carries_terminal_control() -> None:
    events: list[Event] = [
        {"type": "message", "room": "#a", "nick": HOSTILE, "text": HOSTILE, "ts": 0.0},
        {"type": "private", "from": HOSTILE, "to": HOSTILE, "text": HOSTILE, "ts": 0.0},
        {"type": "error", "code": HOSTILE, "message": HOSTILE},
        join(HOSTILE, HOSTILE, 1),
        part(HOSTILE, HOSTILE, 1, HOSTILE),
        {"type": "quit", "nick": HOSTILE, "reason": HOSTILE},
        {"type": "nick", "old": HOSTILE, "new": HOSTILE},
        {"type": "topic", "room": HOSTILE, "topic": HOSTILE, "by": HOSTILE},
        who(HOSTILE, [HOSTILE, "ok"], 5),
        {"type": "rooms", "rooms": [{"name": HOSTILE, "members": 1, "topic": ""}], "total": 1},
        {"type": "welcome", "nick": HOSTILE, "version": 1, "motd": HOSTILE},
        {"type": "notice", "code": "info", "text": HOSTILE},
        {"type": "bye", "reason": HOSTILE},
        {"type": "help", "lines": [HOSTILE, HOSTILE]},
    ]
    bad = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
    for ev in events:
        shown = text(render(ev))
        assert not bad.search(shown), (ev["type"], shown)
        if ev["type"] != "help":  # help lines are joined by newlines on purpose
            assert "\n" not in shown, (ev["type"], shown)
        assert "x" in shown  # the text itself survives


def test_mentions_ignore_quiet_events_and_an_empty_nick() -> None:
    ev = {"type": "message", "room": "#a", "nick": "al", "text": "hi bob", "ts": 0.0}
    assert mentions(ev, "bob") and mentions(ev, "BOB")
    assert not mentions({**ev, "quiet": True}, "bob")
    assert not mentions(ev, "")
    assert mentions({**ev, "text": "[bob]: look"}, "[bob]")  # regex characters in a nick
    assert not mentions({**ev, "text": "x[bob]y"}, "[bob]")
    assert not mentions({"type": "join", "room": "#a", "nick": "bob", "members": 1}, "bob")
    assert not mentions({**ev, "text": "bob-the-builder"}, "bob")  # `-` is a nick character


def test_member_lists_show_operators_and_voice_and_a_kick_is_a_part() -> None:
    who = {"type": "who", "room": "#a", "nicks": ["zed", "bob"], "total": 2,
           "prefixes": {"zed": "@", "bob": "+"}}  # fmt: skip
    assert "#a (2): +bob, @zed" in "".join(text for _, text in render(who) or [])
    kick = {"type": "kick", "room": "#a", "nick": "bob", "by": "zed", "reason": "x", "members": 1}
    assert "bob was kicked from #a by zed (x)" in "".join(t for _, t in render(kick) or [])
    state = State("bob")
    state.apply({"type": "join", "room": "#a", "nick": "bob", "members": 2})
    state.apply(kick)
    assert "#a" not in state.rooms
