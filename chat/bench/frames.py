"""The bytes chat-bench sends and looks for, per dialect (docs/protocol.md).

Receivers never parse what they only count: a room message is recognised by a fixed marker
(`{"type":"message"` in JSON, a line starting `[#` in text) counted with `bytes.count` over raw
chunks. Every message a sender posts carries `L<sender> <send time in ns> ` at the start of its
text, so a sender can count its own echoes (JSON) and a probe can compute end-to-end latency.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

LOBBY = "#lobby"
TAG = re.compile(rb"L(\d{5}) (\d+) ")
"""Finds the tag of a message in a received chunk: sender number, send time (monotonic ns)."""


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
        if self.name == "json":
            out = [{"type": "hello", "version": 1, "nick": nick}]
            if room.lower() != LOBBY:
                out += [{"type": "join", "room": room}, {"type": "part", "room": LOBBY}]
            return b"".join(json.dumps(o, separators=(",", ":")).encode() + b"\n" for o in out)
        lines = [nick]
        if room.lower() != LOBBY:
            lines += [f"/join {room}", f"/part {LOBBY}"]
        return ("\n".join(lines) + "\n").encode()

    def ready_marker(self, room: str) -> bytes:
        """Seen once the server has put us in `room` (its member list is sent after the join)."""
        if self.name == "json":
            return b'{"type":"who","room":' + json.dumps(room).encode()
        return f"* {room} (".encode()

    def refused(self, received: bytes) -> str | None:
        """The first error line in what a member got while logging in, else None."""
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
        return b'{"type":"ping"}\n' if self.name == "json" else b"/ping\n"

    def say(self, sender: int, sent_ns: int, pad: bytes) -> bytes:
        """One room message line to the current room, tagged with sender and send time."""
        if self.name == "json":
            return b'{"type":"say","text":"L%05d %d %s"}\n' % (sender, sent_ns, pad)
        return b"L%05d %d %s\n" % (sender, sent_ns, pad)


JSON = Dialect("json", b'{"type":"message"', echo=True)
TEXT = Dialect("text", b"\n[#", echo=False)
DIALECTS = {"json": JSON, "text": TEXT}


def padding(size: int) -> bytes:
    """Filler so that a message text is about `size` characters (the tag takes ~26)."""
    return b"x" * max(1, size - 26)
