"""The sans-I/O `Connection`: every transition in memory, no sockets, no event loop.

Like h11's tests, each test builds a hub and a few connections, feeds them bytes with
`receive_data`/`process` at a chosen `now`, and reads what they would have written with `take`.
A subclass records the transport hooks (`ended(grace)`, `wake()`).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from chat.core.broker import InProcess
from chat.core.connection import (
    BYTES_PER_PASS,
    CLOSE_GRACE,
    LINE_COST,
    LINES_PER_PASS,
    Connection,
    Policy,
    State,
)
from chat.core.hub import Hub, Limits
from chat.core.session import Session
from chat.protocol import commands as c
from chat.protocol.jsonl import JSON
from chat.protocol.text import TEXT

IP = "10.0.0.1"
UNLIMITED = Policy(msg_rate=0)
"""No token bucket: for tests about something other than the rate limit."""


class Conn(Connection):
    """A connection whose transport hooks are recorded instead of acted on."""

    def __init__(self, hub: Hub, policy: Policy, conn_id: int, ip: str = IP) -> None:
        super().__init__(hub, policy, conn_id, "peer", ip)
        self.graces: list[float] = []
        self.wakes = 0

    def ended(self, grace: float) -> None:
        self.graces.append(grace)

    def wake(self) -> None:
        self.wakes += 1

    def feed(self, data: bytes, now: float = 0.0) -> bool:
        """`receive_data` then one `process` pass; True if lines are left."""
        self.receive_data(data, now)
        return self.process(now)

    def run(self, data: bytes, now: float = 0.0) -> list[str]:
        """Feed `data`, process every pass, return the output lines (text)."""
        self.receive_data(data, now)
        for _ in range(10_000):
            if not self.process(now):
                break
        return self.lines()

    def lines(self) -> list[str]:
        return self.take().decode("utf-8").splitlines()

    def events(self, data: bytes = b"", now: float = 0.0) -> list[dict[str, Any]]:
        """Feed `data` (if any), process it, return the output as decoded JSON events."""
        lines = self.run(data, now) if data else self.lines()
        return [json.loads(line) for line in lines]


def state(conn: Connection) -> State:
    """`conn.state`, read afresh (mypy would keep a narrowed property across transitions)."""
    return conn.state


_ids = iter(range(1, 1_000_000))


def connect(hub: Hub, policy: Policy = UNLIMITED, ip: str = IP, now: float = 0.0) -> Conn:
    """A started connection, its greeting read."""
    conn = Conn(hub, policy, next(_ids), ip)
    conn.start(now)
    assert state(conn) is State.HELLO
    assert conn.lines()[0].startswith("* welcome to chat! pick a nick")
    return conn


def login(hub: Hub, nick: str, policy: Policy = UNLIMITED, ip: str = IP, now: float = 0.0) -> Conn:
    """A text client registered as `nick`, its output so far read."""
    conn = connect(hub, policy, ip, now)
    out = conn.run(nick.encode() + b"\n", now)
    assert out[0].startswith(f"* welcome, {nick}!"), out
    assert state(conn) is State.REGISTERED
    return conn


def login_json(hub: Hub, nick: str, policy: Policy = UNLIMITED, ip: str = IP) -> Conn:
    conn = connect(hub, policy, ip)
    hello = json.dumps({"type": "hello", "nick": nick, "version": 1}).encode() + b"\n"
    assert conn.events(hello)[0]["type"] == "welcome"
    return conn


# --- HELLO -> REGISTERED ---------------------------------------------------------------------


def test_a_text_first_line_is_a_nick() -> None:
    hub = Hub()
    conn = Conn(hub, Policy(), 1, IP)
    conn.start(0.0)
    assert conn.wakes == 1  # the greeting went from empty to non-empty
    assert state(conn) is State.HELLO and conn.nick is None
    assert conn.bucket is not None  # the default policy has a rate limit
    assert conn.lines() == ["* welcome to chat! pick a nick (1-24 of A-Z a-z 0-9 _ - [ ] { } | ^):"]
    assert not conn.feed(b"alice\n")
    assert state(conn) is State.REGISTERED and conn.nick == "alice"
    assert conn.codec is TEXT
    assert conn.wakes == 2  # three lines queued, one wake
    assert conn.lines() == [
        "* welcome, alice! type /help for commands; lines you type go to your current room.",
        "* alice joined #lobby (1 here)",
        "* #lobby (1): alice",
    ]
    assert hub.nicks["alice"] is conn and conn in hub.rooms["#lobby"]
    assert conn.graces == []


def test_a_json_hello_registers_and_picks_the_json_dialect() -> None:
    hub = Hub()
    conn = connect(hub)
    events = conn.events(b'{"type":"hello","nick":"Bob","version":1}\n')
    assert [ev["type"] for ev in events] == ["welcome", "join", "who"]
    assert events[0]["nick"] == "Bob" and events[0]["version"] == 1
    assert state(conn) is State.REGISTERED and conn.codec is JSON
    assert hub.nicks["bob"] is conn


def test_a_bad_nick_leaves_the_connection_waiting_for_one() -> None:
    hub = Hub()
    conn = connect(hub)
    out = conn.run(b"9lives\n")
    assert len(out) == 1 and out[0].startswith("! bad-nick: ")
    assert state(conn) is State.HELLO
    conn.run(b"lives9\n")
    assert state(conn) is State.REGISTERED and conn.nick == "lives9"


@pytest.mark.parametrize("first", [b"null", b"[1]", b'"bob"', b"  true ", b"false", b"[]"])
def test_a_json_value_that_is_no_object_is_bad_json_not_a_nick(first: bytes) -> None:
    hub = Hub()
    conn = connect(hub)
    out = conn.run(first + b"\n")
    assert out == ['! bad-json: a program starts with {"type":"hello",...}; a human with a nick']
    assert state(conn) is State.HELLO and conn.nick is None and not hub.nicks
    assert hub.stats.errors["bad-json"] == 1
    assert conn.codec is TEXT  # a human may still pick a nick
    conn.run(b"bob\n")
    assert state(conn) is State.REGISTERED and conn.nick == "bob"


def test_a_first_line_in_json_that_is_no_hello_is_not_registered() -> None:
    hub = Hub()
    conn = connect(hub)
    events = conn.events(b'{"type":"say","text":"hi"}\n')
    assert events == [{"type": "error", "code": "not-registered", "message": "choose a nick first"}]
    assert state(conn) is State.HELLO and conn.codec is JSON


def test_a_taken_nick_is_refused_and_the_state_stays_hello() -> None:
    hub = Hub()
    login(hub, "alice")
    conn = connect(hub)
    out = conn.run(b"ALICE\n")
    assert out == ['! nick-taken: nick "ALICE" is taken; pick another']
    assert state(conn) is State.HELLO


# --- REGISTERED -> CLOSING -> CLOSED ---------------------------------------------------------


def test_quit_closes_and_later_input_is_discarded() -> None:
    hub = Hub()
    alice = login(hub, "alice")
    bob = login(hub, "bob")
    alice.lines()
    assert alice.run(b"/quit gone fishing\n/ping late\n") == ["* bye: quit"]
    assert state(alice) is State.CLOSING and alice.reason == "quit"
    assert alice.graces == [CLOSE_GRACE]
    assert bob.lines() == ["* alice quit (gone fishing)"]
    assert "alice" not in hub.nicks
    # Input while CLOSING is discarded, nothing more is queued.
    alice.receive_data(b"/ping again\nhello\n", 1.0)
    assert not alice.pending
    assert not alice.process(1.0)
    assert alice.take() == b""
    alice.end("eof")  # idempotent: the first reason stays, `ended` is not called again
    assert alice.reason == "quit" and alice.graces == [CLOSE_GRACE]
    alice.lost()
    assert state(alice) is State.CLOSED
    alice.receive_data(b"/ping x\n", 2.0)
    assert not alice.process(2.0) and alice.take() == b""


def test_lost_from_registered_is_closed() -> None:
    hub = Hub()
    conn = login(hub, "alice")
    conn.lost()
    assert state(conn) is State.CLOSED
    assert conn.graces == []  # the transport let go: no graceful close to arrange
    conn.push(b"late\n")  # sealed: refused
    assert conn.take() == b""


def test_flood_is_warned_once_then_cut() -> None:
    hub = Hub()
    conn = login(hub, "alice", Policy(msg_rate=1.0, msg_burst=3))  # the nick took a token
    pings = b"".join(b"/ping %d\n" % i for i in range(10))
    out = conn.run(pings)
    assert out == [
        "* pong 0",
        "* pong 1",
        "! rate-limited: more than 1 lines/s: slow down; lines are dropped",
        "! flood: too many lines dropped for flooding; disconnecting",
    ]
    assert state(conn) is State.CLOSING and conn.reason == "flood"
    assert conn.graces == [CLOSE_GRACE]
    assert hub.stats.errors["flood"] == 1 and hub.stats.errors["rate-limited"] == 1
    assert not conn.pending  # the rest of the flood was discarded


def test_a_pause_forgives_dropped_lines() -> None:
    hub = Hub()
    conn = login(hub, "alice", Policy(msg_rate=1.0, msg_burst=3))
    out = conn.run(b"/ping 1\n/ping 2\n/ping 3\n/ping 4\n")
    assert out == ["* pong 1", "* pong 2", "! rate-limited: more than 1 lines/s: slow down;"
                   " lines are dropped"]  # fmt: skip
    assert conn.run(b"/ping 5\n", now=1.0) == ["* pong 5"]
    # The drops were forgiven: two more drops are warned again, not cut (3 in a row would be).
    out = conn.run(b"/ping 6\n/ping 7\n", now=1.0)
    assert out == ["! rate-limited: more than 1 lines/s: slow down; lines are dropped"]
    assert state(conn) is State.REGISTERED
    assert conn.run(b"/ping 8\n", now=1.0) == [
        "! flood: too many lines dropped for flooding; disconnecting"
    ]


def test_idle_warns_at_80_percent_and_cuts_at_100() -> None:
    hub = Hub()
    conn = login(hub, "alice", Policy(msg_rate=0, idle_timeout=10.0))
    conn.idle_check(7.9)
    assert conn.take() == b""
    conn.idle_check(8.0)
    assert conn.lines() == ["* you have been idle; you will be disconnected in 2s"]
    conn.idle_check(9.0)  # warned once
    assert conn.take() == b""
    conn.receive_data(b"/pi", 9.5)  # a partial line is no activity (slowloris)
    conn.idle_check(10.0)
    assert state(conn) is State.CLOSING and conn.reason == "idle"
    assert conn.lines() == ["! idle: idle for 10s; disconnecting"]
    assert conn.graces == [CLOSE_GRACE]


def test_json_idle_warning_is_a_notice_and_a_line_resets_the_clock() -> None:
    hub = Hub()
    conn = login_json(hub, "alice", Policy(msg_rate=0, idle_timeout=10.0))
    conn.idle_check(8.0)
    assert conn.events() == [
        {
            "type": "notice",
            "code": "idle-warning",
            "text": "you have been idle; you will be disconnected in 2s",
        }
    ]
    assert [ev["type"] for ev in conn.events(b'{"type":"ping"}\n', now=9.0)] == ["pong"]
    conn.idle_check(16.9)
    assert conn.take() == b"" and state(conn) is State.REGISTERED
    conn.idle_check(17.0)  # warned again: the line forgave the first warning
    assert [ev["code"] for ev in conn.events()] == ["idle-warning"]
    conn.idle_check(19.0)
    assert conn.events() == [
        {"type": "error", "code": "idle", "message": "idle for 10s; disconnecting"}
    ]
    assert conn.reason == "idle"


@pytest.mark.parametrize(
    "policy", [Policy(msg_rate=0, queue_messages=4), Policy(msg_rate=0, queue_bytes=300)]
)
def test_a_push_past_the_outbox_bounds_is_a_slow_consumer(policy: Policy) -> None:
    hub = Hub()
    talker = login(hub, "talker")
    reader = login(hub, "reader", policy)
    talker.lines()
    for n in range(10):
        talker.run(b"message number %d\n" % n)
    assert state(talker) is State.REGISTERED and talker.take() == b""
    out = reader.lines()
    assert state(reader) is State.CLOSING and reader.reason == "slow-consumer"
    assert reader.graces == [CLOSE_GRACE]
    assert out[-1].startswith("! slow-consumer: you are not reading: ")
    messages = out[:-1]
    assert messages and messages == [f"[#lobby] <talker> message number {n}"
                                     for n in range(len(messages))]  # fmt: skip
    assert hub.stats.errors["slow-consumer"] == 1


def test_a_line_too_long_is_an_error_and_the_next_line_works() -> None:
    hub = Hub()
    conn = login(hub, "alice", Policy(msg_rate=0, max_line=64))
    out = conn.run(b"x" * 65 + b"\n/ping ok\n")
    assert out == ["! line-too-long: lines are at most 64 bytes; it was dropped", "* pong ok"]
    # The same, arriving in pieces (the limit is on what is buffered, not on one read).
    assert conn.run(b"y" * 40) == []
    assert conn.run(b"y" * 40) == ["! line-too-long: lines are at most 64 bytes; it was dropped"]
    assert conn.run(b"y" * 40) == []  # the rest of it is discarded up to its end
    assert conn.run(b"\n/ping again\n") == ["* pong again"]
    assert conn.run(b"z" * 64 + b"\n") == []  # exactly the limit: a message to the room
    assert state(conn) is State.REGISTERED


@pytest.mark.parametrize("end", [b"\n", b"\r", b"\r\n"], ids=["LF", "CR", "CRLF"])
def test_line_ends(end: bytes) -> None:
    hub = Hub()
    conn = connect(hub)
    conn.run(b"alice" + end)
    assert state(conn) is State.REGISTERED
    conn.lines()
    assert conn.run(b"/ping a" + end + b"/ping b" + end) == ["* pong a", "* pong b"]


def test_a_crlf_split_across_reads_is_one_line_end() -> None:
    hub = Hub()
    conn = login(hub, "alice", Policy(msg_rate=1.0, msg_burst=3))
    assert conn.run(b"/ping a\r") == ["* pong a"]
    assert conn.run(b"\n/ping b\r\n") == ["* pong b"]
    # Two tokens were left after the nick: an extra blank line would have cost the third.
    assert conn.run(b"/ping c\n") == ["! rate-limited: more than 1 lines/s: slow down;"
                                      " lines are dropped"]  # fmt: skip


# --- fairness and reply weight ---------------------------------------------------------------


def test_one_pass_handles_at_most_64_lines_and_the_rest_follow_in_order() -> None:
    hub = Hub()
    conn = login(hub, "alice")
    conn.receive_data(b"".join(b"/ping %d\n" % i for i in range(1000)), 0.0)
    assert conn.process(0.0) is True and conn.pending
    first = conn.lines()
    assert 0 < len(first) <= LINES_PER_PASS
    assert first == [f"* pong {i}" for i in range(len(first))]
    pongs, passes = first, 1
    while conn.process(0.0):
        passes += 1
        out = conn.lines()
        assert len(out) <= LINES_PER_PASS
        pongs += out
    pongs += conn.lines()
    assert pongs == [f"* pong {i}" for i in range(1000)]
    assert passes >= 1000 // LINES_PER_PASS
    assert not conn.pending


def test_one_pass_handles_at_most_16_kib() -> None:
    hub = Hub()
    conn = login(hub, "alice")
    size = 1000
    lines = [b"/ping %03d" % i + b"." * (size - 9) for i in range(100)]
    assert all(len(line) == size for line in lines)
    conn.receive_data(b"\n".join(lines) + b"\n", 0.0)
    handled: list[str] = []
    while True:
        more = conn.process(0.0)
        out = conn.lines()
        # Lines handled in a pass stop once their cost reached BYTES_PER_PASS.
        assert len(out) > 0 and (len(out) - 1) * (size + LINE_COST) < BYTES_PER_PASS
        handled += out
        if not more:
            break
    assert [line[7:10] for line in handled] == [f"{i:03d}" for i in range(100)]


def make_rooms(hub: Hub, count: int) -> None:
    """`count` rooms with long names and topics, created by one unlimited client."""
    builder = login(hub, "builder", ip="10.9.9.9")
    topic = b"t" * hub.limits.max_topic
    for i in range(count):
        builder.run(b"/join #room%03d" % i + b"x" * 24 + b"\n/topic " + topic + b"\n")
    assert len(hub.rooms) == count + 1
    assert state(builder) is State.REGISTERED


def test_a_heavy_reply_charges_the_asker() -> None:
    hub = Hub(Limits(room_create_rate=0, max_rooms_per_client=200))
    make_rooms(hub, 100)
    asker = login(hub, "asker", Policy(msg_rate=1.0, msg_burst=5))  # 4 tokens left
    out = asker.run(b"/ping a\n/rooms\n/ping b\n")  # 3, 2, then the reply costs 8+
    assert out[0] == "* pong a"
    assert out[1] == "* 101 room(s), first 100:"
    listing = "\n".join(out[1:-1]).encode()
    assert len(listing) >= 8 * 4096
    assert out[-1] == "! rate-limited: more than 1 lines/s: slow down; lines are dropped"
    # The debt is paid back in time: 10 s later the bucket is full again.
    assert asker.run(b"/ping c\n", now=10.0) == ["* pong c"]


def test_a_light_reply_costs_one_line() -> None:
    hub = Hub(Limits(room_create_rate=0))
    asker = login(hub, "asker", Policy(msg_rate=1.0, msg_burst=5))
    out = asker.run(b"/ping a\n/rooms\n/ping b\n")
    assert out == ["* pong a", "* 1 room(s):", "*   #lobby (1)", "* pong b"]


# --- room creation budget --------------------------------------------------------------------


def test_room_creation_is_limited_per_client_and_per_address() -> None:
    clock = [100.0]
    hub = Hub(Limits(room_create_rate=1.0, room_create_burst=3), monotonic=lambda: clock[0])
    host = login(hub, "host", ip="10.0.0.9")  # creates #lobby: one of host's tokens
    host.run(b"/join #open1\n/join #open2\n")
    refused = ("! rate-limited: you are creating rooms too fast (one per 1s);"
               " join an existing one")  # fmt: skip

    alice = login(hub, "alice")
    out = alice.run(b"/join #a1\n/join #a2\n/join #a3\n/join #a4\n")
    assert [line for line in out if "joined" in line] == [
        f"* alice joined #a{i} (1 here)" for i in (1, 2, 3)
    ]
    assert out[-1] == refused and "#a4" not in hub.rooms
    # Joining existing rooms is not limited.
    out = alice.run(b"/join #open1\n/join #open2\n/join #lobby\n")
    assert "* alice joined #open1 (2 here)" in out and "* alice joined #open2 (2 here)" in out
    assert not any(line.startswith("!") for line in out)

    # The address has 4x the budget: three more clients from it create three rooms each ...
    for n in range(3):
        other = login(hub, f"same{n}")
        out = other.run(b"".join(b"/join #s%d_%d\n" % (n, i) for i in range(3)))
        assert not any(line.startswith("!") for line in out), out
    # ... and then the address's budget is spent, though this client never created a room.
    late = login(hub, "late")
    assert late.run(b"/join #late\n") == [refused]
    elsewhere = login(hub, "elsewhere", ip="10.0.0.2")
    assert elsewhere.run(b"/join #fresh\n")[0] == "* elsewhere joined #fresh (1 here)"
    clock[0] += 1.0  # budgets refill with time
    late.take()
    assert late.run(b"/join #late\n")[0] == "* late joined #late (1 here)"
    assert hub.stats.errors["rate-limited"] == 2


# --- the boundary ----------------------------------------------------------------------------


def test_a_bug_in_a_handler_ends_only_that_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    hub = Hub()
    alice = login(hub, "alice")
    bob = login_json(hub, "bob")
    carol = login(hub, "carol")
    for conn in (alice, bob, carol):
        conn.take()

    def boom(session: Session, command: c.Topic) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setitem(hub._handlers, c.Topic, boom)
    out = alice.run(b"/topic hello\n/ping after\n")
    assert out == ["! internal-error: the server failed; disconnecting"]
    assert state(alice) is State.CLOSING and alice.reason == "internal-error"
    assert alice.graces == [CLOSE_GRACE]
    assert hub.stats.errors["internal-error"] == 1
    assert bob.take() == b"" and carol.take() == b""
    # The others carry on chatting in the same hub.
    events = bob.events(b'{"type":"say","text":"still here"}\n{"type":"ping","token":"t"}\n')
    assert [ev["type"] for ev in events] == ["message", "pong"]
    assert carol.lines() == ["[#lobby] <bob> still here"]
    assert carol.run(b"hi bob\n") == []
    assert [ev["text"] for ev in bob.events()] == ["hi bob"]
    assert alice.take() == b""  # sealed
    # The transport takes it out of the hub later; the others are told.
    hub.disconnect(alice, alice.reason)
    assert carol.lines() == ["* alice quit (internal-error)"]
    assert hub.stats.errors["internal-error"] == 1


def test_a_bug_while_decoding_is_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    hub = Hub()
    conn = login(hub, "alice")

    def broken(line: bytes) -> c.Command | None:
        raise KeyError(line)

    monkeypatch.setattr(conn, "_decode", broken)
    assert conn.run(b"anything\n") == ["! internal-error: the server failed; disconnecting"]
    assert conn.reason == "internal-error" and hub.stats.errors["internal-error"] == 1


# --- cluster reservation ---------------------------------------------------------------------


class Clustered(InProcess):
    """A broker that makes the connection reserve nicks (answered by the test), and records
    the nicks it is told to let go of."""

    clustered = True

    def __init__(self) -> None:
        super().__init__()
        self.released: list[str] = []

    def release(self, folded: str) -> None:
        self.released.append(folded)


def test_a_hello_waits_for_its_nick_to_be_reserved() -> None:
    hub = Hub(broker=Clustered())
    conn = connect(hub)
    conn.receive_data(b'{"type":"hello","nick":"bob","version":1}\n{"type":"ping"}\n', 0.0)
    assert conn.process(0.0) is False  # waiting: the transport reserves, reading paused
    assert conn.reserving == (c.Hello("bob", 1), "bob")
    assert state(conn) is State.HELLO and conn.pending
    assert conn.process(0.0) is False and conn.take() == b""  # still waiting
    conn.reserved(None, 0.0)
    assert conn.reserving is None and state(conn) is State.REGISTERED
    assert [ev["type"] for ev in conn.events()] == ["welcome", "join", "who"]
    assert conn.process(0.0) is False
    assert conn.events() == [{"type": "pong", "token": ""}]


def test_a_nick_taken_elsewhere_is_refused() -> None:
    hub = Hub(broker=Clustered())
    conn = connect(hub)
    conn.receive_data(b"carol\n", 0.0)
    assert conn.process(0.0) is False and conn.reserving == (c.Say("carol"), "carol")
    conn.reserved("nick-taken", 0.0)
    assert state(conn) is State.HELLO and conn.reserving is None
    assert conn.lines() == ['! nick-taken: nick "carol" is taken on another node; pick another']
    assert hub.stats.errors["nick-taken"] == 1
    conn.receive_data(b"dave\n", 0.0)
    assert conn.process(0.0) is False
    conn.reserved("unreachable", 0.0)
    assert conn.lines() == [
        "! cluster-down: can't claim a nick: the cluster link is down; try again in a few seconds"
    ]
    conn.reserved(None, 0.0)  # nothing was waiting: ignored
    assert state(conn) is State.HELLO and conn.take() == b""


def test_a_locally_taken_nick_is_refused_without_reserving() -> None:
    hub = Hub(broker=Clustered())
    first = connect(hub)
    first.run(b"erin\n")
    first.reserved(None, 0.0)
    assert state(first) is State.REGISTERED
    second = connect(hub)
    assert second.run(b"erin\n") == ['! nick-taken: nick "erin" is taken; pick another']
    assert second.reserving is None


def test_a_nick_reserved_for_a_client_that_closed_meanwhile_is_released() -> None:
    broker = Clustered()
    hub = Hub(broker=broker)
    conn = connect(hub, Policy(msg_rate=0, idle_timeout=1.0))
    conn.run(b"frank\n")
    assert conn.reserving is not None
    conn.idle_check(5.0)  # cut while the cluster is reserving its nick
    assert conn.reason == "idle"
    conn.take()
    hub.disconnect(conn, conn.reason)  # the transport forgets it ...
    conn.reserved(None, 5.0)  # ... and then the cluster says "frank" is ours
    assert state(conn) is State.CLOSING and conn.nick is None and not hub.nicks
    assert conn.take() == b""
    # Nobody here holds "frank": the reservation must be let go, or the nick is squatted
    # cluster-wide (other nodes are told this node holds it) for as long as this node lives.
    assert broker.released == ["frank"]


def test_a_hello_after_registering_reserves_no_nick() -> None:
    broker = Clustered()
    hub = Hub(broker=broker)
    conn = connect(hub)
    conn.run(b'{"type":"hello","nick":"bob","version":1}\n')
    conn.reserved(None, 0.0)
    assert state(conn) is State.REGISTERED and conn.nick == "bob"
    conn.take()
    conn.receive_data(b'{"type":"hello","nick":"zed","version":1}\n', 0.0)
    conn.process(0.0)
    reserved = conn.reserving is not None
    if reserved:  # the cluster grants it: "zed" is now this node's
        conn.reserved(None, 0.0)
    assert conn.events() == [
        {"type": "error", "code": "bad-command", "message": "already registered"}
    ]
    assert conn.nick == "bob" and "zed" not in hub.nicks
    # A hello that cannot give its nick must not leave that nick reserved cluster-wide (a
    # registered JSON client could squat any number of nicks, one hello each).
    assert not reserved or broker.released == ["zed"], "zed stays reserved, held by nobody"


def test_an_irc_reply_is_weighed_like_any_other() -> None:
    """IRC's numerics (LIST here) are pushed by the IRC state, not `send`: they are weighed
    all the same, so a big listing costs its asker extra tokens."""
    from chat.core import ircstate

    hub = Hub(Limits(room_create_rate=0, max_rooms_per_client=200))
    maker = Connection(hub, Policy(msg_rate=0), 1, "peer", "10.0.0.2")
    maker.start(0.0)
    maker.receive_data(b"maker\n", 0.0)
    maker.process(0.0)
    for i in range(100):
        hub.handle(maker, c.Join(f"#room{i:03d}"))
        hub.rooms[f"#room{i:03d}"].topic = "t" * 300
    conn = Connection(hub, Policy(msg_rate=1.0, msg_burst=40), 2, "peer", "10.0.0.3")
    ircstate.attach(conn, ircstate.server_info(hub.limits, "test", 0.0))
    conn.start(0.0)
    conn.receive_data(b"NICK lister\r\nUSER lister 0 * :l\r\n", 0.0)
    while conn.process(0.0):
        pass
    assert conn.nick == "lister" and conn.bucket is not None
    conn.take()
    conn.receive_data(b"LIST\r\n", 0.0)
    conn.process(0.0)
    listing = conn.take()
    assert listing.count(b" 322 ") >= 100 and len(listing) > 30_000
    # 40 tokens, minus the 2 registration lines and LIST itself, minus its weight (> 7 tokens)
    assert conn.bucket.take(0.0).name == "OK"
    assert conn.bucket._tokens < 40 - 3 - 7
