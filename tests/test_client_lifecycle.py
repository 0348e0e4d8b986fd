"""The client's pure parts of the lifecycle: the phase table, nick fallbacks, the rejoin."""

from __future__ import annotations

import pytest

from client.lifecycle import MOVES, BadMove, Lifecycle, Phase
from client.nicks import MAX_NICK, fallback, valid
from client.rejoin import BARRIER, Rejoin
from client.state import State


def test_every_phase_but_closed_can_close_and_closed_is_final() -> None:
    for phase in Phase:
        if phase is not Phase.CLOSED:
            assert Phase.CLOSED in MOVES[phase]
    life = Lifecycle()
    assert life.to(Phase.CLOSED) and life.closed.is_set() and life.done
    for phase in Phase:
        assert life.to(phase) is False  # a late reconnect or error changes nothing
    assert life.phase is Phase.CLOSED


def test_moves_outside_the_table_are_refused() -> None:
    life = Lifecycle()
    with pytest.raises(BadMove):
        life.to(Phase.ONLINE)  # not without registering
    life.to(Phase.REGISTERING)
    with pytest.raises(BadMove):
        life.to(Phase.CONNECTING)


def test_link_words_for_the_toolbar() -> None:
    life = Lifecycle()
    assert life.link == "connecting"
    life.to(Phase.REGISTERING)
    life.to(Phase.ONLINE)
    assert life.link == "online"
    life.to(Phase.RECONNECTING)
    assert life.link == "offline"
    life.to(Phase.CONNECTING)
    assert life.link == "offline"  # once online, a new try is still "offline"
    life.to(Phase.CLOSED)
    assert life.link == "closed"


def test_fallbacks_never_repeat_and_stay_within_24_characters() -> None:
    assert fallback("bob", set()) == "bob_"
    assert fallback("bob", {"bob", "bob_"}) == "bob__"
    full = "x" * 23 + "_"
    assert fallback(full, {full}) == "x" * 22 + "__"  # not the nick itself
    tried = {full}
    for _ in range(30):
        nick = fallback(full, tried)
        if nick is None:
            break
        assert len(nick) <= MAX_NICK and nick not in tried and valid(nick)
        tried.add(nick)
    assert fallback("_" * 24, {"_" * 24}) is None  # nothing new to try: ask the user


def test_nick_syntax_matches_the_protocol() -> None:
    assert valid("bob") and valid("[x]^_|{}") and valid("a" * 24)
    assert not valid("") and not valid("a" * 25) and not valid("bad nick!")
    assert not valid("1bob") and not valid("-bob") and not valid("\uff42ob")


def test_rejoin_takes_rooms_back_current_last_and_parts_the_default_room() -> None:
    state = State("bob")
    for room in ("#py", "#rust"):
        state.apply({"type": "join", "room": room, "nick": "bob", "members": 1})
    state.current = "#py"
    rejoin = Rejoin()
    rejoin.remember(state)
    assert rejoin.start() == [
        {"type": "join", "room": "#rust"},
        {"type": "join", "room": "#py"},
        {"type": "ping", "token": BARRIER},
    ]
    # The server put us in its default room, which we had left: quiet, and parted again.
    lobby = {"type": "join", "room": "#lobby", "nick": "bob", "members": 3}
    assert rejoin.answer(lobby, "bob") == (True, {"type": "part", "room": "#lobby"})
    assert rejoin.answer({"type": "who", "room": "#lobby", "nicks": [], "total": 3}, "bob")[0]
    assert rejoin.answer({"type": "join", "room": "#py", "nick": "bob", "members": 2}, "bob")[0]
    assert rejoin.answer({"type": "topic", "room": "#py", "topic": "t", "by": None}, "bob")[0]
    said = {"type": "message", "room": "#py", "nick": "al", "text": "hi", "ts": 1.0}
    assert rejoin.answer(said, "bob") == (False, None)  # others' chat is shown
    assert not rejoin.answer({"type": "topic", "room": "#py", "topic": "t", "by": "al"}, "bob")[0]
    assert rejoin.finished({"type": "pong", "token": BARRIER})
    part = {"type": "part", "room": "#lobby", "nick": "bob", "reason": "", "members": 2}
    assert rejoin.answer(part, "bob") == (True, None)  # our part of the default room, after
    assert rejoin.answer(part, "bob") == (False, None)  # and only that one


def test_a_link_lost_during_the_rejoin_keeps_the_first_list() -> None:
    state = State("bob")
    for room in ("#py", "#rust"):
        state.apply({"type": "join", "room": room, "nick": "bob", "members": 1})
    rejoin = Rejoin()
    rejoin.remember(state)
    rejoin.start()
    state.apply({"type": "welcome", "nick": "bob", "version": 1, "motd": ""})  # half rebuilt
    state.apply({"type": "join", "room": "#lobby", "nick": "bob", "members": 1})
    rejoin.remember(state)
    assert rejoin.rooms == ["#py", "#rust"] and rejoin.current == "#rust"
