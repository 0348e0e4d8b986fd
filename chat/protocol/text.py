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
    "mode": "/mode [#room] [+imt-l ...]  show or change a room's modes (operators)",
    "op": "/op [#room] <nick>         make a member an operator (also /deop)",
    "voice": "/voice [#room] <nick>      let a member speak in a +m room (also /devoice)",
    "kick": "/kick [#room] <nick> [why] put a member out of a room",
    "ban": "/ban [#room] <nick|mask>   ban nick!user@host (globs * ?) or $a:account",
    "unban": "/unban [#room] <mask>      lift a ban (/bans lists them)",
    "mute": "/mute [#room] <nick> <s>   mute a member for s seconds (/unmute)",
    "invite": "/invite <nick> [#room]     invite someone into a +i room",
    "oper": "/oper <name> <password>    become a server operator",
    "kill": "/kill <nick> [reason]      disconnect a user (server operators)",
    "sban": "/sban <addr|net> [time] [why] refuse an address, e.g. 10.0.0.0/8 1d",
    "wallops": "/wallops <text>            a notice to every server operator",
}
ACCOUNT_USAGE: dict[str, str] = {  # accounts (issue 17): in /help with --accounts only
    "register": "/register <password>       make your nick an account (8-256 bytes)",
    "identify": "/identify [account] <password>  identify (default account: your nick)",
}
ALIASES = {"list": "rooms", "names": "who", "j": "join", "leave": "part", "query": "msg"}
_PREFIX_MODES = {"op": "+o", "deop": "-o", "voice": "+v", "devoice": "-v"}
"""Friendly forms of `/mode`: `/op bob` is `/mode +o bob`."""


def _decode_utf8(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(BAD_UTF8, "line is not valid UTF-8; it was dropped") from None


def _need(arg: str, name: str) -> str:
    if not arg:
        usage = USAGE.get(name) or ACCOUNT_USAGE[name]
        raise ProtocolError(BAD_COMMAND, "usage: " + usage.split("  ")[0])
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
        room, _, key = rest.partition(" ")
        return c.Join(_need(room, name), None, key.strip() or None)
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
    command = _moderation(name, rest)
    if command is not None:
        return command
    if name in ("register", "identify"):
        return _account(name, rest)
    raise ProtocolError(UNKNOWN_COMMAND, f"unknown command /{word[:32]}; type /help")


def _room_first(rest: str) -> tuple[str | None, str]:
    """An optional leading `#room`, then the rest."""
    if rest.startswith("#"):
        room, _, rest = rest.partition(" ")
        return room, rest.strip()
    return None, rest


def _seconds(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise ProtocolError(BAD_COMMAND, "usage: /mute [#room] <nick> <seconds>")
    return int(text)


def _moderation(name: str, rest: str) -> c.Command | None:
    """The moderation commands (docs/protocol.md, "Moderation"); None for another name."""
    if name in ("mode", "op", "deop", "voice", "devoice", "kick", "ban", "unban", "bans"):
        room, rest = _room_first(rest)
        words = rest.split()
        if name == "mode":
            return c.Mode(room, words[0] if words else "", tuple(words[1:]))
        if name in _PREFIX_MODES:
            usage = "op" if "op" in name else "voice"
            return c.Mode(room, _PREFIX_MODES[name], (_need(words[0] if words else "", usage),))
        if name == "kick":
            nick, _, reason = rest.partition(" ")
            return c.Kick(_need(nick, name), room, reason.strip())
        if name in ("ban", "unban"):
            mask = _need(words[0] if words else "", name)
            return c.Mode(room, "+b" if name == "ban" else "-b", (mask,))
        return c.Bans(room)
    if name in ("mute", "unmute"):
        room, rest = _room_first(rest)
        words = rest.split()
        nick = _need(words[0] if words else "", "mute")
        if name == "unmute":
            return c.Mute(nick, 0, room)
        return c.Mute(nick, _seconds(_need(words[1] if len(words) > 1 else "", "mute")), room)
    if name == "invite":
        words = rest.split()
        return c.Invite(
            _need(words[0] if words else "", name), words[1] if len(words) > 1 else None
        )
    if name == "oper":
        who, _, password = rest.partition(" ")
        return c.Oper(_need(who, name), _need(password.strip(), name))
    if name == "kill":
        nick, _, reason = rest.partition(" ")
        return c.Kill(_need(nick, name), reason.strip())
    if name in ("sban", "unsban", "sbans"):
        if name == "sbans":
            return c.ServerBan()
        words = rest.split(" ", 2)
        mask = _need(words[0], "sban")
        if name == "unsban":
            return c.ServerBan(mask, remove=True)
        seconds = words[1] if len(words) > 1 else "0"
        return c.ServerBan(
            mask, parse_duration(seconds), words[2].strip() if len(words) > 2 else ""
        )
    if name == "wallops":
        return c.Wallops(_need(rest, name))
    return None


def parse_duration(text: str) -> int:
    """`3600`, `90s`, `30m`, `12h`, `7d` as seconds (0: the longest a server ban may last)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.lower()
    scale = units.get(text[-1:], 0)
    digits = text[:-1] if scale else text
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 9:
        raise ProtocolError(BAD_COMMAND, "a duration is a number of seconds, or 30m, 12h, 7d")
    return int(digits) * (scale or 1)


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
    nicks = (p + n for p, n in zip(ev.prefixes, ev.nicks, strict=True)) if ev.prefixes else ev.nicks
    return f"* {ev.room} ({ev.total}): {', '.join(nicks)}{more}"


def _kicked(ev: e.Kicked) -> str:
    reason = f" ({ev.reason})" if ev.reason else ""
    return f"* {ev.nick} was kicked from {ev.room} by {ev.by}{reason}"


def _bans(ev: e.BanList) -> str:
    what = "server bans" if ev.room == "*" else f"bans of {ev.room}"
    if not ev.masks:
        return f"* no {what}"
    return f"* {what} ({len(ev.masks)}): {', '.join(ev.masks)}"


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


# --- accounts (issue 17) -------------------------------------------------------------------


def _account(name: str, rest: str) -> c.Command:
    """`/register <password>`: the rest of the line is the password. `/identify <password>`
    (one word) or `/identify <account> <password>` (the rest of the line after the account)."""
    _need(rest, name)
    if name == "register":
        return c.Register(rest)
    account, _, password = rest.partition(" ")
    if password.strip():
        return c.Identify(password.strip(), account)
    return c.Identify(rest)


def _account_event(ev: e.Account) -> str:
    return f"* you are now identified as {ev.account} ({ev.event})"


# --- end of accounts ------------------------------------------------------------------------


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
    e.ModeChanged: lambda ev: f"* {ev.by} sets mode {ev.change} on {ev.room}",
    e.Modes: lambda ev: f"* modes of {ev.room}: {ev.modes}",
    e.Kicked: _kicked,
    e.Invited: lambda ev: f"* {ev.by} invited {ev.nick} to {ev.room}",
    e.BanList: _bans,
    e.Wallops: lambda ev: f"* wallops from {ev.by}: {ev.text}",
    e.Account: _account_event,
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
