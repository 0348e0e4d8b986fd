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

import base64
import hashlib
import json
from dataclasses import dataclass

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from chat.core import moderation as m
from chat.core import operhash
from chat.core.connection import Policy
from chat.core.hub import Hub, Limits
from chat.protocol import commands as c
from chat.protocol.jsonl import JSON
from chat.protocol.names import fold
from tests.test_boundary_fuzz import Fuzzed, settle
from tests.test_hub_semantics import Mem

PASSWORD = "pw"
SALT = b"0123456789abcdef"
# The oper hash's format at scrypt's lowest cost (n=2, r=1, p=1): the check runs for real once
# per example; at the default cost (n=2**14, ~40 ms) it was three quarters of this file's time.
DIGEST = hashlib.scrypt(PASSWORD.encode(), salt=SALT, n=2, r=1, p=1)
HASH = f"scrypt$2$1$1${base64.b64encode(SALT).decode()}${base64.b64encode(DIGEST).decode()}"
assert operhash.check_format(HASH) is None and operhash.verify(PASSWORD, HASH)
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


@dataclass(frozen=True)
class Snapshot:
    """A room's moderation state, frozen: ~10x cheaper than a deepcopy of `RoomModes`, which
    made each example slow enough that a failing run (shrinking) outlived pytest's timeout."""

    flags: tuple[bool, bool, bool, int, str]
    ops: frozenset[str]
    voiced: frozenset[str]
    bans: tuple[str, ...]
    invites: tuple[str, ...]
    mutes: tuple[tuple[str, float], ...]

    def without(self, *who: str) -> Snapshot:
        """This state with every entry about the nicks `who` (folded) removed."""
        gone = frozenset(who)
        return Snapshot(
            self.flags, self.ops - gone, self.voiced - gone, self.bans,
            tuple(n for n in self.invites if n not in gone),
            tuple(kv for kv in self.mutes if kv[0] not in gone),
        )  # fmt: skip


def state_of(hub: Hub) -> Snapshot | None:
    modes = hub.moderation.rooms.get(fold(ROOM))
    if modes is None:
        return None
    return Snapshot(
        (modes.invite_only, modes.moderated, modes.topic_lock, modes.limit, modes.key),
        frozenset(modes.ops), frozenset(modes.voiced), tuple(modes.bans), tuple(modes.invites),
        tuple(sorted(modes.mutes.items())),
    )  # fmt: skip


class PermissionRules(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        # Both clocks fixed: an example must behave the same every time it is run (shrinking and
        # replaying a failure run it again; a real clock could make it pass the second time).
        limits = Limits(history_size=0, room_create_rate=0)
        self.hub = Hub(limits, clock=lambda: 1000.0, monotonic=lambda: 1000.0)
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
        assert after.without(*mine) == before.without(*mine), (
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


# A failing run must end as one clean, shrunk, replayable failure. With a rule broken on
# purpose it used to come out as a `FlakyFailure` ("failed on the first run but now
# succeeds"): shrinking plus the optional explain phase (22 s of the 25) ran about a thousand
# examples at ~20 ms each (a deepcopy per step), past pytest-timeout's 60 s on a busy machine;
# the timeout's `Failed`, raised by SIGALRM inside whatever example was running, was taken by
# hypothesis for a failure of that example, which then passed when replayed. Nothing in the
# hub varied between runs (both clocks are fixed; no shared state). So: cheap snapshots, no
# explain phase, one bug reported (shrunk across all), a timeout of its own with room for
# shrinking, and the `@reproduce_failure` blob printed. A broken `may_moderate` now fails in
# ~3 s with a two-step example.
PermissionRules.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    print_blob=True,
    report_multiple_bugs=False,
)
TestPermissionRules = pytest.mark.timeout(300)(PermissionRules.TestCase)


# --- hostile moderation lines through real (sans-I/O) connections -----------------------------

HOSTILE = ["\ud800", "\x1b[2J", "\x00", "*", "?", "!", "@", "$a:", "#r", "bob", "ALICE", "-1",
           "99999999999", "10.0.0.0/8", "::1/128", "1d", " ", "", "x" * 200, "+", "-"]  # fmt: skip
TEXT_WORDS = ["/mode", "/op", "/deop", "/voice", "/devoice", "/kick", "/ban", "/unban", "/bans",
              "/mute", "/unmute", "/invite", "/oper", "/kill", "/sban", "/unsban", "/sbans",
              "/wallops", "/join"]  # fmt: skip
JSON_TYPES = ["mode", "op", "deop", "voice", "devoice", "ban", "unban", "bans", "kick", "invite",
              "mute", "oper", "kill", "sban", "unsban", "sbans", "wallops", "join"]  # fmt: skip
JSON_FIELDS = ["room", "nick", "mask", "modes", "args", "seconds", "reason", "name", "password",
               "key", "text"]  # fmt: skip
piece = st.sampled_from(HOSTILE) | st.sampled_from(MODE_SPECS) | st.text(max_size=6)


@st.composite
def hostile_line(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """The same intent as a text line and as a JSON line."""
    words = draw(st.lists(piece, max_size=4))
    text = " ".join([draw(st.sampled_from(TEXT_WORDS)), *words])
    obj: dict[str, object] = {"type": draw(st.sampled_from(JSON_TYPES))}
    for name in draw(st.lists(st.sampled_from(JSON_FIELDS), max_size=4)):
        obj[name] = draw(
            piece | st.integers(-5, 2**40) | st.lists(piece, max_size=3) | st.none() | st.booleans()
        )
    raw = json.dumps(obj)  # lone surrogates go out as \\ud800 escapes, as an attacker writes
    return text.encode("utf-8", "surrogatepass"), raw.encode()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), hostile_line()), max_size=25))
def test_hostile_moderation_lines_are_errors_never_failures(
    lines: list[tuple[int, tuple[bytes, bytes]]],
) -> None:
    hub = Hub(Limits(history_size=0, room_create_rate=0, oper=(f"root:{HASH}",)))
    conns = [Fuzzed(hub, Policy(max_line=4096, msg_rate=0), i + 1) for i in range(3)]
    for i, conn in enumerate(conns):
        conn.start(0.0)
        hello = json.dumps({"type": "hello", "version": 1, "nick": f"u{i}"}) if i else "u0"
        conn.receive_data(hello.encode() + b"\n/join #r\n", 0.0)
        conn.process(0.0)
    hub.handle(conns[1], c.Oper("root", PASSWORD))  # one server operator among them
    settle(conns, hub, 0.0)
    for who, (text, raw) in lines:
        conn = conns[who]
        conn.receive_data((raw if conn.codec is JSON else text) + b"\n", 1.0)
        while conn.process(1.0):
            pass
        settle(conns, hub, 1.0)
    assert hub.stats.errors["internal-error"] == 0
    for modes in hub.moderation.rooms.values():  # all that is stored encodes, in every dialect
        for value in (modes.key, *modes.bans, *modes.ops, *modes.voiced, *modes.invites):
            value.encode("utf-8")
        assert len(modes.bans) <= m.MAX_BANS
