"""What typed lines become (client/commands.py): nothing is sent as chat by mistake."""

from __future__ import annotations

from client.commands import Parsed, is_private, parse


def test_text_goes_to_the_room_on_screen() -> None:
    assert parse("hi", "#py") == Parsed({"type": "say", "room": "#py", "text": "hi"})
    assert parse("//slash", "#py").command == {"type": "say", "room": "#py", "text": "/slash"}
    assert parse("hi", None).error and parse("hi", None).command is None
    assert parse("   ", "#py") == Parsed()


def test_commands_that_default_to_the_current_room_name_it() -> None:
    assert parse("/part", "#py").command == {"type": "part", "room": "#py"}
    assert parse("/part bye all", "#py").command == {
        "type": "part",
        "room": "#py",
        "reason": "bye all",
    }
    assert parse("/part #x later", "#py").command == {
        "type": "part",
        "room": "#x",
        "reason": "later",
    }
    assert parse("/who", "#py").command == {"type": "who", "room": "#py"}
    assert parse("/names #x", "#py").command == {"type": "who", "room": "#x"}
    assert parse("/topic", "#py").command == {"type": "topic", "room": "#py"}
    assert parse("/topic new one", "#py").command == {
        "type": "topic",
        "room": "#py",
        "topic": "new one",
    }


def test_client_commands_and_refusals() -> None:
    assert parse("/window 2", "#py").window == 2
    assert parse("/win 0", "#py").error and parse("/window x", "#py").error
    assert parse("/quit gone", "#py") == Parsed({"type": "quit", "reason": "gone"}, quit=True)
    assert parse("/HELP", None).help
    unknown = parse("/frobnicate now", "#py")
    assert (
        unknown.command is None and unknown.error == "unknown command /frobnicate; /help lists them"
    )
    assert parse("/msg al", "#py").error and parse("/me", "#py").error
    assert parse("/j #x", None).command == {"type": "join", "room": "#x"}
    assert parse("/query al hi", None).command == {"type": "msg", "to": "al", "text": "hi"}


def test_private_lines_are_recognised_for_the_history() -> None:
    assert is_private("/msg al secret") and is_private("  /QUERY al x")
    assert not is_private("/me waves") and not is_private("message")


def test_moderation_commands_name_the_room_on_screen() -> None:
    assert parse("/op bob", "#py").command == {"type": "op", "room": "#py", "nick": "bob"}
    assert parse("/ban #x *!*@10.*", "#py").command == {
        "type": "ban", "room": "#x", "mask": "*!*@10.*",
    }  # fmt: skip
    assert parse("/kick bob go away", "#py").command == {
        "type": "kick", "room": "#py", "nick": "bob", "reason": "go away",
    }  # fmt: skip
    assert parse("/mute bob 60", "#py").command == {
        "type": "mute", "room": "#py", "nick": "bob", "seconds": 60,
    }  # fmt: skip
    assert parse("/unmute bob", "#py").command == {
        "type": "mute", "room": "#py", "nick": "bob", "seconds": 0,
    }  # fmt: skip
    assert parse("/mode +lk 5 key", "#py").command == {
        "type": "mode", "room": "#py", "modes": "+lk", "args": ["5", "key"],
    }  # fmt: skip
    assert parse("/invite bob #x", "#py").command == {"type": "invite", "room": "#x", "nick": "bob"}
    assert parse("/join #x sesame", None).command == {"type": "join", "room": "#x", "key": "sesame"}
    assert parse("/oper root pw", None).command == {
        "type": "oper",
        "name": "root",
        "password": "pw",
    }
    assert parse("/mute bob", "#py").error and parse("/kick", "#py").error
    assert parse("/sban 10.0.0.0/8 3600 abuse", None).command == {
        "type": "sban", "mask": "10.0.0.0/8", "seconds": 3600, "reason": "abuse",
    }  # fmt: skip
