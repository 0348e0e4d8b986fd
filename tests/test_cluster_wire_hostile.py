"""The cluster wire against a hostile publisher on the broker (issue 11).

`wire.decode` is a node's untrusted-input boundary for the cluster, as the codecs are for a
client: whatever bytes arrive, it returns a note or raises `ValueError`. Every note it returns
applies through `inbound.apply` without raising, leaves the view consistent, and stores only
strings that encode. Hypothesis drives deep, wide and surrogate-laden JSON, huge numbers, wrong
types at every depth and wrong arities; most generated notes are close enough to valid (names
from small pools) that they decode and interact: the same nick on two nodes, parts of rooms
never joined, state chunks replacing what was known.
"""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat.cluster import inbound
from chat.cluster import wire as w
from chat.core.hub import Hub
from chat.core.remote import RemoteView
from chat.core.rooms import Room
from chat.protocol import commands as c
from chat.protocol import events as e
from chat.protocol.errors import INTERNAL_ERROR
from chat.protocol.jsonl import JSON
from chat.protocol.names import fold
from chat.protocol.text import TEXT
from tests.test_cluster_core import Bus, MemoryBroker
from tests.test_hub import MemorySession

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- JSON fragments, written as text so that nesting can go deeper than json.dumps can -------

SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
CHARS = st.characters(codec="utf-8") | st.sampled_from(  # hypothesis leaves surrogates out
    ["\x1b[2J", "\x07", "\r", "\u202e", "\x00", "\t", "\x85", "é", "😀"]
)
TEXTS = st.lists(CHARS, max_size=30).map("".join)
HOSTILE_TEXT = st.lists(CHARS | SURROGATES, max_size=30).map("".join) | TEXTS


def dump(value: Any) -> str:
    """ensure_ascii: a lone surrogate goes out as a `\\ud800` escape, as an attacker writes it."""
    return json.dumps(value, allow_nan=True)


def deep(depth: int, opener: str = "[") -> str:
    if opener == "[":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


JUNK = st.one_of(
    st.builds(deep, st.integers(1, 3000), st.sampled_from(["[", "{"])),
    st.builds(deep, st.sampled_from([999, 1000, 1001, 20_000])),
    st.integers(min_value=-(10**80), max_value=10**80).map(str),
    st.integers(4000, 4400).map(lambda n: "9" * n),  # around int's 4,300-digit limit
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-0.0", "null", "true", "{}"]),
    st.floats(allow_nan=True, allow_infinity=True).map(dump),
    HOSTILE_TEXT.map(dump),
    st.integers(1000, 9000).map(lambda n: "[" + ",".join(['"alice"'] * n) + "]"),  # wide
    st.text(max_size=6).map(lambda s: dump({s: [s]})),
)

NODES = ["n1", "n2", "n3"]
NICKS = ["alice", "Alice", "bob", "carol", "x[1]"]  # carol is also a local user
ROOMS = [("#lobby", "#lobby"), ("#dev", "#Dev"), ("#a.b", "#A.b")]


def _mostly(good: list[Any] | st.SearchStrategy[Any], bad: list[Any]) -> st.SearchStrategy[str]:
    """A JSON fragment: usually a good value, sometimes a bad one, sometimes junk."""
    good_values = good if isinstance(good, st.SearchStrategy) else st.sampled_from(good)

    @st.composite
    def pick(draw: st.DrawFn) -> str:
        roll = draw(st.integers(0, 19))
        if roll == 0:
            junk: str = draw(JUNK)
            return junk
        if roll == 1:
            return dump(draw(st.sampled_from(bad)))
        return dump(draw(good_values))

    return pick()


NODE = _mostly(NODES, ["", "a.b", "x" * 65, "n1\r\nPUB x 1", "n*", 5])
NICK = _mostly(NICKS, ["", " bob", "9lives", "al ice", "\uff41lice", "a" * 25, ["bob"], None])
NICK_KEY = _mostly([fold(n) for n in NICKS], ["Alice", "bob ", "", 1])
TEXT_FIELD = _mostly(TEXTS | HOSTILE_TEXT, ["x" * (w.MAX_TEXT + 1), 7, ["t"]])
TOPIC_FIELD = _mostly(TEXTS | HOSTILE_TEXT, ["t" * (w.MAX_TOPIC + 1), False])
STATE_TOPIC = _mostly(TEXTS, ["\ud800", "t" * (w.MAX_TOPIC + 1), None])
TS = _mostly(
    st.floats(0, 2e9) | st.integers(0, 2**31),
    [-1, 1e400, 10**30, True, "1.0", float("nan"), w.MAX_TS * 2],
)
FLAG = _mostly(st.booleans(), [0, 1, None, "true"])


@st.composite
def room_pair(draw: st.DrawFn) -> tuple[str, str]:
    """A (key, name) pair, mostly consistent, sometimes not."""
    key, name = draw(st.sampled_from(ROOMS))
    mutate = draw(st.integers(0, 19))
    if mutate == 0:
        key = name  # not folded
    elif mutate == 1:
        name = draw(st.sampled_from(["lobby", "#", "#a b", "#" + "r" * 33, "#\uff44ev"]))
        key = name.lower()
    return dump(key), dump(name)


@st.composite
def state_rooms(draw: st.DrawFn) -> str:
    entries = []
    for _ in range(draw(st.integers(0, 3))):
        key, name = draw(room_pair())
        members = [draw(NICK) for _ in range(draw(st.integers(0, 3)))]
        entry = [key, name, draw(STATE_TOPIC), f"[{','.join(members)}]"]
        if draw(st.integers(0, 19)) == 0:
            entry = draw(st.lists(st.sampled_from(entry) | JUNK, max_size=5))
        entries.append(f"[{','.join(entry)}]")
    return f"[{','.join(entries)}]"


@st.composite
def note_bytes(draw: st.DrawFn) -> bytes:
    """One note as a publisher could send it: usually well formed, often not."""
    kind = draw(st.sampled_from([*(cls.kind for cls in w._ALL), "state", "said", "nope"]))
    cls = next((cls for cls in w._ALL if cls.kind == kind), w.Beat)
    parts: list[str] = []
    for f in fields(cls):
        match f.name:
            case "node":
                parts.append(draw(NODE))
            case "room" if cls is w.Parted:
                parts.append(draw(_mostly([k for k, _ in ROOMS], ["#Dev", "dev", "", 3])))
            case "room":
                key, name = draw(room_pair())
                parts.append(key)
            case "name":
                parts.append(name)
            case "nick" | "old" | "new" | "sender" | "by":
                parts.append(draw(NICK))
            case "to":
                parts.append(draw(NICK_KEY))
            case "text" if cls is w.Topic:
                parts.append(draw(TOPIC_FIELD))
            case "text" | "reason":
                parts.append(draw(TEXT_FIELD))
            case "ts":
                parts.append(draw(TS))
            case "action" | "first":
                parts.append(draw(FLAG))
            case "nicks":
                parts.append(f"[{','.join(draw(st.lists(NICK, max_size=6)))}]")
            case "rooms":
                parts.append(draw(state_rooms()))
            case "change":  # moderation notes (chat.core.modstate)
                parts.append(draw(_mostly(["", "+o bob", "+im-t"], [5, "\x1b[2J", None])))
            case "flags":
                parts.append(draw(_mostly(["", "im", "imt"], ["x", "iiii", 3])))
            case "limit":
                parts.append(draw(_mostly([0, 5], [-1, "5", 10**9, True])))
            case "key":
                parts.append(draw(_mostly(["", "sesame"], ["a b", "x" * 30, 4, "k,v"])))
            case "ops" | "voiced" | "invites":
                parts.append(f"[{','.join(draw(st.lists(NICK_KEY, max_size=4)))}]")
            case "bans":
                masks = _mostly(["bob!*@*", "*!*@10.0.0.*", "$a:bob"], ["Bob", "a b", 5, ""])
                parts.append(f"[{','.join(draw(st.lists(masks, max_size=4)))}]")
            case "mutes":
                pairs = st.lists(st.tuples(NICK_KEY, TS).map(lambda p: f"[{p[0]},{p[1]}]"))
                parts.append(f"[{','.join(draw(pairs))}]")
            case "net":
                parts.append(draw(_mostly(["10.0.0.0/8", "127.0.0.2/32"], ["10.0.0.1/8", "x"])))
            case "until":
                parts.append(draw(TS))
    arity = draw(st.integers(0, 19))
    if arity == 0 and parts:
        parts.pop()  # a field short
    elif arity == 1:
        parts.append(draw(JUNK))  # a field too many
    text = f"[{','.join([dump(kind), *parts])}]"
    if draw(st.integers(0, 29)) == 0:
        return text.encode("utf-16")  # JSON, but not UTF-8
    return text.encode()


# --- what must hold after any of it ------------------------------------------------------------


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [s for v in value for s in strings(v)]
    return []


def check_note(note: w.Note) -> None:
    for s in strings([getattr(note, f.name) for f in fields(note)]):
        s.encode("utf-8")
    assert w.decode(w.encode(note)) == note  # what decodes is canonical: it survives the trip


def check_view(view: RemoteView) -> None:
    """The two indexes agree, and every stored string encodes."""
    for key, remote in view.rooms.items():
        assert remote.members, f"an empty room {key} is kept"
        held = set().union(*(s.rooms.get(key, set()) for s in view.nodes.values()))
        assert set(remote.members) == held
        for s in (key, remote.name, remote.topic, *remote.members, *remote.members.values()):
            s.encode("utf-8")
        assert fold(remote.name) == key
    for node, state in view.nodes.items():
        node.encode("utf-8")
        for key, members in state.rooms.items():
            assert members and key in view.rooms
        for folded, nick in state.nicks.items():
            assert fold(nick) == folded
            nick.encode("utf-8")
    for folded, (node, nick) in view.nicks.items():
        assert view.nodes[node].nicks[folded] == nick


def check_hub(hub: Hub) -> None:
    view = hub.broker.view
    check_view(view)
    keys = {*hub.rooms, *view.rooms}  # `/rooms` lists every room, here or elsewhere, by size
    assert dict(hub.index.largest()) == {k: hub.size(k) for k in keys}
    for room in hub.rooms.values():
        (room.name + room.topic).encode("utf-8")
    infos = [e.RoomInfo(r.name, len(r.members), r.topic) for r in view.rooms.values()]
    events: list[e.Event] = [e.RoomList(tuple(infos), len(infos))]
    events += [e.Members(r.name, tuple(r.members.values()), 0) for r in view.rooms.values()]
    for event in events:
        JSON.encode(event)
        TEXT.encode(event)


def node_b() -> tuple[Hub, list[MemorySession]]:
    """A node with local users in both dialects, in rooms that remote notes name."""
    hub = Hub(broker=MemoryBroker(Bus(), "b"))
    people = []
    for i, nick in enumerate(["carol", "dave"]):
        s = MemorySession(i + 1)
        if nick == "dave":
            s.codec = TEXT
        hub.connect(s)
        hub.handle(s, c.Hello(nick, 1))
        hub.handle(s, c.Join("#dev"))
        people.append(s)
    return hub, people


# --- decode -------------------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=3000))
def test_any_bytes_decode_or_raise_value_error(data: bytes) -> None:
    try:
        note = w.decode(data)
    except ValueError:
        return
    check_note(note)


@FUZZ
@given(note_bytes())
def test_hostile_notes_decode_or_raise_value_error_and_what_decodes_is_clean(data: bytes) -> None:
    try:
        note = w.decode(data)
    except ValueError:
        return
    check_note(note)


SAID = '["said","n1","#dev","#Dev","alice",{},1.0,false]'
STATE = '["state","n1",true,["alice"],[["#dev","#Dev","t",{}]]]'


@pytest.mark.parametrize("depth", [10, 999, 1000, 1001, 5000, 200_000])
@pytest.mark.parametrize("where", [SAID, STATE, "{}"])
@pytest.mark.parametrize("opener", ["[", "{"])
def test_deep_nesting_anywhere_is_a_value_error(depth: int, where: str, opener: str) -> None:
    with pytest.raises(ValueError):
        w.decode(where.replace("{}", deep(depth, opener)).encode())


@pytest.mark.parametrize(
    "data",
    [
        b'["said","n1","#dev","#Dev","alice","\\ud800",1.0,false]',  # a lone surrogate
        b'["said","n1","#dev","#Dev","alice","\\udfff\\ud800",1.0,false]',  # reversed pair
        b'["topic","n1","#dev","#Dev","\\ud83d","alice"]',
        b'["offline","n1","alice","\\udc00"]',
        b'["state","n1",true,[],[["#dev","#Dev","\\ud800",["alice"]]]]',
        b'["\\ud800","n1"]',
        b'["said","n1","#dev","#Dev","alice","x",1e400,false]',  # inf
        b'["said","n1","#dev","#Dev","alice","x",NaN,false]',
        b'["said","n1","#dev","#Dev","alice","x",-1,false]',
        b'["said","n1","#dev","#Dev","alice","x",' + b"9" * 400 + b",false]",
        b'["said","n1","#dev","#Dev","alice","x",' + b"9" * 5000 + b",false]",
        b'["said","n1","#dev","#Dev","alice","x",1.0,0]',  # 0 is not a bool
        b'["said","n1","#dev","#Dev","al ice","x",1.0,false]',  # not a nick
        b'["said","n1","#dev","#Dev","\xef\xbd\x81lice","x",1.0,false]',  # fullwidth a: not canon
        b'["said","n1","#Dev","#Dev","alice","x",1.0,false]',  # key not folded
        b'["said","n1","#ops","#Dev","alice","x",1.0,false]',  # key of another name
        b'["parted","n1","#Dev","alice","bye"]',
        b'["pm","n1","Bob","alice","x",1.0,false]',  # `to` is a folded nick
        b'["joined","n1.x","#dev","#Dev","alice"]',  # a node id is a subject token
        b'["beat","n1 x"]',
        b'["beat",""]',
        b'["state","n1",true,["alice",["bob"]],[]]',
        b'["state","n1",true,[],[["#dev","#Dev","t",[["alice"]]]]]',
        b'["state","n1",true,[],[["#dev","#Dev","t",["alice"],5]]]',
        b'["state","n1",true,[],[{"#dev":1}]]',
        b'["said","n1","#dev","#Dev","alice","' + b"x" * (w.MAX_TEXT + 1) + b'",1.0,false]',
        b'["state","n1",true,[' + b",".join([b'"a"'] * (w.MAX_STATE_NAMES + 1)) + b"],[]]",
        '["beat","n1"]'.encode("utf-16"),
        '["beat","n1"]'.encode("utf-32"),
        b'\xef\xbb\xbf["beat","n1"]',  # a BOM
    ],
)
def test_what_a_node_would_never_send_is_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        w.decode(data)


def test_control_characters_are_cleaned_as_a_clients_would_be() -> None:
    note = w.decode(b'["said","n1","#dev","#Dev","alice","a\\u001b[2Jb\\u0007\\u202ec",1,false]')
    assert isinstance(note, w.Said) and note.text == "abc" and note.ts == 1.0
    assert isinstance(w.decode(b'["topic","n1","#dev","#Dev","x","" ]'), w.Topic)  # by: nobody


# --- apply --------------------------------------------------------------------------------------


@FUZZ
@given(st.lists(note_bytes(), min_size=5, max_size=25))
def test_every_note_that_decodes_applies_and_leaves_only_text_that_encodes(
    notes: list[bytes],
) -> None:
    hub, people = node_b()
    for i, data in enumerate(notes):
        try:
            note = w.decode(data)
        except ValueError:
            continue
        assert inbound.apply(hub, note, float(i))
        check_view(hub.broker.view)
    assert hub.stats.errors[INTERNAL_ERROR] == 0
    check_hub(hub)
    for s in people:  # the local users' output (JSON and text) was encoded fine
        s.take().decode("utf-8")
        hub.handle(s, c.Rooms())
        hub.handle(s, c.Who("#dev"))
        s.take().decode("utf-8")


_node = st.sampled_from(NODES)
_nick = st.sampled_from(NICKS)
_room = st.sampled_from(ROOMS)
_topic = st.sampled_from(["", "t", "ünï"])
_chunk = st.tuples(_room, _topic, st.lists(_nick, max_size=3)).map(
    lambda x: (x[0][0], x[0][1], x[1], x[2])
)
VALID_NOTES = st.one_of(
    st.builds(w.Online, _node, _nick),
    st.builds(w.Offline, _node, _nick, st.just("quit")),
    st.builds(w.Renamed, _node, _nick, _nick),
    _room.flatmap(lambda r: st.builds(w.Joined, _node, st.just(r[0]), st.just(r[1]), _nick)),
    _room.flatmap(lambda r: st.builds(w.Joined, _node, st.just(r[0]), st.just(r[1]), _nick)),
    st.builds(w.Parted, _node, _room.map(lambda r: r[0]), _nick, st.just("")),
    _room.flatmap(lambda r: st.builds(w.Topic, _node, st.just(r[0]), st.just(r[1]), _topic, _nick)),
    st.builds(
        w.State, _node, st.booleans(), st.lists(_nick, max_size=3), st.lists(_chunk, max_size=3)
    ),
    st.builds(w.Bye, _node),
)


@FUZZ
@given(st.lists(VALID_NOTES, min_size=10, max_size=40))
def test_contradicting_valid_notes_keep_the_view_consistent(notes: list[w.Note]) -> None:
    """Small pools, so that notes collide: one nick on two nodes, parts of rooms never joined,
    renames onto a nick in use, state chunks replacing what was known."""
    hub, people = node_b()
    for i, note in enumerate(notes):
        assert w.decode(w.encode(note)) == note
        assert inbound.apply(hub, note, float(i))
        check_view(hub.broker.view)
    check_hub(hub)
    for s in people:
        s.take().decode("utf-8")


def test_state_with_a_topic_and_no_members_applies_without_a_key_error() -> None:
    """The regression of issue 11: this raised KeyError halfway through `extend`."""
    hub, _ = node_b()
    view = hub.broker.view
    note = w.decode(b'["state","n1",true,["alice"],[["#ops","#Ops","the topic",[]]]]')
    assert inbound.apply(hub, note, 1.0)
    assert view.locate("alice") == ("n1", "alice") and view.room("#ops") is None
    more = w.decode(
        b'["state","n1",false,[],[["#ops","#Ops","",["alice"]],["#ops","#Ops","t",[]]]]'
    )
    assert inbound.apply(hub, more, 2.0)
    assert view.topic("#ops") == "t" and view.count("#ops") == 1
    check_hub(hub)


def test_the_same_nick_on_two_nodes_leaves_the_room_whole_when_one_leaves() -> None:
    view = RemoteView()
    view.joined("n1", "#dev", "#Dev", "alice", 0.0)
    view.joined("n2", "#dev", "#Dev", "alice", 0.0)  # a partition's collision
    assert view.parted("n1", "#dev", "alice", 1.0)
    assert view.count("#dev") == 1  # n2's alice is still there
    assert view.renamed("n2", "alice", "al", 1.0) == ("#dev",)
    view.joined("n1", "#dev", "#Dev", "al", 2.0)
    assert [g.nick for g in view.drop("n2")] == ["al"] and view.count("#dev") == 1
    check_view(view)


def snapshot(view: RemoteView) -> Any:
    return (
        {
            n: (dict(s.nicks), {r: set(m) for r, m in s.rooms.items()})
            for n, s in view.nodes.items()
        },
        {k: (r.name, r.topic, dict(r.members)) for k, r in view.rooms.items()},
        dict(view.nicks),
    )


@pytest.mark.parametrize(
    ("method", "note"),
    [
        ("extend", w.State("n1", True, ["bob"], [("#ops", "#Ops", "t", ["bob"])])),
        ("extend", w.State("n1", False, ["zed"], [])),
        ("joined", w.Joined("n1", "#dev", "#Dev", "bob")),
        ("parted", w.Parted("n1", "#dev", "alice", "bye")),
        ("renamed", w.Renamed("n1", "alice", "al")),
        ("offline", w.Offline("n1", "alice", "quit")),
        ("online", w.Online("n1", "zed")),
        ("set_topic", w.Topic("n1", "#dev", "#Dev", "new", "alice")),
        ("drop", w.Bye("n1")),
    ],
)
def test_a_note_that_fails_while_applied_is_counted_logged_once_and_changes_nothing(
    method: str, note: w.Note, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    hub, people = node_b()
    view = hub.broker.view
    setup: list[w.Note] = [
        w.State("n1", True, ["alice"], [("#dev", "#Dev", "old", ["alice"])]),
        w.Online("n2", "bob"),
    ]
    for n in setup:
        assert inbound.apply(hub, n, 0.0)
    for s in people:
        s.take()
    before = snapshot(view)

    def broken(*args: Any, **kw: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(view, method, broken)
    with structlog.testing.capture_logs() as logs:
        assert not inbound.apply(hub, note, 5.0)
    assert hub.stats.errors[INTERNAL_ERROR] == 1
    assert [x["event"] for x in logs] == ["cluster.note_failed"]
    assert logs[0]["exc_info"] is True and logs[0]["kind"] == note.kind
    assert snapshot(view) == before  # nothing half applied
    assert all(len(s) == 0 for s in people)  # and nobody told of it
    assert capsys.readouterr().err == ""
    monkeypatch.undo()
    assert inbound.apply(hub, w.Beat("n1"), 6.0)  # the node carries on
    check_hub(hub)


def test_a_failure_while_delivering_is_counted_and_the_view_stays_consistent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hub, _ = node_b()

    def broken(*args: Any, **kw: Any) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr(Room, "broadcast", broken)
    with structlog.testing.capture_logs() as logs:
        assert not inbound.apply(hub, w.Joined("n1", "#dev", "#Dev", "alice"), 1.0)
    assert hub.stats.errors[INTERNAL_ERROR] == 1 and len(logs) == 1
    check_view(hub.broker.view)  # the view change was made whole, before delivery


# --- the NATS link's handler (no server needed: the message is handed to it) -------------------


class FakeMsg:
    def __init__(self, data: bytes, subject: str = "chat.ev.node") -> None:
        self.data, self.subject = data, subject


async def test_the_nats_handler_counts_bad_notes_and_failures_and_raises_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from chat.cluster.natsbroker import NatsBroker

    broker = NatsBroker("nats://127.0.0.1:1", name="b")
    hub = Hub(broker=broker)
    broker.hub = hub
    state = b'["state","n1",true,["alice"],[["#ops","#Ops","t",[]],["#dev","#Dev","",["alice"]]]]'
    with structlog.testing.capture_logs() as logs:
        for data in [
            b"[" * 100_000,
            b'["beat","\\ud800"]',
            b"\xff",
            '["beat","n1"]'.encode("utf-16"),
        ]:
            await broker._on_note(FakeMsg(data))  # type: ignore[arg-type]
        await broker._on_note(FakeMsg(state))  # type: ignore[arg-type]
    assert hub.stats.errors[w.BAD_NOTE] == 4 and broker.bad_notes == 4
    assert hub.stats.errors[INTERNAL_ERROR] == 0
    assert [x["event"] for x in logs] == ["cluster.bad_note"] * 4
    assert broker.view.count("#dev") == 1 and broker.view.room("#ops") is None
    before = snapshot(broker.view)

    def broken(*args: Any, **kw: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(broker.view, "extend", broken)
    with structlog.testing.capture_logs() as logs:
        await broker._on_note(FakeMsg(state.replace(b"alice", b"bob")))  # type: ignore[arg-type]
    assert hub.stats.errors[INTERNAL_ERROR] == 1 and snapshot(broker.view) == before
    assert [(x["event"], x["exc_info"]) for x in logs] == [("cluster.note_failed", True)]
    assert capsys.readouterr().err == ""
