import json

import pytest

from chat.protocol import commands as c
from chat.protocol import events as e
from chat.protocol.errors import ProtocolError
from chat.protocol.jsonl import JSON
from chat.protocol.sanitize import clean
from chat.protocol.text import TEXT


@pytest.mark.parametrize(
    ("line", "command"),
    [
        (b"hello there", c.Say("hello there")),
        (b"  spaced  ", c.Say("spaced")),
        (b"//not a command", c.Say("/not a command")),
        (b"/help", c.Help()),
        (b"/NICK bob", c.Nick("bob")),
        (b"/join #py", c.Join("#py")),
        (b"/j py", c.Join("py")),
        (b"/part", c.Part(None, "")),
        (b"/part #py gone fishing", c.Part("#py", "gone fishing")),
        (b"/part bye all", c.Part(None, "bye all")),
        (b"/rooms", c.Rooms()),
        (b"/list", c.Rooms()),
        (b"/who", c.Who(None)),
        (b"/who #py", c.Who("#py")),
        (b"/msg bob hi there", c.Msg("bob", "hi there")),
        (b"/me waves", c.Me("waves")),
        (b"/topic", c.Topic(None, None)),
        (b"/topic #py", c.Topic("#py", None)),
        (b"/topic #py snakes", c.Topic("#py", "snakes")),
        (b"/topic all welcome", c.Topic(None, "all welcome")),
        (b"/quit", c.Quit("")),
        (b"/quit see you", c.Quit("see you")),
        (b"/ping 42", c.Ping("42")),
    ],
)
def test_text_decode(line: bytes, command: c.Command) -> None:
    assert TEXT.decode(line) == command


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b"/frobnicate", "unknown-command"),
        (b"/msg bob", "bad-command"),
        (b"/nick", "bad-command"),
        (b"/me", "bad-command"),
        (b"\xff\xfe", "bad-utf8"),
    ],
)
def test_text_decode_errors(line: bytes, code: str) -> None:
    with pytest.raises(ProtocolError) as err:
        TEXT.decode(line)
    assert err.value.code == code


def test_blank_lines_decode_to_nothing() -> None:
    assert TEXT.decode(b"   ") is None
    assert JSON.decode(b"") is None


def test_text_strips_escape_sequences_and_controls() -> None:
    cmd = TEXT.decode(b"hi \x1b[31mred\x1b[0m \x07bell\x1b]0;title\x07 \xe2\x80\xaeevil\tok")
    assert cmd == c.Say("hi red bell evil\tok")


def test_clean_removes_c1_and_bidi() -> None:
    assert clean("a\x9bb\u2066c\u202ed\x00e\x7f") == "abcde"


@pytest.mark.parametrize(
    ("obj", "command"),
    [
        ({"type": "hello", "version": 1, "nick": "bob"}, c.Hello("bob", 1)),
        ({"type": "say", "text": "hi"}, c.Say("hi", None)),
        ({"type": "say", "text": "hi", "room": "#py"}, c.Say("hi", "#py")),
        ({"type": "me", "text": "waves"}, c.Me("waves", None)),
        ({"type": "msg", "to": "al", "text": "psst"}, c.Msg("al", "psst")),
        ({"type": "nick", "nick": "al"}, c.Nick("al")),
        ({"type": "join", "room": "#py"}, c.Join("#py")),
        ({"type": "part"}, c.Part(None, "")),
        ({"type": "part", "room": "#py", "reason": "bye"}, c.Part("#py", "bye")),
        ({"type": "topic", "room": "#py", "topic": "x"}, c.Topic("#py", "x")),
        ({"type": "rooms"}, c.Rooms()),
        ({"type": "who", "room": "#py"}, c.Who("#py")),
        ({"type": "quit", "reason": "bye"}, c.Quit("bye")),
        ({"type": "help"}, c.Help()),
        ({"type": "ping", "token": "t1"}, c.Ping("t1")),
        ({"type": "say", "text": "\x1b[2Jwipe", "extra": 1}, c.Say("wipe", None)),
    ],
)
def test_json_decode(obj: dict[str, object], command: c.Command) -> None:
    assert JSON.decode(json.dumps(obj).encode()) == command


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b"{not json", "bad-json"),
        (b"[1, 2]", "bad-json"),
        (b'{"no": "type"}', "bad-json"),
        (b'{"type": "dance"}', "unknown-command"),
        (b'{"type": "say"}', "bad-command"),
        (b'{"type": "say", "text": 5}', "bad-command"),
        (b'{"type": "hello", "nick": "bob", "version": 2}', "bad-version"),
        (b'{"type": "say", "text": "\xff"}', "bad-utf8"),
    ],
)
def test_json_decode_errors(line: bytes, code: str) -> None:
    with pytest.raises(ProtocolError) as err:
        JSON.decode(line)
    assert err.value.code == code


EVENTS: list[e.Event] = [
    e.Welcome("bob", 1, "hi"),
    e.Message("#a", "bob", "hi", 1.5),
    e.Message("#a", "bob", "waves", 1.5, action=True),
    e.Private("al", "bob", "psst", 2.0),
    e.Joined("#a", "bob", 3),
    e.Parted("#a", "bob", "bye", 2),
    e.NickChanged("bob", "rob"),
    e.Quitted("bob", "gone"),
    e.TopicIs("#a", "t", "bob"),
    e.TopicIs("#a", "", None),
    e.RoomList((e.RoomInfo("#a", 3, "t"),), 5),
    e.Members("#a", ("al", "bob"), 3),
    e.HelpText(("x", "y")),
    e.Error("bad-nick", "no"),
    e.Notice("hello", "greeting"),
    e.Pong("1"),
    e.Bye("quit"),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda ev: type(ev).__name__)
def test_every_event_encodes_in_both_dialects(event: e.Event) -> None:
    text = TEXT.encode(event)
    assert text.endswith(b"\n") and text.strip()
    line = JSON.encode(event)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    obj = json.loads(line)
    assert isinstance(obj["type"], str)


def test_text_formats() -> None:
    assert TEXT.encode(e.Message("#a", "bob", "hi", 0)) == b"[#a] <bob> hi\n"
    assert TEXT.encode(e.Message("#a", "bob", "waves", 0, True)) == b"[#a] * bob waves\n"
    assert TEXT.encode(e.Private("al", "bob", "psst", 0)) == b"[pm] <al> psst\n"
    assert TEXT.encode(e.Error("nick-taken", "x")) == b"! nick-taken: x\n"
    assert TEXT.encode(e.Members("#a", ("al",), 3)) == b"* #a (3): al and 2 more\n"


def test_json_message_fields() -> None:
    obj = json.loads(JSON.encode(e.Private("al", "bob", "psst", 2.0)))
    assert obj == {
        "type": "private",
        "from": "al",
        "to": "bob",
        "text": "psst",
        "ts": 2.0,
        "action": False,
    }
