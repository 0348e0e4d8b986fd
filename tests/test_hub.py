"""The hub with in-memory sessions: no sockets, no event loop (the core is sans-I/O)."""

import json
from typing import Any

import pytest

from chat.core.hub import Hub, Limits
from chat.core.session import Session
from chat.protocol import commands as c
from chat.protocol.jsonl import JSON


class MemorySession(Session):
    """A session whose output is a list of decoded JSON events."""

    def __init__(self, conn_id: int, max_messages: int = 10_000, max_bytes: int = 10**7) -> None:
        super().__init__(conn_id, "memory", max_messages, max_bytes)
        self.codec = JSON
        self.overflowed = False
        self.closed_with: str | None = None

    def overflow(self) -> None:
        self.overflowed = True
        self.closing = True

    def close(self, reason: str) -> None:
        self.closed_with = reason
        self.closing = True

    def events(self) -> list[dict[str, Any]]:
        data = self.take() if len(self) else b""
        return [json.loads(line) for line in data.splitlines()]


def login(hub: Hub, nick: str, **kw: int) -> MemorySession:
    s = MemorySession(len(hub.nicks) + 1, **kw)
    hub.connect(s)
    hub.handle(s, c.Hello(nick, 1))
    s.events()
    return s


def test_lists_are_capped_but_totals_are_not() -> None:
    hub = Hub(Limits(list_limit=100, max_rooms_per_client=200, room_create_rate=0))
    people = [login(hub, f"n{i}") for i in range(101)]
    asker = people[-1]
    hub.handle(asker, c.Who())
    who = next(ev for ev in asker.events() if ev["type"] == "who")
    assert len(who["nicks"]) == 100 and who["total"] == 101
    assert who["nicks"][0] == "n0"  # in join order
    for i in range(120):
        hub.handle(asker, c.Join(f"#r{i}"))
    asker.events()
    hub.handle(asker, c.Rooms())
    rooms = asker.events()[0]
    assert rooms["total"] == 121 and len(rooms["rooms"]) == 100
    assert rooms["rooms"][0] == {"name": "#lobby", "members": 101, "topic": ""}  # biggest first


def test_room_name_rules() -> None:
    hub = Hub()
    s = login(hub, "alice")
    hub.handle(s, c.Join("#" + "r" * 32))
    assert s.events()[0]["type"] == "join"
    for bad in ("#" + "r" * 33, "#", "#a b", "#é"):
        hub.handle(s, c.Join(bad))
        assert s.events() == [{"type": "error", "code": "bad-room", "message": s_msg()}], bad


def s_msg() -> str:
    return "room names are # then 1-32 of A-Z a-z 0-9 _ - ."


def test_room_names_are_case_insensitive_and_shown_as_created() -> None:
    hub = Hub()
    a, b = login(hub, "a"), login(hub, "b")
    hub.handle(a, c.Join("#Python"))
    hub.handle(b, c.Join("#PYTHON"))
    assert [ev["room"] for ev in b.events() if ev["type"] == "join"] == ["#Python"]


def test_a_full_outbox_marks_only_that_session() -> None:
    hub = Hub()
    talker = login(hub, "talker")
    tiny = login(hub, "tiny")
    others = [login(hub, f"o{i}") for i in range(3)]
    tiny.events()
    tiny.max_messages = 3
    for n in range(5):
        hub.handle(talker, c.Say(f"m{n}"))
    assert tiny.overflowed and len(tiny) == 3
    for o in others:
        assert [ev["text"] for ev in o.events() if ev["type"] == "message"] == [
            f"m{n}" for n in range(5)
        ]
    assert hub.stats.messages_received == 5


def test_quit_frees_the_nick_and_tells_neighbours() -> None:
    hub = Hub()
    a, b = login(hub, "alice"), login(hub, "bob")
    b.events()
    hub.handle(a, c.Quit("bye"))
    assert a.closed_with == "quit"
    assert b.events() == [{"type": "quit", "nick": "alice", "reason": "bye"}]
    hub.disconnect(a, "eof")  # idempotent: the transport calls it again
    assert b.events() == []
    again = login(hub, "ALICE")
    assert again.nick == "ALICE"


@pytest.mark.parametrize("text", ["hello", "/not a command"])
def test_unregistered_json_sessions_cannot_speak(text: str) -> None:
    hub = Hub()
    s = MemorySession(1)
    hub.connect(s)
    s.events()
    hub.handle(s, c.Say(text))
    assert s.events()[0]["code"] == "not-registered"
