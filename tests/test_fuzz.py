"""Property-based fuzzing of both codecs and the line splitter (hypothesis)."""

import contextlib
import dataclasses
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from chat.protocol import commands as c
from chat.protocol import events as e
from chat.protocol.errors import ProtocolError
from chat.protocol.jsonl import JSON, _dumps, _message
from chat.protocol.lines import TOO_LONG, LineSplitter
from chat.protocol.sanitize import _CONTROLS, _SEQUENCES, clean, has_controls
from chat.protocol.text import TEXT

FUZZ = settings(max_examples=400, deadline=None)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=10,
)
COMMAND_TYPES = ["hello", "say", "me", "msg", "nick", "join", "part", "topic", "rooms", "who",
                 "quit", "help", "ping", "dance"]  # fmt: skip


def text_fields(cmd: c.Command | None) -> list[str]:
    values = [getattr(cmd, field.name) for field in dataclasses.fields(cmd)] if cmd else []
    return [v for v in values if isinstance(v, str)]


@FUZZ
@given(st.binary(max_size=300))
def test_any_bytes_into_either_codec_raise_only_protocol_errors(data: bytes) -> None:
    for codec in (TEXT, JSON):
        with contextlib.suppress(ProtocolError):
            codec.decode(data)


@FUZZ
@given(
    st.fixed_dictionaries(
        {"type": st.sampled_from(COMMAND_TYPES)},
        optional={
            k: json_values
            for k in ("nick", "text", "room", "to", "topic", "reason", "version", "token")
        },
    )
)
def test_json_objects_of_any_shape_raise_only_protocol_errors(obj: dict[str, object]) -> None:
    try:
        cmd = JSON.decode(json.dumps(obj).encode())
    except ProtocolError:
        return
    assert all(not has_controls(v) for v in text_fields(cmd))


@FUZZ
@given(st.text(max_size=200))
def test_the_text_decoder_never_yields_a_control_character(line: str) -> None:
    try:
        cmd = TEXT.decode(line.encode("utf-8", "surrogatepass"))
    except ProtocolError:
        return
    for value in text_fields(cmd):
        assert not has_controls(value), repr(value)
        assert "\x1b" not in value


@FUZZ
@given(
    st.text(),
    st.text(max_size=24),
    st.text(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
)
def test_json_events_round_trip(room: str, nick: str, text: str, ts: float, action: bool) -> None:
    for event in (
        e.Message(room, nick, text, ts, action),
        e.Private(nick, room, text, ts, action),
        e.TopicIs(room, text, nick or None),
        e.Error(nick, text),
    ):
        line = JSON.encode(event)
        assert line.count(b"\n") == 1 and line.endswith(b"\n")
        obj = json.loads(line)
        fields = {k: v for k, v in obj.items() if k != "type"}
        expected = {s: getattr(event, s) for s in event.__slots__}
        if isinstance(event, e.Message):  # history fields are sent only when they say something
            for name in ("offset", "epoch", "replay"):
                if not expected[name]:
                    del expected[name]
        if isinstance(event, e.Private):
            expected["from"] = expected.pop("sender")
        assert fields == expected


@FUZZ
@given(st.lists(st.binary(max_size=50), max_size=30), st.integers(min_value=1, max_value=40))
def test_line_splitter_never_buffers_past_its_limit(chunks: list[bytes], limit: int) -> None:
    splitter = LineSplitter(limit)
    for chunk in chunks:
        for line in splitter.feed(chunk):
            assert line is TOO_LONG or (isinstance(line, bytes) and len(line) <= limit)
        assert splitter.buffered <= limit + 1


@FUZZ
@given(st.lists(st.binary(max_size=20).filter(lambda b: b"\n" not in b), max_size=20), st.data())
def test_line_splitter_output_does_not_depend_on_how_bytes_are_chunked(
    lines: list[bytes], data: st.DataObject
) -> None:
    stream = b"".join(line + b"\n" for line in lines)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    pieces = [stream[i:j] for i, j in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    whole = LineSplitter(1000).feed(stream)
    splitter = LineSplitter(1000)
    chunked = [line for piece in pieces for line in splitter.feed(piece)]
    # LF, CR LF and a lone CR each end a line
    expected = stream.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")[:-1]
    assert chunked == whole == expected


@FUZZ
@given(
    st.text(),
    st.text(),
    st.text(),
    st.floats(allow_nan=True, allow_infinity=True) | st.integers(0, 2**53),
    st.booleans(),
    st.integers(0, 2**40),
    st.text(max_size=20),
    st.booleans(),
)
def test_a_json_message_line_is_exactly_the_generic_encoders(
    room: str, nick: str, text: str, ts: float, action: bool, offset: int, epoch: str, replay: bool
) -> None:
    message = e.Message(room, nick, text, ts, action, offset, epoch, replay)
    assert JSON.encode(message) == (_dumps(_message(message)) + "\n").encode()


@FUZZ
@given(st.text(alphabet=st.characters(max_codepoint=0x2070)) | st.text())
def test_clean_is_the_two_regexes_whatever_its_shortcut(text: str) -> None:
    expected = _CONTROLS.sub("", _SEQUENCES.sub("", text) if "\x1b" in text else text)
    assert clean(text) == expected
