"""The hub's command semantics in memory: no sockets, no event loop (the core is sans-I/O).

tests/test_hub.py covers list caps, room-name rules, case-insensitive rooms, a full outbox,
quit freeing a nick and unregistered JSON sessions; this file covers the rest of the rules.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from chat.core.hub import Hub, Limits
from chat.core.session import Session
from chat.protocol import commands as c
from chat.protocol.codec import Codec
from chat.protocol.jsonl import JSON
from chat.protocol.text import TEXT

Event = dict[str, Any]


class Mem(Session):
    """A session that keeps what it is sent; JSON by default."""

    def __init__(self, conn_id: int, codec: Codec = JSON) -> None:
        super().__init__(conn_id, "memory", 10_000, 10**7)
        self.codec = codec
        self.closed_with: str | None = None

    def close(self, reason: str) -> None:
        self.closed_with = reason
        self.closing = True

    def events(self) -> list[Event]:
        data = self.take() if len(self) else b""
        return [json.loads(line) for line in data.splitlines()]

    def lines(self) -> list[str]:
        return (self.take() if len(self) else b"").decode().splitlines()


def login(hub: Hub, nick: str) -> Mem:
    s = Mem(len(hub.nicks) + 100)
    hub.connect(s)
    hub.handle(s, c.Hello(nick, 1))
    s.events()
    return s


def only(s: Mem, kind: str) -> list[Event]:
    return [ev for ev in s.events() if ev["type"] == kind]


def error(s: Mem) -> Event:
    evs = s.events()
    assert [ev["type"] for ev in evs] == ["error"], evs
    return evs[0]


def drain(*sessions: Mem) -> None:
    for s in sessions:
        s.events()


def quiet_hub(**limits: Any) -> Hub:
    """A hub without history (join events carry no epoch) and no room-creation limit."""
    return Hub(Limits(history_size=0, room_create_rate=0, **limits))


# --- registration -------------------------------------------------------------------------


def test_hello_welcomes_then_joins_the_default_room() -> None:
    hub = quiet_hub()
    s = Mem(1)
    hub.connect(s)
    assert [ev["code"] for ev in s.events()] == ["greeting"]
    hub.handle(s, c.Hello("alice", 1))
    evs = s.events()
    assert [ev["type"] for ev in evs] == ["welcome", "join", "who"]
    assert evs[0]["nick"] == "alice" and evs[0]["version"] == 1
    assert evs[1] == {"type": "join", "room": "#lobby", "nick": "alice", "members": 1}
    assert evs[2] == {"type": "who", "room": "#lobby", "nicks": ["alice"], "total": 1}
    assert s.nick == "alice" and s.current is hub.rooms["#lobby"]


def test_a_second_hello_is_refused() -> None:
    hub = quiet_hub()
    s = login(hub, "alice")
    hub.handle(s, c.Hello("other", 1))
    assert error(s)["code"] == "bad-command"
    assert s.nick == "alice" and "other" not in hub.nicks


def test_a_taken_nick_is_refused_in_any_case_and_the_session_stays_unregistered() -> None:
    hub = quiet_hub()
    login(hub, "alice")
    s = Mem(2)
    hub.connect(s)
    s.events()
    hub.handle(s, c.Hello("ALICE", 1))
    assert error(s) == {
        "type": "error",
        "code": "nick-taken",
        "message": 'nick "ALICE" is taken; pick another',
    }
    assert s.nick is None
    hub.handle(s, c.Join("#x"))
    assert error(s)["code"] == "not-registered"
    hub.handle(s, c.Hello("bob", 1))
    assert s.nick == "bob"


def test_a_bad_nick_is_refused() -> None:
    hub = quiet_hub()
    s = Mem(1)
    hub.connect(s)
    s.events()
    for bad in ("9lives", "-dash", "", "a b", "x" * 25):
        hub.handle(s, c.Hello(bad, 1))
        assert error(s)["code"] == "bad-nick", bad
    assert s.nick is None and hub.nicks == {}


@pytest.mark.parametrize("cmd", [c.Ping("tok"), c.Help()])
def test_ping_and_help_work_before_a_nick(cmd: c.Command) -> None:
    hub = quiet_hub()
    s = Mem(1)
    hub.connect(s)
    s.events()
    hub.handle(s, cmd)
    evs = s.events()
    assert [ev["type"] for ev in evs] == ["pong" if isinstance(cmd, c.Ping) else "help"]
    assert s.nick is None


def test_a_text_first_line_becomes_the_nick() -> None:
    hub = quiet_hub()
    s = Mem(1, TEXT)
    hub.connect(s)
    assert s.lines()[0].startswith("* welcome to chat! pick a nick")
    hub.handle(s, c.Say("alice"))
    assert s.nick == "alice"
    lines = s.lines()
    assert lines[0].startswith("* welcome, alice!")
    assert "* alice joined #lobby (1 here)" in lines


def test_a_bad_or_taken_text_first_line_leaves_the_human_unregistered() -> None:
    hub = quiet_hub()
    login(hub, "alice")
    s = Mem(2, TEXT)
    hub.connect(s)
    s.lines()
    hub.handle(s, c.Say("hello there"))
    assert s.lines()[0].startswith("! bad-nick:") and s.nick is None
    hub.handle(s, c.Say("Alice"))
    assert s.lines()[0].startswith("! nick-taken:") and s.nick is None
    hub.handle(s, c.Say("bob"))
    assert s.nick == "bob"


@pytest.mark.parametrize(
    "cmd",
    [c.Join("#x"), c.Who(), c.Rooms(), c.Msg("alice", "hi"), c.Topic(), c.Part(), c.Me("x")],
)
def test_commands_before_a_nick_are_not_registered_even_for_a_human(cmd: c.Command) -> None:
    hub = quiet_hub()
    login(hub, "alice")
    s = Mem(2, TEXT)
    hub.connect(s)
    s.lines()
    hub.handle(s, cmd)
    assert s.lines() == ["! not-registered: choose a nick first"]
    assert s.nick is None


# --- nicks --------------------------------------------------------------------------------


def test_a_nick_change_tells_each_room_mate_once() -> None:
    hub = quiet_hub()
    a, b, c_, d = (login(hub, n) for n in ("alice", "bob", "carol", "dave"))
    for s in (a, b):
        hub.handle(s, c.Join("#x"))
        hub.handle(s, c.Join("#y"))  # a and b share three rooms
    hub.handle(d, c.Join("#alone"))
    hub.handle(d, c.Part("#lobby"))  # d shares no room with a
    drain(a, b, c_, d)
    hub.handle(a, c.Nick("alicia"))
    changed = {"type": "nick", "old": "alice", "new": "alicia"}
    assert a.events() == [changed]  # the changer too, once
    assert b.events() == [changed]  # once, not once per shared room
    assert c_.events() == [changed]
    assert d.events() == []
    assert a.nick == "alicia" and "alicia" in hub.nicks and "alice" not in hub.nicks


def test_a_nick_change_in_no_room_tells_only_the_changer() -> None:
    hub = quiet_hub()
    a, b = login(hub, "alice"), login(hub, "bob")
    hub.handle(a, c.Part())
    drain(a, b)
    hub.handle(a, c.Nick("alicia"))
    assert a.events() == [{"type": "nick", "old": "alice", "new": "alicia"}]
    assert b.events() == []


def test_the_same_nick_again_says_nothing_but_a_case_change_is_announced() -> None:
    hub = quiet_hub()
    a, b = login(hub, "alice"), login(hub, "bob")
    drain(a, b)
    hub.handle(a, c.Nick("alice"))
    assert a.events() == [] and b.events() == []
    hub.handle(a, c.Nick("Alice"))
    assert b.events() == [{"type": "nick", "old": "alice", "new": "Alice"}]
    assert a.nick == "Alice" and hub.nicks["alice"] is a
    hub.handle(b, c.Nick("ALICE"))  # still hers
    assert error(b)["code"] == "nick-taken"


def test_the_old_nick_is_free_after_a_change_and_the_new_one_is_checked() -> None:
    hub = quiet_hub()
    a, b = login(hub, "alice"), login(hub, "bob")
    a.events()  # bob's join
    hub.handle(a, c.Nick("bob"))
    assert error(a)["code"] == "nick-taken" and a.nick == "alice"
    hub.handle(a, c.Nick("9x"))
    assert error(a)["code"] == "bad-nick" and a.nick == "alice"
    hub.handle(a, c.Nick("alicia"))
    drain(a, b)
    hub.handle(b, c.Nick("alice"))
    assert b.nick == "alice"
    hub.handle(a, c.Msg("alice", "hi"))
    assert [ev["from"] for ev in only(b, "private")] == ["alicia"]


# --- rooms: join and part -----------------------------------------------------------------


def test_a_join_is_told_to_every_member_with_the_count() -> None:
    hub = quiet_hub()
    a, b = login(hub, "alice"), login(hub, "bob")
    drain(a, b)
    hub.handle(a, c.Join("#x"))
    a.events()
    hub.handle(b, c.Join("#x"))
    assert a.events() == [{"type": "join", "room": "#x", "nick": "bob", "members": 2}]
    evs = b.events()
    assert evs == [
        {"type": "join", "room": "#x", "nick": "bob", "members": 2},
        {
            "type": "who",
            "room": "#x",
            "nicks": ["alice", "bob"],
            "total": 2,
            "prefixes": {"alice": "@"},
        },  # alice made the room: its operator
    ]
    assert b.current is hub.rooms["#x"]


def test_joining_a_room_you_are_in_makes_it_current_and_tells_nobody() -> None:
    hub = quiet_hub()
    a, b = login(hub, "alice"), login(hub, "bob")
    hub.handle(a, c.Join("#x"))
    hub.handle(a, c.Join("#y"))
    hub.handle(b, c.Join("#x"))
    drain(a, b)
    hub.handle(a, c.Join("#X"))
    assert a.events() == [
        {"type": "notice", "code": "current-room", "text": "#x is now your current room"}
    ]
    assert b.events() == []
    assert hub.rooms["#x"].size == 2
    hub.handle(a, c.Say("here"))  # the current room is where plain lines go
    assert [(ev["room"], ev["text"]) for ev in only(b, "message")] == [("#x", "here")]


def test_a_part_tells_the_room_and_moves_the_current_room_to_the_last_joined() -> None:
    hub = quiet_hub()
    a, b = login(hub, "alice"), login(hub, "bob")
    for room in ("#x", "#y", "#z"):
        hub.handle(a, c.Join(room))
    hub.handle(b, c.Join("#y"))
    hub.handle(a, c.Join("#y"))  # current: #y
    drain(a, b)
    hub.handle(a, c.Part(None, "later"))
    parted = {"type": "part", "room": "#y", "nick": "alice", "reason": "later", "members": 1}
    assert b.events() == [parted]
    assert a.events() == [parted]  # the parting member sees its own part
    assert "#y" not in a.rooms and a not in hub.rooms["#y"]
    assert a.current is hub.rooms["#z"]  # the last joined of those left
    hub.handle(a, c.Part("#lobby"))
    assert a.current is hub.rooms["#z"]  # parting another room keeps the current one


def test_part_rules() -> None:
    hub = quiet_hub()
    a = login(hub, "alice")
    hub.handle(a, c.Part("#elsewhere"))
    assert error(a) == {
        "type": "error",
        "code": "not-in-room",
        "message": "you are not in #elsewhere",
    }
    hub.handle(a, c.Part("#bad name"))
    assert error(a)["code"] == "bad-room"
    hub.handle(a, c.Part())
    a.events()
    assert a.current is None and a.rooms == {}
    for cmd in (c.Part(), c.Say("hi"), c.Me("waves"), c.Topic(), c.Who()):
        hub.handle(a, cmd)
        assert error(a)["code"] == "not-in-room", cmd


def test_the_last_one_out_removes_the_room_and_its_topic() -> None:
    hub = quiet_hub()
    a = login(hub, "alice")
    hub.handle(a, c.Join("#x"))
    hub.handle(a, c.Topic("#x", "old topic"))
    hub.handle(a, c.Part("#x"))
    assert "#x" not in hub.rooms and "#x" not in hub.index
    drain(a)
    hub.handle(a, c.Join("#x"))
    assert "topic" not in [ev["type"] for ev in a.events()]
    hub.handle(a, c.Topic())
    assert a.events() == [{"type": "topic", "room": "#x", "topic": "", "by": None}]


# --- topics -------------------------------------------------------------------------------


def test_a_topic_set_is_told_to_the_room_and_shown_to_later_joiners() -> None:
    hub = quiet_hub()
    a, b = login(hub, "alice"), login(hub, "bob")
    drain(a, b)
    hub.handle(a, c.Topic(None, "lunch at noon"))
    told = {"type": "topic", "room": "#lobby", "topic": "lunch at noon", "by": "alice"}
    assert a.events() == [told] and b.events() == [told]
    hub.handle(b, c.Topic())  # a query: only the asker, no setter
    assert b.events() == [{"type": "topic", "room": "#lobby", "topic": "lunch at noon", "by": None}]
    assert a.events() == []
    late = login_raw(hub, "carol")
    assert {"type": "topic", "room": "#lobby", "topic": "lunch at noon", "by": None} in late


def login_raw(hub: Hub, nick: str) -> list[Event]:
    s = Mem(len(hub.nicks) + 100)
    hub.connect(s)
    hub.handle(s, c.Hello(nick, 1))
    return s.events()


def test_a_topic_too_long_is_refused_and_the_old_one_kept() -> None:
    hub = quiet_hub(max_topic=10)
    a = login(hub, "alice")
    hub.handle(a, c.Topic(None, "x" * 10))  # exactly the limit
    assert a.events()[0]["topic"] == "x" * 10
    hub.handle(a, c.Topic(None, "y" * 11))
    assert error(a) == {
        "type": "error",
        "code": "bad-command",
        "message": "topics are at most 10 characters",
    }
    assert hub.rooms["#lobby"].topic == "x" * 10


def test_a_topic_of_a_named_room_needs_membership() -> None:
    hub = quiet_hub()
    a, b = login(hub, "alice"), login(hub, "bob")
    hub.handle(b, c.Join("#x"))
    drain(a, b)
    hub.handle(a, c.Topic("#x", "mine now"))
    assert error(a)["code"] == "not-in-room"
    assert hub.rooms["#x"].topic == "" and only(b, "topic") == []
    hub.handle(b, c.Topic("#lobby", "set from #x"))  # a room that is not current
    assert only(a, "topic")[0]["topic"] == "set from #x"


# --- private messages and /who ------------------------------------------------------------


def test_msg_to_nobody_is_no_such_nick() -> None:
    hub = quiet_hub()
    a = login(hub, "alice")
    hub.handle(a, c.Msg("zed", "hello?"))
    assert error(a) == {
        "type": "error",
        "code": "no-such-nick",
        "message": 'nobody is called "zed"',
    }
    assert hub.stats.messages_received == 0


def test_msg_reaches_the_target_in_any_case_and_echoes_to_a_json_sender() -> None:
    hub = quiet_hub()
    a, b = login(hub, "alice"), login(hub, "bob")
    drain(a, b)
    hub.handle(a, c.Msg("BOB", "psst"))
    (got,) = only(b, "private")
    assert (got["from"], got["to"], got["text"], got["action"]) == ("alice", "bob", "psst", False)
    assert [ev["to"] for ev in only(a, "private")] == ["bob"]  # JSON echoes
    hub.handle(a, c.Msg("alice", "note to self"))
    assert len(only(a, "private")) == 1  # once, not twice
    assert hub.stats.deliveries == 3  # bob, alice's echo, then alice once


def test_msg_from_a_text_sender_is_not_echoed() -> None:
    hub = quiet_hub()
    b = login(hub, "bob")
    t = Mem(9, TEXT)
    hub.connect(t)
    hub.handle(t, c.Say("tom"))
    t.lines()
    b.events()
    hub.handle(t, c.Msg("bob", "hi", action=True))
    assert t.lines() == []
    assert only(b, "private")[0]["action"] is True


def test_who_of_a_room_that_does_not_exist() -> None:
    hub = quiet_hub()
    a = login(hub, "alice")
    hub.handle(a, c.Who("#nope"))
    assert error(a) == {"type": "error", "code": "not-in-room", "message": "there is no room #nope"}
    hub.handle(a, c.Who("bad room"))
    assert error(a)["code"] == "bad-room"


def test_who_of_a_room_you_are_not_in_lists_it() -> None:
    hub = quiet_hub()
    a, b = login(hub, "alice"), login(hub, "bob")
    hub.handle(b, c.Join("#Den"))
    drain(a, b)
    hub.handle(a, c.Who("#den"))
    assert a.events() == [
        {"type": "who", "room": "#Den", "nicks": ["bob"], "total": 1, "prefixes": {"bob": "@"}}
    ]
    hub.handle(a, c.Who())  # the current room
    assert a.events()[0]["nicks"] == ["alice", "bob"]


# --- limits -------------------------------------------------------------------------------


def test_room_full() -> None:
    hub = quiet_hub(max_room_members=2)
    a, b = login(hub, "alice"), login(hub, "bob")
    for s in (a, b):
        hub.handle(s, c.Join("#x"))
    c_ = Mem(3)
    hub.connect(c_)
    hub.handle(c_, c.Hello("carol", 1))
    # Registered, but the default room is full too: told so, and in no room.
    assert [ev["type"] for ev in c_.events()] == ["notice", "welcome", "error"]
    assert c_.nick == "carol" and c_.current is None
    drain(a, b)
    hub.handle(c_, c.Join("#X"))
    assert error(c_) == {
        "type": "error",
        "code": "room-full",
        "message": "#X is full (2 members)",
    }
    assert a.events() == [] and hub.rooms["#x"].size == 2
    hub.handle(b, c.Part("#x"))
    hub.handle(c_, c.Join("#x"))
    assert c_ in hub.rooms["#x"]


def test_too_many_rooms_per_client() -> None:
    hub = quiet_hub(max_rooms_per_client=2)
    a = login(hub, "alice")  # #lobby is one
    hub.handle(a, c.Join("#a"))
    a.events()
    hub.handle(a, c.Join("#b"))
    assert error(a) == {
        "type": "error",
        "code": "too-many-rooms",
        "message": "you are in 2 rooms already; /part one first",
    }
    assert "#b" not in hub.rooms
    hub.handle(a, c.Join("#lobby"))  # a room already joined is no new room
    assert a.events()[0]["code"] == "current-room"
    hub.handle(a, c.Part("#a"))
    hub.handle(a, c.Join("#b"))
    assert "#b" in a.rooms


def test_room_limit_for_the_server() -> None:
    hub = quiet_hub(max_rooms=2)
    a, b = login(hub, "alice"), login(hub, "bob")
    hub.handle(a, c.Join("#a"))
    drain(a, b)
    hub.handle(b, c.Join("#b"))
    assert error(b) == {
        "type": "error",
        "code": "room-limit",
        "message": "the server has too many rooms; join an existing one",
    }
    hub.handle(b, c.Join("#a"))  # an existing room is fine
    assert b in hub.rooms["#a"]
    for s in (a, b):
        hub.handle(s, c.Part("#a"))
    hub.handle(b, c.Join("#b"))  # #a is gone: room for one more
    assert b in hub.rooms["#b"]


def test_room_creation_is_rate_limited_but_joining_is_not() -> None:
    now = [0.0]
    hub = Hub(
        Limits(history_size=0, room_create_rate=1.0, room_create_burst=3),
        monotonic=lambda: now[0],
    )
    a, b = login(hub, "alice"), login(hub, "bob")  # alice created #lobby: one token
    hub.handle(a, c.Join("#a"))
    hub.handle(a, c.Join("#b"))
    a.events()
    hub.handle(a, c.Join("#c"))
    ev = error(a)
    assert ev["code"] == "rate-limited" and "one per 1s" in ev["message"]
    assert "#c" not in hub.rooms
    hub.handle(a, c.Join("#lobby"))
    hub.handle(b, c.Join("#a"))  # joining what exists costs nothing
    assert b in hub.rooms["#a"]
    now[0] = 1.0
    hub.handle(a, c.Join("#c"))
    assert a in hub.rooms["#c"]


# --- quit ---------------------------------------------------------------------------------


def test_quit_says_bye_leaves_every_room_and_tells_each_neighbour_once() -> None:
    hub = quiet_hub()
    a, b = login(hub, "alice"), login(hub, "bob")
    for room in ("#x", "#y"):
        hub.handle(a, c.Join(room))
    hub.handle(b, c.Join("#x"))
    drain(a, b)
    hub.handle(a, c.Quit())
    assert a.events() == [{"type": "bye", "reason": "quit"}] and a.closed_with == "quit"
    assert b.events() == [{"type": "quit", "nick": "alice", "reason": "quit"}]
    assert "#y" not in hub.rooms  # she was its only member
    assert hub.rooms["#x"].members() == [b] and hub.rooms["#lobby"].members() == [b]
    assert a.rooms == {} and a.current is None and "alice" not in hub.nicks


def test_quit_before_a_nick_just_says_bye() -> None:
    hub = quiet_hub()
    other = login(hub, "other")
    s = Mem(5)
    hub.connect(s)
    s.events()
    hub.handle(s, c.Quit("nah"))
    assert s.events() == [{"type": "bye", "reason": "quit"}] and s.closed_with == "quit"
    assert other.events() == []


# --- room messages ------------------------------------------------------------------------


def test_say_reaches_the_room_echoing_only_to_json() -> None:
    hub = quiet_hub()
    j = login(hub, "jay")
    t = Mem(9, TEXT)
    hub.connect(t)
    hub.handle(t, c.Say("tom"))
    t.lines()
    j.events()
    hub.handle(t, c.Say("from text"))
    assert t.lines() == []  # no echo for a human
    assert [ev["text"] for ev in only(j, "message")] == ["from text"]
    hub.handle(j, c.Me("waves"))
    assert t.lines() == ["[#lobby] * jay waves"]
    assert [ev["action"] for ev in only(j, "message")] == [True]  # JSON sees its own
    hub.handle(j, c.Say("x", "#elsewhere"))
    assert error(j)["code"] == "not-in-room"
    assert hub.stats.messages_received == 2 and hub.stats.deliveries == 3
