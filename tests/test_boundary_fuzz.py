"""The untrusted-input boundary under hypothesis: hostile lines through Connections and a Hub.

Random sequences of hostile lines (JSON objects of every command type whose fields hold lone
surrogates, control characters, huge numbers, nesting thousands deep and wide objects; raw text
lines with invalid UTF-8 and odd /commands) go through a few sans-I/O `Connection`s of both
dialects sharing one `Hub`. Whatever happens, no exception escapes `receive_data`/`process`,
nothing is counted as an internal error, everything stored in the hub can still be encoded in
both dialects, and every byte any connection queued is UTF-8 (issue 11).

The codecs are also fuzzed directly: only `ProtocolError`, and every string of a decoded
command is valid text (`is_text`).
"""

from __future__ import annotations

import dataclasses
import json
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat.core.accountjobs import Outcome
from chat.core.accounts import AccountPolicy, Accounts
from chat.core.connection import Connection, Policy
from chat.core.hub import Hub, Limits
from chat.core.session import Session
from chat.protocol import commands as c
from chat.protocol import events as e
from chat.protocol.errors import ProtocolError
from chat.protocol.jsonl import JSON
from chat.protocol.names import check_room
from chat.protocol.sanitize import is_text
from chat.protocol.text import TEXT

MAX_LINE = 4096
FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
DECODE_FUZZ = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# --- strategies ------------------------------------------------------------------------------

NAMES = ["alice", "bob", "Carol", "ALICE", "\uff42\uff4f\uff42", "\ufb01sh", "a" * 24,
         "a" * 25, "9lives", "#lobby", "#LOBBY", "#room", "room", "#a.b-c_d", "#" + "r" * 32,
         "#" + "r" * 33, "#é", "#\uff52\uff4f\uff4f\uff4d", "", " ", "#"]  # fmt: skip
PIECES = ["\ud800", "\udfff", "\udbff\udfff", "\ud83d", "\x00", "\x07", "\x08", "\t", "\r",
          "\n", "\x1b", "\x1b[31m", "\x1b[2J", "\x1b]0;pwned\x07", "\x1b]8;;x\x1b\\", "\x7f",
          "\x85", "\x9b", "\u202e", "\u2066", "\u200b", "\ufeff", "\uffff", "\U0010ffff",
          "\u0301", "é", "\u0430", "//", "/", "\\", '"', "{", "[", " ", "x" * 300]  # fmt: skip
COMMAND_TYPES = ["hello", "say", "me", "msg", "nick", "join", "part", "topic", "rooms", "who",
                 "quit", "help", "ping", "register", "identify", "dance", "", "HELLO",
                 "\ud800"]  # fmt: skip
GOOD_TYPES = COMMAND_TYPES[:15]
STRING_FIELDS = ["nick", "text", "room", "to", "topic", "reason", "token", "password",
                 "account"]  # fmt: skip
FIELDS = [*STRING_FIELDS, "version", "type"]
TEXT_COMMANDS = ["nick", "join", "j", "part", "leave", "topic", "rooms", "list", "who",
                 "names", "msg", "query", "me", "help", "ping", "quit", "NICK", "Join",
                 "register", "identify", "dance", "", "/"]  # fmt: skip

surrogates = st.characters(categories=["Cs"])
hostile_str = st.one_of(
    st.sampled_from(NAMES),
    st.lists(
        st.one_of(
            st.sampled_from(PIECES),
            st.sampled_from(NAMES),
            st.text(max_size=8),
            surrogates,
        ),
        max_size=6,
    ).map("".join),
)

valid_str = st.lists(
    st.one_of(st.sampled_from(PIECES[4:]), st.text(max_size=8)), min_size=1, max_size=8
).map("".join)
"""Hostile but valid text (no surrogates): what the core should clean and store."""


def nested(depth: int, kind: int) -> str:
    if kind == 0:
        return "[" * depth + "]" * depth
    if kind == 1:
        return '{"a":' * depth + "0" + "}" * depth
    return '[{"x":' * (depth // 6) + "1" + "}]" * (depth // 6)


LITERALS = ["1", "1.0", "true", "false", "null", "0", "-1", "1e400", "-1e400", "NaN", "Infinity",
            "-Infinity", "1e-400", "-0", "[]", "{}", "2e308", "1E1", "0.1e1"]  # fmt: skip


def _json_string(pair: tuple[str, bool]) -> str:
    value, ascii_only = pair  # ensure_ascii=False keeps raw surrogates: invalid UTF-8 later
    return json.dumps(value, ensure_ascii=ascii_only)


json_value = st.one_of(
    st.tuples(hostile_str, st.booleans()).map(_json_string),
    st.sampled_from(LITERALS),
    st.integers().map(str),
    st.floats().map(json.dumps),
    st.integers(1, 4000).map(lambda n: "9" * n),
    st.tuples(st.integers(1, 2040), st.integers(0, 2)).map(lambda t: nested(*t)),
    st.integers(1, 800).map(lambda n: "[" + ",".join(["0"] * n) + "]"),
    st.integers(1, 300).map(lambda n: "{" + ",".join(f'"k{i}":{i}' for i in range(n)) + "}"),
)


@st.composite
def json_lines(draw: st.DrawFn) -> bytes:
    """A JSON object (sometimes not quite) of any command type with hostile fields."""
    kind = draw(
        st.one_of(
            st.tuples(st.sampled_from(COMMAND_TYPES), st.booleans()).map(_json_string), json_value
        )
    )
    fields = draw(st.dictionaries(st.sampled_from(FIELDS), json_value, max_size=5))
    parts = [f'"type":{kind}', *(f'"{k}":{v}' for k, v in fields.items())]
    if draw(st.booleans()) and "version" not in fields:
        parts.append('"version":1')
    width = draw(st.sampled_from([0, 0, 0, 50, 400]))
    parts += [f'"w{i}":null' for i in range(width)]  # a wide object
    text = "{" + ",".join(draw(st.permutations(parts))) + "}"
    if draw(st.integers(0, 9)) == 0:
        text = text[: draw(st.integers(0, len(text)))]  # truncated
    return text.encode("utf-8", "surrogatepass")


@st.composite
def good_json_lines(draw: st.DrawFn) -> bytes:
    """A well-formed command whose strings are hostile (often valid, sometimes surrogates)."""
    kind = draw(st.sampled_from(GOOD_TYPES))
    obj: dict[str, Any] = {"type": kind, "version": 1}
    for name in draw(st.lists(st.sampled_from(STRING_FIELDS), max_size=4)):
        obj[name] = draw(hostile_str)
    return json.dumps(obj, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")


INVALID_UTF8 = [b"\xff", b"\xfe\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xed\xbf\xbf",
                b"\xf4\x90\x80\x80", b"\xe2\x82", b"\x80", b"\xf0\x9f\x98"]  # fmt: skip


@st.composite
def text_lines(draw: st.DrawFn) -> bytes:
    """A human's line: a /command with odd arguments, plain text, or bytes that are no UTF-8."""
    choice = draw(st.integers(0, 4))
    if choice == 0:
        return draw(st.binary(max_size=64))
    if choice == 1:
        head = draw(st.binary(max_size=16))
        return head + draw(st.sampled_from(INVALID_UTF8)) + draw(st.binary(max_size=16))
    if choice == 2:
        return draw(hostile_str).encode("utf-8", "surrogatepass")
    name = draw(st.sampled_from(TEXT_COMMANDS))
    args = draw(st.lists(hostile_str, max_size=4))
    line = "/" + name + "".join(" " + arg for arg in args)
    return line.encode("utf-8", "surrogatepass")


ROOMS = ["#room", "#Room", "#lobby", "#x.y", "#" + "r" * 32]
room = st.sampled_from(ROOMS)
nick = st.sampled_from(NAMES[:7])


@st.composite
def plausible_lines(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """A command valid but for its hostile text, so that the hub stores things: (the text
    line, the JSON line); the connection sends the one of its dialect."""
    text, where, who = draw(st.one_of(hostile_str, valid_str)), draw(room), draw(nick)
    pairs: list[tuple[str, dict[str, Any]]] = [
        (f"/join {where}", {"type": "join", "room": where}),
        (f"/topic {text}", {"type": "topic", "topic": text}),
        (f"/topic {where} {text}", {"type": "topic", "room": where, "topic": text}),
        (f"/topic {where} {text}", {"type": "topic", "room": where, "topic": text}),
        (f"/part {where} {text}", {"type": "part", "room": where, "reason": text}),
        (f"/nick {who}", {"type": "nick", "nick": who}),
        (f"/msg {who} {text}", {"type": "msg", "to": who, "text": text}),
        (text, {"type": "say", "room": where, "text": text}),
        (f"/me {text}", {"type": "me", "text": text}),
        (f"/who {where}", {"type": "who", "room": where}),
        ("/rooms", {"type": "rooms"}),
        (f"/ping {text}", {"type": "ping", "token": text}),
        (f"/quit {text}", {"type": "quit", "reason": text}),
    ]
    line, obj = draw(st.sampled_from(pairs))
    as_json = json.dumps(obj, ensure_ascii=draw(st.booleans()))
    return line.encode("utf-8", "surrogatepass"), as_json.encode("utf-8", "surrogatepass")


any_line: st.SearchStrategy[bytes | tuple[bytes, bytes]] = st.one_of(
    plausible_lines(),
    plausible_lines(),
    plausible_lines(),
    json_lines(),
    good_json_lines(),
    text_lines(),
    st.sampled_from([b"x" * (MAX_LINE + 1), b"", b"\r", b"null", b"[1]", b'"bob"', b"{"]),
)
op = st.tuples(st.integers(0, 2), any_line, st.integers(0, 3))
hello = st.one_of(
    st.none(),
    st.sampled_from(NAMES[:3]).map(lambda n: n.encode()),
    st.sampled_from(NAMES[:7]).map(lambda n: n.encode()),
    st.sampled_from(NAMES[:7]).map(
        lambda n: json.dumps({"type": "hello", "nick": n, "version": 1}).encode()
    ),
)

# --- the hub under fire ----------------------------------------------------------------------


class Fuzzed(Connection):
    """A connection whose output is kept, in the chunks it was taken in."""

    def __init__(self, hub: Hub, policy: Policy, conn_id: int) -> None:
        super().__init__(hub, policy, conn_id, "peer", f"10.0.0.{conn_id}")
        self.output: list[bytes] = []
        self.forgotten = False

    def drain(self) -> None:
        if len(self):
            self.output.append(self.take())


class Probe(Session):
    """A registered session that keeps the events it is sent, unencoded."""

    def __init__(self) -> None:
        super().__init__(999, "probe", 10**6, 10**9)
        self.seen: list[e.Event] = []

    def send(self, event: e.Event) -> None:
        self.seen.append(event)


POLICIES = [
    Policy(max_line=MAX_LINE, msg_rate=0),
    Policy(max_line=MAX_LINE, msg_rate=2.0, msg_burst=8),
    Policy(max_line=MAX_LINE, msg_rate=0, queue_messages=40, queue_bytes=8192),
]


def settle(conns: list[Fuzzed], hub: Hub, now: float) -> None:
    """What the transport does after a pass: idle checks, writes, and forgetting the closed."""
    outcomes = list(Outcome)
    for conn in conns:
        conn.idle_check(now)
        accounts = hub.accounts
        if accounts is not None:  # the transport's part: run the job, and the grace timer
            if conn.waiting is not None:
                conn.account_done(outcomes[len(conn.output) % len(outcomes)], now)
            rename = accounts.expire(conn) if conn.guard else None
            if rename is not None:
                conn.inject(rename, now)
        conn.drain()
        if conn.closing and not conn.forgotten:  # `ended` -> `ChatServer.forget`, then `lost`
            conn.forgotten = True
            hub.disconnect(conn, conn.reason)
            conn.lost()


def encodes(value: str) -> None:
    assert isinstance(value, str) and is_text(value), repr(value)
    value.encode("utf-8")


@FUZZ
@given(
    st.lists(hello, min_size=2, max_size=3),
    st.lists(op, max_size=30),
    st.booleans(),
    st.booleans(),
)
def test_hostile_sequences_leave_every_stored_value_encodable(
    hellos: list[bytes | None],
    ops: list[tuple[int, bytes | tuple[bytes, bytes], int]],
    room_limit: bool,
    accounts: bool,
) -> None:
    clock = [1000.0]
    hub = Hub(
        Limits(
            max_rooms_per_client=6,
            max_topic=300,
            list_limit=20,
            room_create_rate=1.0 if room_limit else 0.0,
            room_create_burst=3,
        ),
        clock=lambda: 1.7e9,
        monotonic=lambda: clock[0],
    )
    if accounts:  # with --accounts: passwords parked, outcomes of every kind, grace renames
        Accounts(hub, AccountPolicy(grace=1.0), rng=random.Random(0)).known_all(["alice", "bob"])
    conns = [Fuzzed(hub, POLICIES[i], i + 1) for i in range(len(hellos))]
    for conn, first in zip(conns, hellos, strict=True):
        conn.start(clock[0])
        if first is not None:
            conn.receive_data(first + b"\n", clock[0])
            conn.process(clock[0])
    settle(conns, hub, clock[0])
    for who, either, how in ops:
        conn = conns[who % len(conns)]
        line = either if isinstance(either, bytes) else either[conn.codec is JSON]
        now = clock[0]
        if how == 1 and len(line) > 1:  # in two reads, split anywhere
            cut = len(line) // 2
            conn.receive_data(line[:cut], now)
            conn.process(now)
            conn.receive_data(line[cut:] + b"\r\n", now)
        else:
            conn.receive_data(line + (b"\r" if how == 2 else b"\n"), now)
        for _ in range(1000):
            if not conn.process(now):
                break
        settle(conns, hub, now)
        clock[0] += 0.25

    assert hub.stats.errors["internal-error"] == 0

    # Everything stored is text, and the hub's structures agree with each other.
    for key, session in hub.nicks.items():
        encodes(key)
        assert session.nick is not None and session.folded == key
        encodes(session.nick)
        assert not session.closing
    for key, room in hub.rooms.items():
        for value in (key, room.name, room.topic):
            encodes(value)
        assert check_room(room.name) == room.name and room.folded == key
        assert room.size == len(room.members()) > 0
        for member in room.members():
            assert member.rooms.get(key) is room and hub.nicks.get(member.folded) is member
    assert {key for key, _ in hub.index.largest()} == set(hub.rooms)

    # Every later encode of everything stored succeeds, in both dialects.
    probe = Probe()
    hub.handle(probe, c.Hello("zzprobe", 1))
    assert probe.nick == "zzprobe", probe.seen
    hub.handle(probe, c.Rooms())
    listed = [ev for ev in probe.seen if isinstance(ev, e.RoomList)]
    assert len(listed) == 1 and listed[0].total == len(hub.rooms)
    for room in list(hub.rooms.values()):
        probe.seen.append(e.TopicIs(room.name, room.topic))
        probe.seen.append(e.TopicIs(room.name, room.topic, "zzprobe"))
        before = len(probe.seen)
        hub.handle(probe, c.Who(room.name))
        assert [type(ev) for ev in probe.seen[before:]] == [e.Members], probe.seen[before:]
    for event in probe.seen:
        TEXT.encode(event).decode("utf-8")
        assert json.loads(JSON.encode(event))["type"]

    # Every byte any connection queued is UTF-8 and carries no raw escape character.
    for conn in conns:
        conn.drain()
        data = b"".join(conn.output)
        data.decode("utf-8")
        assert b"\x1b" not in data


# --- the codecs alone ------------------------------------------------------------------------


def check_decoded(command: c.Command | None) -> None:
    if command is None:
        return
    for field in dataclasses.fields(command):
        value = getattr(command, field.name)
        if isinstance(value, str):
            assert is_text(value), (command, field.name)
            value.encode("utf-8")


deep = st.one_of(
    st.tuples(st.integers(1, 20_000), st.integers(0, 2)).map(lambda t: nested(*t).encode()),
    st.integers(1, 20_000).map(lambda n: ('{"type":"say","text":' + "[" * n).encode()),
    st.integers(1, 5_000).map(
        lambda n: ('{"type":"ping","token":' + "{" * n + "}" * n + "}").encode()
    ),
    st.integers(1, 20_000).map(lambda n: b"/msg bob " + b"[" * n),
)
wide = st.one_of(
    st.integers(1, 5_000).map(
        lambda n: ("{" + ",".join(f'"type":"say","text":"{i}"' for i in range(n)) + "}").encode()
    ),
    st.integers(1, 20_000).map(
        lambda n: ('{"type":"say","text":"x","room":[' + "0," * n + "0]}").encode()
    ),
)


@DECODE_FUZZ
@given(st.one_of(json_lines(), good_json_lines(), text_lines(), deep, wide, st.binary()))
def test_decoders_raise_only_protocol_errors_and_yield_only_text(line: bytes) -> None:
    for codec in (JSON, TEXT):
        try:
            command = codec.decode(line)
        except ProtocolError as err:
            encodes(err.message)
            continue
        check_decoded(command)


@DECODE_FUZZ
@given(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=4), st.text(surrogates, min_size=1))
def test_a_lone_surrogate_in_any_field_never_gets_through(fields: list[str], bad: str) -> None:
    for kind in GOOD_TYPES:
        obj: dict[str, Any] = {"type": kind, "version": 1}
        for name in fields:
            obj[name] = "x" + bad if name != "version" else 1
        try:
            command = JSON.decode(json.dumps(obj).encode())
        except ProtocolError:
            continue
        check_decoded(command)
