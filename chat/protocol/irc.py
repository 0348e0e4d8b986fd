"""The IRC dialect's wire format, and its shared codec for what rooms fan out.

IRC needs per-connection state (registration, capabilities, numerics addressed to the
recipient's nick), which lives in `chat.core.ircstate`; this module is the stateless half:

- `parse` turns one line into an `IrcMessage` (tags, source, command, params);
- `line` formats one, with the last parameter as a trailing one when it needs to be;
- `IrcCodec` encodes the events everyone in a room sees alike (messages, joins, parts, nick
  changes, quits, topic changes). Their bytes do not depend on who receives them, only on the
  recipient's capabilities: one shared codec per capability set (`codec_for`), so a room
  groups its IRC members by it and encodes a message once per set, as for the other dialects.
  A room message's `msgid` tag (`<epoch>-<offset>`, its place in the room's history) is the
  same for every recipient, so it changes nothing to that.

Every user is shown as `nick!nick@HOST` (events carry nicks only, and the same mask must come
out of a JOIN, a PRIVMSG and a WHO reply). Outgoing PRIVMSGs longer than 512 bytes are split
at UTF-8 boundaries. See docs/protocol.md, "IRC".
"""

from __future__ import annotations

import calendar
import functools
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from chat.protocol import commands as c
from chat.protocol import events as e

SERVER = "chat.server"
"""Our server name: the source of numerics (a dot, so no client takes it for a nick)."""
HOST = "chat"
"""The host part of every user's mask."""
MAX_LINE = 512
"""Bytes of an IRC line without its tags, CR LF included (RFC 1459)."""

_TAG_UNESCAPE = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_TAG_ESCAPE = str.maketrans({";": "\\:", " ": "\\s", "\\": "\\\\", "\r": "\\r", "\n": "\\n"})
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


def millis(ts: float) -> int:
    """A time in whole milliseconds, as the `time` tag shows it (and CHATHISTORY compares)."""
    return int(ts * 1000)


def server_time(ts: float) -> str:
    """The IRCv3 `time` tag: UTC, milliseconds (2011-10-19T16:40:51.620Z)."""
    ms = millis(ts)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def parse_time(text: str) -> int | None:
    """A CHATHISTORY `timestamp=` value (2011-10-19T16:40:51.620Z; UTC when no zone is
    given) in whole milliseconds; None if it is not one."""
    try:
        when = datetime.fromisoformat(text)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return calendar.timegm(when.utctimetuple()) * 1000 + when.microsecond // 1000
    except (ValueError, OverflowError):
        return None


def msgid(epoch: str, offset: int) -> str:
    """A room message's IRCv3 `msgid`: its room's history epoch and its offset there, so the
    same for every recipient, unique (an epoch is never reused), and the same again when
    CHATHISTORY sends it from history. The extra lines of a message too long for one IRC line
    get `<msgid>.2`, `<msgid>.3`, ... (each line's id is unique)."""
    return f"{epoch}-{offset}"


def parse_msgid(value: str) -> tuple[str, int] | None:
    """`(epoch, offset)` of a msgid of ours (any line of the message); None if it is not one."""
    epoch, sep, rest = value.rpartition("-")
    number = rest.partition(".")[0]
    if not sep or not epoch or not (number.isascii() and number.isdigit()) or len(number) > 18:
        return None
    return epoch, int(number)


def escape_tag(value: str) -> str:
    return value.translate(_TAG_ESCAPE)


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


def privmsgs(sender: str, target: str, text: str, action: bool, tags: str, msgid: str = "") -> str:
    """A message as one or more PRIVMSG lines of at most `MAX_LINE` bytes (tags aside), each
    with `tags` and, given a `msgid`, its own msgid tag (see `msgid`)."""
    head = f":{mask(sender)} PRIVMSG {target} :"
    wrap = ("\x01ACTION ", "\x01") if action else ("", "")
    budget = MAX_LINE - 2 - len(head.encode()) - len(wrap[0]) - len(wrap[1])
    pieces = _chunks(text, max(budget, 64))
    if not msgid:
        prefix = f"@{tags} " if tags else ""
        return "".join(f"{prefix}{head}{wrap[0]}{piece}{wrap[1]}\r\n" for piece in pieces)
    out = []
    for i, piece in enumerate(pieces):
        tag = "msgid=" + escape_tag(msgid if i == 0 else f"{msgid}.{i + 1}")
        prefix = f"@{tags};{tag} " if tags else f"@{tag} "
        out.append(f"{prefix}{head}{wrap[0]}{piece}{wrap[1]}\r\n")
    return "".join(out)


def topic_set(ev: e.TopicIs) -> str:
    return line("TOPIC", ev.room, ev.topic, source=mask(ev.by or SERVER))


class IrcCodec:
    """The events a room fans out, in IRC. One instance per capability set that changes the
    bytes (`codec_for`): `server_time` adds the `time` tag, `tags` (message-tags) the `msgid`
    of room messages, and `echo` is the echo-message capability."""

    name = "irc"

    def __init__(self, server_time: bool, echo: bool, tags: bool = False) -> None:
        self.server_time = server_time
        self.echo = echo
        self.tags = tags

    def __repr__(self) -> str:
        return f"IrcCodec(server_time={self.server_time}, echo={self.echo}, tags={self.tags})"

    def decode(self, line: bytes) -> c.Command | None:
        """Unused: IRC lines need the connection's state (`chat.core.ircstate.IrcState.decode`)."""
        return None

    def encode(self, event: e.Event) -> bytes:
        if isinstance(event, e.Message):
            tags = f"time={server_time(event.ts)}" if self.server_time else ""
            mid = msgid(event.epoch, event.offset) if self.tags and event.offset else ""
            return privmsgs(event.nick, event.room, event.text, event.action, tags, mid).encode()
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
    if isinstance(event, e.ModeChanged):
        source = event.by if "." in event.by else mask(event.by)  # a dot: the server itself
        return line("MODE", event.room, *event.change.split(), source=source)
    if isinstance(event, e.Kicked):
        return line("KICK", event.room, event.nick, event.reason or event.by, source=mask(event.by))
    if isinstance(event, e.Wallops):
        return line("WALLOPS", event.text, source=mask(event.by))
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


def codec_for(server_time: bool, echo: bool, tags: bool = False) -> IrcCodec:
    """The shared codec of one capability set (at most eight exist)."""
    return _codec(bool(server_time), bool(echo), bool(tags))  # one cache key per set


@functools.cache
def _codec(server_time: bool, echo: bool, tags: bool) -> IrcCodec:
    return IrcCodec(server_time, echo, tags)


IRC = codec_for(False, False)
