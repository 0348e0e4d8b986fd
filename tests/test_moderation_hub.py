"""Moderation in memory: room operators, modes, bans, mutes, invitations, server operators
(chat/core/moderation.py's rules through chat/core/modcommands.py's handlers). No sockets."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chat.core import moderation as m
from chat.core import operhash
from chat.core.hub import Hub, Limits
from chat.protocol import commands as c
from tests.test_hub_semantics import Mem, drain, error, login, only

PASSWORD = "s3cret"
HASH = operhash.hash_password(PASSWORD, b"fixed-salt-16byt")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def hub(clock: Clock | None = None) -> Hub:
    limits = Limits(history_size=0, room_create_rate=0, oper=(f"root:{HASH}",))
    return Hub(limits, clock=clock or Clock())


def room_of_two(h: Hub) -> tuple[Mem, Mem]:
    alice, bob = login(h, "alice"), login(h, "bob")
    h.handle(alice, c.Join("#r"))
    h.handle(bob, c.Join("#r"))
    drain(alice, bob)
    return alice, bob


def test_the_creator_is_operator_and_the_member_list_says_so() -> None:
    h = hub()
    alice, bob = room_of_two(h)
    h.handle(bob, c.Who("#r"))
    who = only(bob, "who")[0]
    assert who["nicks"] == ["alice", "bob"] and who["prefixes"] == {"alice": "@"}
    h.handle(alice, c.Mode("#r", "+v", ("bob",)))
    assert only(bob, "mode") == [{"type": "mode", "room": "#r", "by": "alice", "change": "+v bob"}]
    h.handle(bob, c.Who("#r"))
    assert only(bob, "who")[0]["prefixes"] == {"alice": "@", "bob": "+"}


def test_the_default_room_has_no_operator() -> None:
    h = hub()
    alice = login(h, "alice")
    h.handle(alice, c.Who())
    assert "prefixes" not in only(alice, "who")[0]
    h.handle(alice, c.Mode(None, "+m"))
    assert error(alice)["code"] == "not-operator"


@pytest.mark.parametrize(
    "command",
    [
        c.Mode("#r", "+i"),
        c.Mode("#r", "+o", ("bob",)),
        c.Mode("#r", "-o", ("alice",)),
        c.Mode("#r", "+b", ("alice",)),
        c.Mode("#r", "+k", ("key",)),
        c.Mode("#r", "+l", ("5",)),
        c.Kick("alice", "#r"),
        c.Invite("carol", "#r"),
        c.Mute("alice", 60, "#r"),
    ],
)
def test_a_non_operator_can_do_none_of_it(command: c.Command) -> None:
    h = hub()
    alice, bob = room_of_two(h)
    login(h, "carol")
    drain(alice, bob)
    h.handle(bob, command)
    assert error(bob)["code"] == "not-operator"
    assert h.moderation.rooms["#r"].ops == {"alice"}
    assert not alice.events() or all(ev["type"] != "mode" for ev in alice.events())


def test_kick_puts_the_member_out_and_says_why() -> None:
    h = hub()
    alice, bob = room_of_two(h)
    h.handle(alice, c.Kick("BOB", "#r", "spam"))
    kick = {"type": "kick", "room": "#r", "nick": "bob", "by": "alice", "reason": "spam",
            "members": 1}  # fmt: skip
    assert only(bob, "kick") == [kick]
    assert only(alice, "kick") == [kick]
    assert "#r" not in bob.rooms and bob not in h.rooms["#r"]
    h.handle(bob, c.Say("back", "#r"))
    assert error(bob)["code"] == "not-in-room"


def test_a_banned_user_cannot_rejoin_by_nick_or_by_mask() -> None:
    h = hub()
    alice, bob = room_of_two(h)
    h.handle(alice, c.Mode("#r", "+b", ("Bob",)))
    h.handle(alice, c.Kick("bob", "#r"))
    drain(alice, bob)
    h.handle(bob, c.Join("#r"))
    assert error(bob)["code"] == "banned"
    # a new nick does not evade a mask on the address
    h.handle(alice, c.Mode("#r", "+b", ("*!*@10.0.0.*",)))
    carol = Mem(500)
    carol.ip = "10.0.0.7"
    h.connect(carol)
    h.handle(carol, c.Hello("carol", 1))
    drain(carol)
    h.handle(carol, c.Join("#r"))
    assert error(carol)["code"] == "banned"
    h.handle(alice, c.Bans("#r"))
    assert only(alice, "bans")[0]["masks"] == ["bob!*@*", "*!*@10.0.0.*"]
    h.handle(alice, c.Mode("#r", "-b", ("bob",)))
    h.handle(bob, c.Join("#r"))
    assert only(bob, "join")


def test_a_banned_member_still_in_the_room_cannot_speak_nor_evade_by_nick() -> None:
    h = hub()
    alice, bob = room_of_two(h)
    h.handle(alice, c.Mode("#r", "+b", ("evil*",)))
    h.handle(bob, c.Nick("evil"))
    drain(alice, bob)
    h.handle(bob, c.Say("hi", "#r"))
    assert error(bob)["code"] == "cannot-send"


def test_mute_is_timed() -> None:
    clock = Clock()
    h = hub(clock)
    alice, bob = room_of_two(h)
    h.handle(alice, c.Mute("bob", 30, "#r"))
    drain(alice, bob)
    h.handle(bob, c.Say("hi", "#r"))
    err = error(bob)
    assert err["code"] == "muted" and "30 more seconds" in err["message"]
    clock.now += 31
    h.handle(bob, c.Say("hi", "#r"))
    assert only(alice, "message")[0]["text"] == "hi"


def test_moderated_room_only_voiced_speak() -> None:
    h = hub()
    alice, bob = room_of_two(h)
    h.handle(alice, c.Mode("#r", "+m"))
    drain(alice, bob)
    h.handle(bob, c.Say("hi", "#r"))
    assert error(bob)["code"] == "cannot-send"
    h.handle(alice, c.Mode("#r", "+v", ("bob",)))
    drain(alice, bob)
    h.handle(bob, c.Say("hi", "#r"))
    assert only(alice, "message")[0]["text"] == "hi"


def test_invite_only_key_limit_and_topic_lock() -> None:
    h = hub()
    alice, bob = room_of_two(h)
    carol, dave = login(h, "carol"), login(h, "dave")
    drain(alice, bob, carol)
    h.handle(alice, c.Mode("#r", "+itkl", ("sesame", "3")))
    assert only(alice, "mode")[0]["change"] == "+itkl * 3"
    h.handle(carol, c.Join("#r"))
    assert error(carol)["code"] == "invite-only"
    h.handle(alice, c.Invite("carol", "#r"))
    assert only(carol, "invite") == [
        {"type": "invite", "room": "#r", "nick": "carol", "by": "alice"}
    ]
    h.handle(carol, c.Join("#r"))
    assert only(carol, "join")
    h.handle(alice, c.Mode("#r", "-i"))
    h.handle(dave, c.Join("#r", None, "wrong"))
    assert error(dave)["code"] == "bad-key"
    h.handle(dave, c.Join("#r", None, "sesame"))
    assert error(dave)["code"] == "room-full"
    drain(bob)
    h.handle(bob, c.Topic("#r", "mine"))
    assert error(bob)["code"] == "not-operator"
    h.handle(alice, c.Mode("#r"))
    assert only(alice, "modes") == [{"type": "modes", "room": "#r", "modes": "+ntlk 3 sesame"}]


def test_ops_are_lost_on_leaving_and_the_room_forgets_its_modes_when_empty() -> None:
    h = hub()
    alice, bob = room_of_two(h)
    h.handle(alice, c.Mode("#r", "+o", ("bob",)))
    h.handle(bob, c.Part("#r"))
    assert h.moderation.rooms["#r"].ops == {"alice"}
    h.handle(alice, c.Part("#r"))
    assert "#r" not in h.moderation.rooms
    h.handle(bob, c.Join("#r"))  # a new room: bob made it
    assert h.moderation.rooms["#r"].ops == {"bob"}


def test_unknown_mode_and_the_cap_on_changes() -> None:
    h = hub()
    alice, _ = room_of_two(h)
    h.handle(alice, c.Mode("#r", "+z"))
    assert error(alice)["code"] == "unknown-mode"
    assert len(m.parse_modes("+imtimtimt", [])) == m.MAX_MODES


def test_server_operator_kill_and_address_ban() -> None:
    h = hub()
    alice, bob = room_of_two(h)
    h.handle(alice, c.Kill("bob"))
    assert error(alice)["code"] == "no-privileges"
    h.handle(alice, c.Oper("root", "wrong"))
    assert error(alice)["code"] == "bad-password"
    h.handle(alice, c.Oper("nobody", PASSWORD))
    assert error(alice)["code"] == "bad-password"
    h.handle(alice, c.Oper("root", PASSWORD))
    assert only(alice, "notice")[0]["code"] == "oper"
    h.handle(alice, c.Kill("bob", "bye"))
    assert bob.closed_with == "killed"
    assert only(bob, "error")[0] == {"type": "error", "code": "killed",
                                     "message": "killed by alice: bye"}  # fmt: skip
    assert "bob" not in h.nicks
    h.handle(alice, c.ServerBan("10.0.0.0/8", 3600, "abuse"))
    drain(alice)
    eve = Mem(900)
    eve.ip = "10.1.2.3"
    h.connect(eve)
    assert eve.closed_with == "server-banned" and only(eve, "error")[0]["code"] == "server-banned"
    h.handle(alice, c.ServerBan())
    assert only(alice, "bans")[0]["masks"][0].startswith("10.0.0.0/8 (3600s left, by alice)")
    assert h.stats.moderation["kill"] == 1 and h.stats.moderation["server-ban"] == 1


def test_masks() -> None:
    who = m.Identity("Bob", "bobby", "10.0.0.7")
    assert m.normalize_mask("Bob") == "bob!*@*"
    assert m.normalize_mask("*@10.0.0.7") == "*!*@10.0.0.7"
    assert m.normalize_mask("$a:Bob") == "$a:bob"
    for mask in ("bob", "b?b!*@*", "*!bobby@*", "*@10.0.0.*"):
        assert m.mask_matches(m.normalize_mask(mask), who), mask
    for mask in ("bo", "[b]ob", "*!*@10.0.0.8", "$a:bob"):
        assert not m.mask_matches(m.normalize_mask(mask), who), mask
    assert m.mask_matches("$a:bob", m.Identity("x", "x", "h", "Bob"))


@pytest.mark.parametrize(
    "command", [c.Kill("alice"), c.ServerBan("10.0.0.0/8"), c.ServerBan(), c.Wallops("hi")]
)
def test_server_operator_commands_refused_to_everyone_else(command: c.Command) -> None:
    h = hub()
    alice, _ = room_of_two(h)  # alice is a room operator: not a server operator
    h.handle(alice, command)
    assert error(alice)["code"] == "no-privileges"
    assert not h.operators.server_bans and "alice" in h.nicks


def test_names_are_folded_and_an_operator_nick_cannot_be_borrowed() -> None:
    h = hub()
    alice, bob = room_of_two(h)
    h.handle(alice, c.Mode("#R", "+o", ("BOB",)))  # any case, of the room and of the nick
    assert h.moderation.rooms["#r"].ops == {"alice", "bob"}
    h.handle(alice, c.Part("#r"))
    assert h.moderation.rooms["#r"].ops == {"bob"}
    drain(alice)
    h.handle(alice, c.Mode("#r", "+o", ("alice",)))  # not a member any more
    assert error(alice)["code"] == "not-in-room"
    carol = login(h, "carol")
    h.handle(carol, c.Join("#r"))
    h.handle(alice, c.Nick("ALICE2"))
    h.handle(carol, c.Nick("alice"))  # the old operator's nick gives nothing
    drain(alice, bob, carol)
    h.handle(carol, c.Mode("#r", "+m"))
    assert error(carol)["code"] == "not-operator"
    h.handle(bob, c.Nick("Robert"))  # an operator's status follows its nick change
    assert h.moderation.rooms["#r"].ops == {"robert"}


def test_operator_logins_are_bounded_while_checks_run_elsewhere() -> None:
    h = hub()
    alice, _ = room_of_two(h)
    pending: list[tuple[Callable[[], bool], Callable[[bool], None]]] = []
    h.operators.offload = lambda work, done: pending.append((work, done))
    for _ in range(6):
        h.handle(alice, c.Oper("root", "guess"))
    assert len(pending) == 4 and [ev["code"] for ev in alice.events()] == ["rate-limited"] * 2
    for work, done in pending:
        done(work())
    assert not alice.oper and h.stats.moderation["oper-failed"] == 4


def test_a_bad_change_stops_the_line_and_what_came_before_is_announced() -> None:
    h = hub()
    alice, bob = room_of_two(h)
    h.handle(alice, c.Mode("#r", "+il", ("lots",)))
    evs = alice.events()
    assert [ev["type"] for ev in evs] == ["mode", "error"] and evs[0]["change"] == "+i"
    assert only(bob, "mode")[0]["change"] == "+i" and h.moderation.rooms["#r"].invite_only
