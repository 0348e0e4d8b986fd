"""The IRC dialect's wire format, and its shared codec for what rooms fan out.

IRC needs per-connection state (registration, capabilities, numerics addressed to the
recipient's nick), which lives in `chat.core.ircstate`; this module is the stateless half:

- `parse` turns one line into an `IrcMessage` (tags, source, command, params);
- `line` formats one, with the last parameter as a trailing one when it needs to be;
- `IrcCodec` encodes the events everyone in a room sees alike (messages, joins, parts, nick
  changes, quits, topic changes). Their bytes do not depend on who receives them, only on the
  recipient's capabilities: one shared codec per capability set (`codec_for`), so a room
  groups its IRC members by it and encodes a message once per set, as for the other dialects.

Every user is shown as `nick!nick@HOST` (events carry nicks only, and the same mask must come
out of a JOIN, a PRIVMSG and a WHO reply). Outgoing PRIVMSGs longer than 512 bytes are split
at UTF-8 boundaries. See docs/protocol.md, "IRC".
"""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass, field

from chat.protocol import commands as c
from chat.protocol import events as e

SERVER = "chat.server"
"""Our server name: the source of numerics (a dot, so no client takes it for a nick)."""
HOST = "chat"
"""The host part of every user's mask."""
MAX_LINE = 512
"""Bytes of an IRC line without its tags, CR LF included (RFC 1459)."""

_TAG_UNESCAPE = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_FORMATTING = re.compile(
    "\x03(?:[0-9]{1,2}(?:,[0-9]{1,2})?)?|\x04(?:[0-9a-fA-F]{6}(?:,[0-9a-fA-F]{6})?)?"
    "|[\x02\x0f\x11\x16\x1d\x1e\x1f]"
)


@dataclass(frozen=True, slots=True)
class IrcMessage:
    command: str
    params: list[str] = field(default_factory=list)
    source: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


def parse(text: str) -> IrcMessage | None:
    """One IRC line (without CR LF) as a message; None for a blank line."""
    tags: dict[str, str] = {}
    source = None
    rest = text.lstrip(" ")
    if rest.startswith("@"):
        raw, _, rest = rest[1:].partition(" ")
        for item in raw.split(";"):
            key, _, value = item.partition("=")
            if key:
                tags[key] = _unescape(value)
        rest = rest.lstrip(" ")
    if rest.startswith(":"):
        source, _, rest = rest[1:].partition(" ")
        rest = rest.lstrip(" ")
    if rest.startswith(":"):  # no command, only a trailing parameter: not a message
        return None
    head, sep, trailing = rest.partition(" :")
    words = head.split()
    if not words:
        return None
    params = words[1:]
    if sep:
        params.append(trailing)
    return IrcMessage(words[0].upper(), params, source, tags)


def _unescape(value: str) -> str:
    if "\\" not in value:
        return value
    out, i = [], 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            out.append(_TAG_UNESCAPE.get(value[i + 1], value[i + 1]))
            i += 2
            continue
        if ch != "\\":
            out.append(ch)
        i += 1
    return "".join(out)


def line(command: str, *params: str, source: str = SERVER, tags: str = "") -> str:
    """One line, CR LF included; the last parameter becomes a trailing one if it must."""
    parts = [f"@{tags} " if tags else "", f":{source} " if source else "", command]
    for i, param in enumerate(params):
        last = i == len(params) - 1
        if last and (not param or " " in param or param.startswith(":")):
            parts.append(" :" + param)
        else:
            parts.append(" " + param)
    parts.append("\r\n")
    return "".join(parts)


def mask(nick: str) -> str:
    return f"{nick}!{nick}@{HOST}"


def strip_formatting(text: str) -> str:
    """IRC's formatting codes (bold, colours with their digits, italics, ...) removed: the
    sanitiser would drop the control characters but leave a colour's digits in the text."""
    return _FORMATTING.sub("", text)


def split_action(text: str) -> tuple[str, bool] | None:
    """A PRIVMSG/NOTICE body as (text, is_action); None for CTCP other than ACTION (dropped)."""
    if not text.startswith("\x01"):
        return text, False
    body = text[1:].removesuffix("\x01")
    verb, _, rest = body.partition(" ")
    if verb.upper() == "ACTION":
        return rest, True
    return None


def server_time(ts: float) -> str:
    """The IRCv3 `time` tag: UTC, milliseconds (2011-10-19T16:40:51.620Z)."""
    millis = int(ts * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{millis:03d}Z"


def _chunks(text: str, budget: int) -> list[str]:
    """`text` cut into pieces of at most `budget` UTF-8 bytes, never inside a character."""
    data = text.encode()
    if len(data) <= budget:
        return [text]
    out = []
    while data:
        cut = min(budget, len(data))
        while cut < len(data) and (data[cut] & 0xC0) == 0x80:  # a continuation byte
            cut -= 1
        out.append(data[:cut].decode())
        data = data[cut:]
    return out


def privmsgs(sender: str, target: str, text: str, action: bool, tags: str) -> str:
    """A message as one or more PRIVMSG lines of at most `MAX_LINE` bytes (tags aside)."""
    head = f":{mask(sender)} PRIVMSG {target} :"
    wrap = ("\x01ACTION ", "\x01") if action else ("", "")
    budget = MAX_LINE - 2 - len(head.encode()) - len(wrap[0]) - len(wrap[1])
    prefix = f"@{tags} " if tags else ""
    return "".join(
        f"{prefix}{head}{wrap[0]}{piece}{wrap[1]}\r\n" for piece in _chunks(text, max(budget, 64))
    )


def topic_set(ev: e.TopicIs) -> str:
    return line("TOPIC", ev.room, ev.topic, source=mask(ev.by or SERVER))


class IrcCodec:
    """The events a room fans out, in IRC. One instance per capability set that changes the
    bytes (`codec_for`); `echo` is the echo-message capability."""

    name = "irc"

    def __init__(self, server_time: bool, echo: bool) -> None:
        self.server_time = server_time
        self.echo = echo

    def __repr__(self) -> str:
        return f"IrcCodec(server_time={self.server_time}, echo={self.echo})"

    def decode(self, line: bytes) -> c.Command | None:
        """Unused: IRC lines need the connection's state (`chat.core.ircstate.IrcState.decode`)."""
        return None

    def encode(self, event: e.Event) -> bytes:
        if isinstance(event, e.Message):
            tags = f"time={server_time(event.ts)}" if self.server_time else ""
            return privmsgs(event.nick, event.room, event.text, event.action, tags).encode()
        if isinstance(event, e.Private):
            tags = f"time={server_time(event.ts)}" if self.server_time else ""
            return privmsgs(event.sender, event.to, event.text, event.action, tags).encode()
        return encode_common(event, "*").encode()


def encode_common(event: e.Event, nick: str) -> str:
    """Every event but messages, as `nick` (or `*`, before registration) should see it."""
    if isinstance(event, e.Joined):
        return line("JOIN", event.room, source=mask(event.nick))
    if isinstance(event, e.Parted):
        params = (event.room, event.reason) if event.reason else (event.room,)
        return line("PART", *params, source=mask(event.nick))
    if isinstance(event, e.NickChanged):
        return line("NICK", event.new, source=mask(event.old))
    if isinstance(event, e.Quitted):
        return line("QUIT", event.reason or "Quit", source=mask(event.nick))
    if isinstance(event, e.TopicIs) and event.by is not None:
        return topic_set(event)
    if isinstance(event, e.TopicIs):
        if not event.topic:
            return line("331", nick, event.room, "No topic is set")
        return line("332", nick, event.room, event.topic)
    if isinstance(event, e.Bye):
        return line("ERROR", f"Closing link: {event.reason}", source="")
    if isinstance(event, e.Error):
        return line("NOTICE", nick, f"{event.code}: {event.message}")
    if isinstance(event, e.Notice):
        return line("NOTICE", nick, event.text)
    if isinstance(event, e.Pong):
        return line("PONG", SERVER, event.token or SERVER)
    if isinstance(event, e.Welcome):
        return line("001", event.nick, f"Welcome to the chat IRC network, {mask(event.nick)}")
    if isinstance(event, e.HelpText):
        return "".join(line("NOTICE", nick, text) for text in event.lines)
    if isinstance(event, e.Members):
        return line("353", nick, "=", event.room, " ".join(event.nicks)) + line(
            "366", nick, event.room, "End of /NAMES list"
        )
    if isinstance(event, e.RoomList):
        rows = [line("322", nick, r.name, str(r.members), r.topic) for r in event.rooms]
        return (
            line("321", nick, "Channel", "Users  Name")
            + "".join(rows)
            + line("323", nick, "End of /LIST")
        )
    return ""  # an event IRC has no form for is not sent (never a Python repr)


@functools.cache
def codec_for(server_time: bool, echo: bool) -> IrcCodec:
    """The shared codec of one capability set (at most four exist)."""
    return IrcCodec(server_time, echo)


IRC = codec_for(False, False)
