"""The bytes chat-bench sends and looks for, per dialect (docs/protocol.md).

Receivers never parse what they only count: a room message is recognised by a fixed marker
(`{"type":"message"` in JSON, a line starting `[#` in text, ` PRIVMSG #` in IRC) counted with
`bytes.count` over raw chunks. Every message a sender posts carries `L<sender> <send time in ns> `
at the start of its text, so a sender can count its own echoes (JSON), another member can count
a sender's messages (the dialects without echoes: IRC, text) and a probe can compute end-to-end
latency.

IRC is spoken as a plain RFC 2812 client would: `NICK`, `USER`, `JOIN`, no CAP (so no
`echo-message` and no tags: the same bytes from our server and from ngircd), `PRIVMSG #room`,
and every server `PING` answered with a `PONG` (`IRC_PING`, `irc_pong`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

LOBBY = "#lobby"
TAG = re.compile(rb"L(\d{5}) (\d+) ")
"""Finds the tag of a message in a received chunk: sender number, send time (monotonic ns)."""
IRC_REFUSED = re.compile(
    rb"^(?::\S+ )?(?:ERROR|FAIL|4(?:05|3[1-7]|5[1-9]|6[1-5]|7[1-9]))\b[^\r\n]*", re.MULTILINE
)
"""A line that ends an IRC login: the server's ERROR, a FAIL, or a numeric refusing the nick,
the registration or the join (432/433 nick, 405/471-479 join, 451/461-465 registration).
403/442 are not in it: they answer the PART of a #lobby that ngircd never put us in."""


def tag(sender: int) -> bytes:
    """What only `sender`'s messages contain (JSON clients use it to count their echoes)."""
    return b"L%05d " % sender


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    message_marker: bytes
    """Occurs once per room message delivered, nowhere else."""
    echo: bool
    """Does a sender receive its own room messages back?"""

    def login(self, nick: str, room: str) -> bytes:
        """Register as `nick` and end up in `room` only (left #lobby if `room` is another)."""
        if self.name == "irc":  # our server puts a new user in #lobby (a JOIN of it is a no-op)
            lines = [f"NICK {nick}", f"USER {nick} 0 * :{nick}", f"JOIN {room}"]
            if room.lower() != LOBBY:
                lines.append(f"PART {LOBBY}")
            return ("\r\n".join(lines) + "\r\n").encode()
        if self.name == "json":
            out = [{"type": "hello", "version": 1, "nick": nick}]
            if room.lower() != LOBBY:
                out += [{"type": "join", "room": room}, {"type": "part", "room": LOBBY}]
            return b"".join(json.dumps(o, separators=(",", ":")).encode() + b"\n" for o in out)
        lines = [nick]
        if room.lower() != LOBBY:
            lines += [f"/join {room}", f"/part {LOBBY}"]
        return ("\n".join(lines) + "\n").encode()

    def ready_marker(self, room: str, nick: str) -> bytes:
        """Seen once the server has put us in `room` (its member list is sent after the join;
        in IRC its end, 366, which only a registered client gets: 001 came first)."""
        if self.name == "irc":
            return f" 366 {nick} {room} :".encode()
        if self.name == "json":
            return b'{"type":"who","room":' + json.dumps(room).encode()
        return f"* {room} (".encode()

    def refused(self, received: bytes) -> str | None:
        """The first error line in what a member got while logging in, else None."""
        if self.name == "irc":
            found = IRC_REFUSED.search(received)
            return None if found is None else found[0].decode(errors="replace")
        marker = b'{"type":"error"' if self.name == "json" else b"\n! "
        padded = b"\n" + received  # a text error line may be the very first
        at = padded.find(marker)
        if at < 0:
            return None
        line = padded[at:].lstrip(b"\n").split(b"\n", 1)[0]
        return line.decode(errors="replace")

    @property
    def ping(self) -> bytes:
        """A keepalive: what a listening client sends so the idle sweep leaves it alone."""
        if self.name == "irc":
            return b"PING :chat-bench\r\n"
        return b'{"type":"ping"}\n' if self.name == "json" else b"/ping\n"

    def say(self, sender: int, sent_ns: int, pad: bytes, room: str) -> bytes:
        """One room message line to `room` (JSON and text: the current room, which is `room`),
        tagged with sender and send time."""
        if self.name == "irc":
            return b"PRIVMSG %s :L%05d %d %s\r\n" % (room.encode(), sender, sent_ns, pad)
        if self.name == "json":
            return b'{"type":"say","text":"L%05d %d %s"}\n' % (sender, sent_ns, pad)
        return b"L%05d %d %s\n" % (sender, sent_ns, pad)


JSON = Dialect("json", b'{"type":"message"', echo=True)
TEXT = Dialect("text", b"\n[#", echo=False)
IRC = Dialect("irc", b" PRIVMSG #", echo=False)
DIALECTS = {"json": JSON, "text": TEXT, "irc": IRC}

IRC_PING = b"\nPING "
"""A PING from an IRC server (a line of its own: message texts here hold no such thing)."""


def irc_pong(server: bytes) -> bytes:
    """The answer to a PING from `server` (ours sends `PING chat.server`, ngircd
    `PING :its.name`: both name themselves, as the prefix of their 001 does)."""
    return b"PONG :%s\r\n" % server


def irc_server_name(received: bytes) -> bytes:
    """The server's name, from the prefix of the first line it sent (`:name 001 ...`)."""
    if received.startswith(b":"):
        return received[1:].split(b" ", 1)[0]
    return b"chat-bench"


def padding(size: int) -> bytes:
    """Filler so that a message text is about `size` characters (the tag takes ~26)."""
    return b"x" * max(1, size - 26)
