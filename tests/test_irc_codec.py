"""The IRC dialect without sockets: parsing, formatting, and fan-out encoded once per
capability set (the same bytes object in every member's outbox)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat.core import ircstate
from chat.core.connection import Connection, Policy
from chat.core.hub import Hub
from chat.protocol import events as e
from chat.protocol.irc import (
    MAX_LINE,
    codec_for,
    line,
    parse,
    privmsgs,
    split_action,
    strip_formatting,
)

INFO = ircstate.server_info(Hub().limits, "test", 0.0)


def test_parse() -> None:
    msg = parse(r"@a=b\sc\:d;e;+f=x\\y :n!u@h PRIVMSG #room :hello :there")
    assert msg is not None
    assert msg.tags == {"a": "b c;d", "e": "", "+f": "x\\y"}
    assert (msg.source, msg.command, msg.params) == ("n!u@h", "PRIVMSG", ["#room", "hello :there"])
    empty = parse("topic #room :")
    assert empty is not None and (empty.command, empty.params) == ("TOPIC", ["#room", ""])
    spaced = parse("  USER  u 0 *   :real name ")
    assert spaced is not None and spaced.params == ["u", "0", "*", "real name "]
    assert parse("") is None
    assert parse("   ") is None
    assert parse(":only.a.source") is None
    assert parse(":trailing") is None


def test_line_trailing_only_when_needed() -> None:
    assert line("PING", "x", source="") == "PING x\r\n"
    assert line("PRIVMSG", "#a", "two words", source="n") == ":n PRIVMSG #a :two words\r\n"
    assert line("TOPIC", "#a", "", source="n") == ":n TOPIC #a :\r\n"
    assert line("X", ":colon") == ":chat.server X ::colon\r\n"


def test_formatting_and_ctcp() -> None:
    codes = "\x02b\x02 \x0304,12red\x03 \x1di\x1d \x0f\x04ff0000hex"
    assert strip_formatting(codes) == "b red i hex"
    assert strip_formatting("\x0399 go, \x03,5 stays") == " go, ,5 stays"
    assert split_action("\x01ACTION waves\x01") == ("waves", True)
    assert split_action("\x01ACTION waves") == ("waves", True)  # unterminated: lenient
    assert split_action("plain") == ("plain", False)
    assert split_action("\x01VERSION\x01") is None


@pytest.mark.parametrize("text", ["a" * 2000, "é" * 700, "日本語" * 300, "x"])
def test_long_privmsgs_split_on_characters(text: str) -> None:
    out = privmsgs("sender", "#room", text, action=True, tags="time=t")
    lines = out.split("\r\n")[:-1]
    pieces = []
    for raw in lines:
        tags, _, rest = raw.partition(" ")
        assert tags == "@time=t"
        assert len(rest.encode()) + 2 <= MAX_LINE
        body = rest.split(" :", 1)[1]
        assert body.startswith("\x01ACTION ") and body.endswith("\x01")
        pieces.append(body[8:-1])
    assert "".join(pieces) == text


class Conn(Connection):
    def wake(self) -> None:
        pass


def irc(hub: Hub, conn_id: int, nick: str, caps: str = "") -> Conn:
    conn = Conn(hub, Policy(msg_rate=0), conn_id, "peer", "10.0.0.1")
    ircstate.attach(conn, INFO)
    conn.start(0.0)
    req = f"CAP REQ :{caps}\r\nCAP END\r\n" if caps else ""
    run(conn, f"{req}NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n")
    assert conn.nick == nick
    conn.take()
    return conn


def run(conn: Conn, text: str) -> str:
    conn.receive_data(text.encode(), 0.0)
    while conn.process(0.0):
        pass
    return conn.take().decode() if len(conn) else ""


def test_a_room_message_is_encoded_once_per_capability_set() -> None:
    hub = Hub()
    plain = [irc(hub, i, f"p{i}") for i in range(1, 4)]
    timed = [irc(hub, i, f"t{i}", "server-time") for i in range(4, 6)]
    sender = irc(hub, 9, "sender")
    run(sender, "PRIVMSG #lobby :hello\r\n")
    first = plain[0]._chunks[-1]
    assert first == b":sender!sender@chat PRIVMSG #lobby :hello\r\n"
    assert all(c._chunks[-1] is first for c in plain)  # the same object: encoded once
    stamped = timed[0]._chunks[-1]
    assert stamped.startswith(b"@time=") and stamped.endswith(first)
    assert all(c._chunks[-1] is stamped for c in timed)
    assert not len(sender)  # no echo-message: nothing back
    room = hub.rooms["#lobby"]
    assert set(room.groups) == {codec_for(False, False), codec_for(True, False)}


def test_msgid_is_shared_by_everyone_with_message_tags() -> None:
    hub = Hub()
    tagged = [irc(hub, i, f"m{i}", "message-tags server-time") for i in range(1, 4)]
    sender = irc(hub, 9, "sender", "message-tags echo-message")
    echoed = run(sender, "PRIVMSG #lobby :hello\r\n")
    epoch, offset = hub.history.position("#lobby") if hub.history else ("", 0)
    shared = tagged[0]._chunks[-1]
    assert shared.endswith(
        f";msgid={epoch}-{offset} :sender!sender@chat PRIVMSG #lobby :hello\r\n".encode()
    )
    assert all(c._chunks[-1] is shared for c in tagged)  # encoded once for the three
    assert echoed == f"@msgid={epoch}-1 :sender!sender@chat PRIVMSG #lobby :hello\r\n"
    assert codec_for(True, False, True) is codec_for(True, False, True)
    assert codec_for(False, False) is codec_for(False, False, False)  # one codec per set


def test_cap_change_after_registration_regroups_in_rooms() -> None:
    hub = Hub()
    conn = irc(hub, 1, "alice")
    room = hub.rooms["#lobby"]
    assert conn in room.groups[codec_for(False, False)]
    assert run(conn, "CAP REQ :echo-message\r\n") == ":chat.server CAP alice ACK echo-message\r\n"
    assert conn.codec is codec_for(False, True)
    assert room.members() == [conn]
    assert conn in room and codec_for(False, False) not in room.groups
    assert run(conn, "PRIVMSG #lobby :me too\r\n").endswith("PRIVMSG #lobby :me too\r\n")
    hub.disconnect(conn, "quit")  # leaves from the right group
    assert "#lobby" not in hub.rooms


def test_replies_carry_the_recipients_nick() -> None:
    hub = Hub()
    conn = irc(hub, 1, "alice")
    assert conn.dialect is not None
    assert conn.dialect.reply(e.Pong("t")) == b":chat.server PONG chat.server t\r\n"
    assert conn.dialect.reply(e.Notice("hi")) == b":chat.server NOTICE alice hi\r\n"
    assert conn.dialect.reply(e.Notice("x", "idle-warning")) == b"PING chat.server\r\n"
    assert conn.dialect.reply(e.Bye("quit")) == b"ERROR :Closing link: quit\r\n"
    members = conn.dialect.reply(e.Members("#r", ("a", "b"), 5)).decode()
    assert members.endswith("366 alice #r :End of /NAMES list (2 of 5 shown)\r\n")


def test_names_split_into_lines_of_512_bytes() -> None:
    hub = Hub()
    conn = irc(hub, 1, "alice")
    assert conn.dialect is not None
    nicks = tuple(f"member{i:04d}x{'y' * 12}" for i in range(100))
    out = conn.dialect.reply(e.Members("#big", nicks, 100)).decode().split("\r\n")[:-1]
    rows = [row for row in out if " 353 " in row]
    assert len(rows) > 1 and all(len(row) + 2 <= MAX_LINE for row in rows)
    assert [n for row in rows for n in row.split(" :", 1)[1].split()] == list(nicks)


COMMANDS = [
    "PRIVMSG",
    "NOTICE",
    "JOIN",
    "PART",
    "TOPIC",
    "NAMES",
    "WHO",
    "WHOIS",
    "MODE",
    "NICK",
    "USER",
    "CAP",
    "AWAY",
    "LIST",
    "PING",
    "ISON",
    "USERHOST",
    "TAGMSG",
    "QUIT",
    "CHATHISTORY",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=80),
            st.builds(
                lambda cmd, params: f"{cmd} {params}".encode(errors="surrogatepass"),
                st.sampled_from(COMMANDS),
                st.text(max_size=60),
            ),
        ),
        max_size=12,
    )
)
def test_hostile_lines_never_reach_the_internal_error_boundary(lines: list[bytes]) -> None:
    hub = Hub()
    other = irc(hub, 1, "other", "server-time echo-message")
    conn = Conn(hub, Policy(msg_rate=0), 2, "peer", "10.0.0.2")
    ircstate.attach(conn, INFO)
    conn.start(0.0)
    for data in [b"NICK fuzz\r\nUSER f 0 * :f", *lines]:
        conn.receive_data(data.replace(b"\n", b" ").replace(b"\r", b" ") + b"\r\n", 0.0)
        while conn.process(0.0):
            pass
    assert hub.stats.errors["internal-error"] == 0
    for session in (conn, other):  # whatever was queued is whole lines
        out = session.take() if len(session) else b""
        assert out == b"" or out.endswith(b"\r\n")
