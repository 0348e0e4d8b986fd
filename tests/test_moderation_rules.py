"""The room permission rules under hypothesis: no sequence of commands lets a non-operator
change a mode, kick or ban (or invite, mute, op, voice).

A `RuleBasedStateMachine` drives an in-memory hub (as tests/test_boundary_fuzz.py does) with
four users sending random moderation and membership commands about one room, in every case
of their nicks (`ALICE` is `alice`), including nick changes (to evade a ban, to take an
operator's nick after they left) and parts and rejoins. Before each command the machine notes
whether its sender is an operator of the room; if not, it checks afterwards that the room's
moderation state and its other members are exactly as they were, except for what concerns
the sender alone (its own part, its own nick change, its own invitation used up). An empty room
is forgotten, and whoever makes it again is its operator: that is the rule, not a breach.
"""

from __future__ import annotations

import copy

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from chat.core import moderation as m
from chat.core.hub import Hub, Limits
from chat.protocol import commands as c
from chat.protocol.names import fold
from tests.test_hub_semantics import Mem

ROOM = "#r"
USERS = ("alice", "bob", "carol", "dave")
NICKS = ["alice", "ALICE", "Bob", "bob", "carol", "dave", "eve", "Eve", "x" * 25, "9no"]
MASKS = ["bob", "*!*@*", "*!*@10.0.0.*", "eve!*@*", "$a:alice", "a*", "*", "bad mask"]
MODE_SPECS = ["+i", "-i", "+m", "-m", "+t", "-t", "+n", "+l", "-l", "+k", "-k", "+o", "-o",
              "+v", "-v", "+b", "-b", "b", "+im-t", "+ov", "+z", "", "+lk", "-ob"]  # fmt: skip
ARGS = st.lists(st.sampled_from([*NICKS, *MASKS, "3", "0", "key", "1000001"]), max_size=3)


def commands() -> st.SearchStrategy[c.Command]:
    nick, mask = st.sampled_from(NICKS), st.sampled_from(MASKS)
    room = st.sampled_from([ROOM, "#R", None])
    return st.one_of(
        st.builds(c.Mode, room, st.sampled_from(MODE_SPECS), ARGS.map(tuple)),
        st.builds(c.Kick, nick, room, st.just("x")),
        st.builds(c.Invite, nick, room),
        st.builds(c.Mute, nick, st.integers(0, 10**6), room),
        st.builds(c.Bans, room),
        st.builds(c.Mode, room, st.sampled_from(["+b", "-b"]), mask.map(lambda x: (x,))),
        st.builds(c.Topic, room, st.just("topic")),
        st.builds(c.Join, st.just(ROOM), st.none(), st.sampled_from([None, "key", "nope"])),
        st.builds(c.Part, st.just(ROOM)),
        st.builds(c.Nick, nick),
        st.builds(c.Say, st.just("hi"), room),
        st.builds(c.Oper, st.just("root"), st.just("guess")),
        st.builds(c.Kill, nick),
        st.builds(c.ServerBan, st.just("10.0.0.0/8")),
    )


def state_of(hub: Hub) -> m.RoomModes | None:
    return copy.deepcopy(hub.moderation.rooms.get(fold(ROOM)))


def without(modes: m.RoomModes, *who: str) -> m.RoomModes:
    """`modes` with every entry about the nicks `who` (folded) removed."""
    out = copy.deepcopy(modes)
    for folded in who:
        out.ops.discard(folded)
        out.voiced.discard(folded)
        out.invites.pop(folded, None)
        out.mutes.pop(folded, None)
    return out


class PermissionRules(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.hub = Hub(Limits(history_size=0, room_create_rate=0), clock=lambda: 1000.0)
        self.users: list[Mem] = []
        for i, nick in enumerate(USERS):
            s = Mem(i + 1)
            s.ip = f"10.0.0.{i + 1}"
            self.hub.connect(s)
            self.hub.handle(s, c.Hello(nick, 1))
            self.users.append(s)
        self.hub.handle(self.users[0], c.Join(ROOM))  # alice makes #r: its operator
        for s in self.users[1:]:
            self.hub.handle(s, c.Join(ROOM))
        self.drain()

    def drain(self) -> None:
        for s in self.users:
            s.take() if len(s) else None

    def members(self) -> set[Mem]:
        room = self.hub.rooms.get(fold(ROOM))
        return {s for s in self.users if room is not None and s in room}

    @rule(actor=st.integers(0, len(USERS) - 1), command=commands())
    def act(self, actor: int, command: c.Command) -> None:
        s = self.users[actor]
        before = state_of(self.hub)
        others_before = self.members() - {s}
        was_op = before is not None and s.folded in before.ops
        old_nick = s.folded
        self.hub.handle(s, command)
        self.drain()
        after = state_of(self.hub)
        if was_op or s.oper:
            return
        assert not s.oper, "a wrong password made an operator"
        if before is None or after is None:
            return  # the room was made (by this join: its maker is its operator) or is gone
        assert self.members() - {s} == others_before, f"{command} by a non-operator removed someone"
        mine = (old_nick, s.folded)
        assert without(after, *mine) == without(before, *mine), (
            f"{command} by non-operator {s.nick} changed the room: {before} -> {after}"
        )
        assert s.folded not in after.ops, f"{command} made its non-operator sender an operator"

    @invariant()
    def operators_are_members(self) -> None:
        modes = self.hub.moderation.rooms.get(fold(ROOM))
        if modes is None:
            return
        members = {s.folded for s in self.members()}
        assert modes.ops <= members and modes.voiced <= members, (modes, members)

    @invariant()
    def bounded(self) -> None:
        modes = self.hub.moderation.rooms.get(fold(ROOM))
        if modes is not None:
            assert len(modes.bans) <= m.MAX_BANS and len(modes.invites) <= m.MAX_INVITES


PermissionRules.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None
)
TestPermissionRules = PermissionRules.TestCase
