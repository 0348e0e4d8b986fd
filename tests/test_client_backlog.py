"""A room's past in the client, without a terminal: positions, the resume after a reconnect
(held, sorted, deduplicated, marked), the page of recent lines on joining, and how the marks
and history lines are rendered and routed (client/backlog.py, client/rejoin.py, client/render.py,
client/windows.py)."""

from __future__ import annotations

from typing import Any

from client.backlog import Backlog, position
from client.rejoin import BARRIER, Rejoin
from client.render import mentions, render
from client.state import State
from client.windows import route

Event = dict[str, Any]
ME = "bob"


def msg(
    room: str, offset: int, text: str = "", *, epoch: str = "e1", replay: bool = False
) -> Event:
    ev: Event = {"type": "message", "room": room, "nick": "alice", "text": text or f"m{offset}",
                 "ts": 1.0, "action": False, "offset": offset, "epoch": epoch}  # fmt: skip
    if replay:
        ev["replay"] = True
    return ev


def join(room: str, offset: int, *, nick: str = ME, epoch: str = "e1", **extra: Any) -> Event:
    return {"type": "join", "room": room, "nick": nick, "members": 2, "epoch": epoch,
            "offset": offset, **extra}  # fmt: skip


def shown(backlog: Backlog, *events: Event, rejoining: bool = False) -> list[Event]:
    out: list[Event] = []
    for ev in events:
        out += backlog.feed(ev, ME, rejoining=rejoining)[0]
    return out


def texts(events: list[Event]) -> list[str]:
    return [str(ev["text"]) for ev in events if ev["type"] in ("message", "mark")]


def test_a_fresh_join_remembers_the_position_and_asks_for_the_recent_lines() -> None:
    backlog = Backlog()
    ev = join("#py", 7)
    out, commands = backlog.feed(ev, ME, rejoining=False)
    assert out == [ev]
    assert commands == [{"type": "history", "room": "#py", "limit": 20}]
    assert backlog.seen["#py"] == ("e1", 7)
    # someone else's join, or one without history, asks for nothing
    assert backlog.feed(join("#py", 7, nick="carol"), ME, rejoining=False)[1] == []
    assert backlog.feed({"type": "join", "room": "#x", "nick": ME, "members": 1}, ME,
                        rejoining=False) == ([{"type": "join", "room": "#x", "nick": ME,
                                               "members": 1}], [])  # fmt: skip


def test_the_page_is_marked_as_history_and_stops_at_the_join() -> None:
    backlog = Backlog()
    shown(backlog, join("#py", 3))
    live = shown(backlog, msg("#py", 4, "said meanwhile"))  # before the page arrives
    assert texts(live) == ["said meanwhile"]
    page = {"type": "history", "room": "#py", "epoch": "e1",
            "messages": [msg("#py", n, replay=True) for n in (2, 3, 4)]}  # fmt: skip
    out = shown(backlog, page)
    assert texts(out) == ["— the last 2 lines before you joined —", "m2", "m3"]  # not m4 again
    assert out[0] == {"type": "mark", "room": "#py", "level": "history", "text": out[0]["text"]}
    assert all(ev.get("history") for ev in out[1:])
    assert backlog.seen["#py"] == ("e1", 4)  # history does not move the position
    empty = {"type": "history", "room": "#py", "epoch": "e1", "messages": []}
    assert shown(backlog, empty) == []  # an empty room: no header either
    assert shown(backlog, {"type": "history", "room": "#py", "messages": 5}) == []  # malformed


def test_live_lines_move_the_position_and_a_duplicate_is_dropped() -> None:
    backlog = Backlog()
    shown(backlog, join("#py", 0))
    assert texts(shown(backlog, msg("#py", 1), msg("#py", 2))) == ["m1", "m2"]
    assert shown(backlog, msg("#py", 2)) == [] and shown(backlog, msg("#py", 1)) == []
    assert texts(shown(backlog, msg("#py", 1, epoch="e2"))) == ["m1"]  # a new epoch: new lines
    assert backlog.seen["#py"] == ("e2", 1)
    plain = {"type": "message", "room": "#py", "nick": "a", "text": "no history", "ts": 1.0}
    assert shown(backlog, plain, plain) == [plain, plain]  # nothing to compare: all shown


def test_a_resume_shows_the_missed_lines_once_in_order_under_one_line() -> None:
    backlog = Backlog()
    shown(backlog, join("#py", 0), msg("#py", 1), msg("#py", 2))
    assert backlog.since("#py") == {"epoch": "e1", "offset": 2}
    assert backlog.since("#nowhere") is None
    # held back until the join that ends the resume; a repeat of a shown line and of a
    # replayed one (a live line of the default room before its resume, say) are dropped
    held = [msg("#py", 2, replay=True), msg("#py", 4, replay=True), msg("#py", 3, replay=True),
            msg("#py", 4), msg("#py", 5, replay=True)]  # fmt: skip
    assert shown(backlog, *held, rejoining=True) == []
    end = join("#py", 5, recovered=True)
    out, commands = backlog.feed(end, ME, rejoining=True)
    assert commands == [] and out[0] is end
    assert texts(out) == ["— 3 messages while you were away —", "m3", "m4", "m5"]
    assert out[1]["level"] == "missed" and out[1]["room"] == "#py"
    assert backlog.seen["#py"] == ("e1", 5) and not backlog.held
    assert shown(backlog, msg("#py", 5)) == []  # and not again afterwards


def test_a_resume_with_nothing_missed_is_quiet_and_one_missed_is_singular() -> None:
    backlog = Backlog()
    shown(backlog, join("#a", 4), join("#b", 4))
    backlog.since("#a")
    backlog.since("#b")
    assert texts(shown(backlog, join("#a", 4, recovered=True), rejoining=True)) == []
    out = shown(backlog, msg("#b", 5, replay=True), join("#b", 5, recovered=True), rejoining=True)
    assert texts(out) == ["— 1 message while you were away —", "m5"]


def test_not_recovered_says_some_are_missing_and_how_many_were_replayed() -> None:
    backlog = Backlog()
    shown(backlog, join("#py", 0), msg("#py", 1))
    backlog.since("#py")
    out = shown(backlog, msg("#py", 8, replay=True), msg("#py", 9, replay=True),
                join("#py", 9, recovered=False), rejoining=True)  # fmt: skip
    assert texts(out) == [
        "— some messages while you were away are missing (2 replayed) —", "m8", "m9"]  # fmt: skip
    assert out[1]["level"] == "missing"
    # the server lost the room's history (a restart): a new epoch, said as such
    backlog.since("#py")
    out = shown(backlog, msg("#py", 1, "new", epoch="e2", replay=True),
                join("#py", 1, epoch="e2", recovered=False), rejoining=True)  # fmt: skip
    reset = "— history reset by the server: some messages may be missing"
    assert texts(out) == [f"{reset} (1 replayed) —", "new"]
    assert backlog.seen["#py"] == ("e2", 1)
    backlog.since("#py")  # nothing held any more: none replayed
    out = shown(backlog, join("#py", 1, epoch="e3", recovered=False), rejoining=True)
    assert texts(out) == [f"{reset} (none replayed) —"]


def test_a_rejoin_does_not_move_a_known_position_and_the_barrier_lets_out_what_is_held() -> None:
    backlog = Backlog()
    shown(backlog, join("#lobby", 3))
    backlog.since("#lobby")
    # the server's own join into its default room, before the resume: no position change, no
    # history asked for
    assert backlog.feed(join("#lobby", 9), ME, rejoining=True) == ([join("#lobby", 9)], [])
    assert backlog.seen["#lobby"] == ("e1", 3)
    live = msg("#lobby", 9)  # said between that join and the resume: held too
    assert shown(backlog, live, rejoining=True) == []
    # a server without history answers `since` with no `recovered`: the barrier ends the wait
    assert texts(backlog.settle_all()) == ["m9"]
    assert not backlog.held and backlog.seen["#lobby"] == ("e1", 9)


def test_a_dropped_link_drops_what_is_held_and_the_next_resume_asks_again() -> None:
    backlog = Backlog()
    shown(backlog, join("#py", 2))
    backlog.since("#py")
    shown(backlog, msg("#py", 3, replay=True), rejoining=True)
    backlog.lost()
    assert backlog.since("#py") == {"epoch": "e1", "offset": 2}  # m3 was never shown
    out = shown(backlog, msg("#py", 3, replay=True), join("#py", 3, recovered=True))
    assert texts(out) == ["— 1 message while you were away —", "m3"]


def test_parting_forgets_the_room() -> None:
    backlog = Backlog()
    shown(backlog, join("#py", 2))
    shown(backlog, {"type": "part", "room": "#py", "nick": ME, "reason": "", "members": 0})
    assert backlog.since("#py") is None and "#py" not in backlog.asked


def test_the_rejoin_carries_since_for_the_rooms_with_a_position() -> None:
    rejoin = Rejoin()
    state = State(ME)
    for room in ("#lobby", "#py", "#quiet"):
        state.apply(join(room, 1))
    state.apply({"type": "notice", "code": "current-room", "text": "#py is now your current room"})
    rejoin.remember(state)
    backlog = Backlog()
    shown(backlog, join("#lobby", 4), join("#py", 6))
    assert rejoin.start(backlog.since) == [
        {"type": "join", "room": "#lobby", "since": {"epoch": "e1", "offset": 4}},
        {"type": "join", "room": "#quiet"},
        {"type": "join", "room": "#py", "since": {"epoch": "e1", "offset": 6}},
        {"type": "ping", "token": BARRIER},
    ]


def test_marks_and_history_lines_render_and_go_to_their_room() -> None:
    state = State(ME)
    state.apply(join("#py", 0))
    state.apply(join("#lobby", 0))
    header = {"type": "mark", "room": "#py", "text": "— 2 messages while you were away —",
              "level": "missed"}  # fmt: skip
    line = render(header)
    assert line is not None and line[-1] == ("class:missed", "— 2 messages while you were away —")
    assert route(header, state) == ["#py"]
    old = {**msg("#py", 1, "hi bob"), "history": True}
    frags = render(old)
    assert frags is not None and {style for style, _ in frags} == {"class:history"}
    assert "".join(text for _, text in frags).endswith("<alice> hi bob")
    assert not mentions(old, ME)  # an old line does not ring
    assert mentions(msg("#py", 2, "hi bob", replay=True), ME)  # a missed one does


def test_position_needs_an_epoch_and_an_integer_offset() -> None:
    assert position({"epoch": "e", "offset": 3}) == ("e", 3)
    assert position({"epoch": "", "offset": 3}) is None
    assert position({"epoch": "e", "offset": "3"}) is None
    assert position({}) is None
