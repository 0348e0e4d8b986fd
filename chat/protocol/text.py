"""The text dialect: what a human sees and types on netcat.

Input: a plain line is a message to the current room; a line starting with ``/`` is a command
(``//`` sends a literal ``/``). Output: one readable line per event, ``! code: message`` for errors
and ``* ...`` for notices. See docs/protocol.md for the full grammar.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from chat.protocol import commands as c
from chat.protocol import events as e
from chat.protocol.errors import BAD_COMMAND, BAD_UTF8, UNKNOWN_COMMAND, ProtocolError
from chat.protocol.sanitize import clean

HISTORY_PAGE = 100
"""Most lines one `/history` shows (the JSON `history` command has the same bound)."""

USAGE: dict[str, str] = {
    "help": "/help                      this list",
    "nick": "/nick <name>               change your nick",
    "join": "/join <#room>              join a room (created if new) and make it current",
    "part": "/part [#room] [reason]     leave a room (the current one by default)",
    "rooms": "/rooms                     list rooms",
    "who": "/who [#room]               list the members of a room",
    "msg": "/msg <nick> <text>         private message",
    "me": "/me <action>               an action in the current room",
    "topic": "/topic [#room] [text]      show or set a room's topic",
    "history": "/history [#room] [n]       the last n (10, at most 100) lines of a room",
    "quit": "/quit [reason]             leave the server",
}
ALIASES = {"list": "rooms", "names": "who", "j": "join", "leave": "part", "query": "msg"}


def _decode_utf8(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(BAD_UTF8, "line is not valid UTF-8; it was dropped") from None


def _need(arg: str, name: str) -> str:
    if not arg:
        raise ProtocolError(BAD_COMMAND, "usage: " + USAGE[name].split("  ")[0])
    return arg


def _parse_command(text: str) -> c.Command:
    word, _, rest = text[1:].partition(" ")
    name = ALIASES.get(word.lower(), word.lower())
    rest = rest.strip()
    if name == "help":
        return c.Help()
    if name == "nick":
        return c.Nick(_need(rest, name))
    if name == "join":
        return c.Join(_need(rest.split(" ", 1)[0], name))
    if name == "part":
        if rest.startswith("#"):
            room, _, reason = rest.partition(" ")
            return c.Part(room, reason.strip())
        return c.Part(None, rest)
    if name == "rooms":
        return c.Rooms()
    if name == "who":
        return c.Who(rest.split(" ", 1)[0] or None)
    if name == "msg":
        to, _, body = rest.partition(" ")
        return c.Msg(_need(to, name), _need(body.strip(), name))
    if name == "me":
        return c.Me(_need(rest, name))
    if name == "topic":
        if rest.startswith("#"):
            room, _, topic = rest.partition(" ")
            return c.Topic(room, topic.strip() or None)
        return c.Topic(None, rest or None)
    if name == "quit":
        return c.Quit(rest)
    if name == "ping":
        return c.Ping(rest)
    if name == "history":
        return _history(rest)
    raise ProtocolError(UNKNOWN_COMMAND, f"unknown command /{word[:32]}; type /help")


def _rooms(ev: e.RoomList) -> str:
    lines = [
        f"* {ev.total} room(s)" + (f", first {len(ev.rooms)}:" if ev.total > len(ev.rooms) else ":")
    ]
    for r in ev.rooms:
        topic = f"  {r.topic}" if r.topic else ""
        lines.append(f"*   {r.name} ({r.members}){topic}")
    return "\n".join(lines)


def _members(ev: e.Members) -> str:
    more = f" and {ev.total - len(ev.nicks)} more" if ev.total > len(ev.nicks) else ""
    return f"* {ev.room} ({ev.total}): {', '.join(ev.nicks)}{more}"


def _topic(ev: e.TopicIs) -> str:
    if ev.by is not None:
        return f"* {ev.by} set the topic of {ev.room}: {ev.topic}"
    return f"* topic of {ev.room}: {ev.topic}" if ev.topic else f"* {ev.room} has no topic"


def _history(rest: str) -> c.Command:
    room, count = None, 10
    for word in rest.split():
        if word.isdigit():
            count = int(word)
        elif room is None:
            room = word
        else:
            raise ProtocolError(BAD_COMMAND, "usage: /history [#room] [n]")
    if not 1 <= count <= HISTORY_PAGE:
        raise ProtocolError(BAD_COMMAND, f"/history shows 1-{HISTORY_PAGE} lines")
    return c.History(room, None, None, count)


def _message(ev: e.Message) -> str:
    when = f"[{time.strftime('%H:%M', time.gmtime(ev.ts))}] " if ev.replay else ""
    if ev.action:
        return f"[{ev.room}] {when}* {ev.nick} {ev.text}"
    return f"[{ev.room}] {when}<{ev.nick}> {ev.text}"


def _page(ev: e.HistoryPage) -> str:
    if not ev.messages:
        return f"* no history in {ev.room}"
    lines = [f"* the last {len(ev.messages)} line(s) of {ev.room} (times UTC):"]
    return "\n".join([*lines, *(_message(m) for m in ev.messages)])


def _private(ev: e.Private) -> str:
    if ev.action:
        return f"[pm] * {ev.sender} {ev.text}"
    return f"[pm] <{ev.sender}> {ev.text}"


def _joined(ev: e.Joined) -> str:
    return f"* {ev.nick} joined {ev.room} ({ev.members} here)"


def _parted(ev: e.Parted) -> str:
    reason = f" ({ev.reason})" if ev.reason else ""
    return f"* {ev.nick} left {ev.room}{reason}"


def _quitted(ev: e.Quitted) -> str:
    reason = f" ({ev.reason})" if ev.reason else ""
    return f"* {ev.nick} quit{reason}"


def _welcome(ev: e.Welcome) -> str:
    return f"* welcome, {ev.nick}! {ev.motd}"


_FORMAT: dict[type[Any], Callable[[Any], str]] = {
    e.Message: _message,
    e.Private: _private,
    e.Joined: _joined,
    e.Parted: _parted,
    e.Quitted: _quitted,
    e.Welcome: _welcome,
    e.NickChanged: lambda ev: f"* {ev.old} is now known as {ev.new}",
    e.TopicIs: _topic,
    e.RoomList: _rooms,
    e.Members: _members,
    e.HelpText: lambda ev: "\n".join(f"* {line}" for line in ev.lines),
    e.Error: lambda ev: f"! {ev.code}: {ev.message}",
    e.Notice: lambda ev: f"* {ev.text}",
    e.Pong: lambda ev: f"* pong {ev.token}".rstrip(),
    e.Bye: lambda ev: f"* bye: {ev.reason}",
    e.HistoryPage: _page,
}


class TextCodec:
    name = "text"
    echo = False

    def decode(self, line: bytes) -> c.Command | None:
        text = clean(_decode_utf8(line)).strip()
        if not text:
            return None
        if text.startswith("//"):
            return c.Say(text[1:])
        if text.startswith("/"):
            return _parse_command(text)
        return c.Say(text)

    def encode(self, event: e.Event) -> bytes:
        return (_FORMAT[type(event)](event) + "\n").encode()


TEXT = TextCodec()
