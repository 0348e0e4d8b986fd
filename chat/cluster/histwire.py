"""A batch of room lines as the cluster's history stream holds it, and its bytes. Pure.

One JetStream message on `chat.hist.<hex room>` carries one `Batch`: the lines one node had
waiting for that room while its previous publish was in flight, with consecutive offsets from
`first`, all in `epoch`. As JSON: `["hist", node, batch, room, name, epoch, first,
[[nick, text, ts, action], ...]]`, where `batch` is the publishing node's number for it (so a
node recognises its own batch when the stream delivers it back).

`decode` is an untrusted-input boundary like `chat.cluster.wire.decode`, and checks the same
way (it reuses its field checks): for any bytes it returns a valid batch or raises
`ValueError`. So a batch that decodes is one a node could have published, and storing or
delivering it cannot fail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from chat.cluster import wire
from chat.protocol.names import fold

KIND = "hist"
MAX_LINES = 256
"""Lines in one batch at most (a publisher cuts its waiting lines to this and `MAX_BYTES`)."""
MAX_BYTES = 256 * 1024
"""Bytes of text one batch aims to stay under (NATS refuses payloads over 1 MiB by default)."""
MAX_OFFSET = 2**53
_EPOCH = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True, slots=True)
class Line:
    nick: str
    text: str
    ts: float
    action: bool


@dataclass(frozen=True, slots=True)
class Batch:
    node: str  # the node that published it
    batch: int  # that node's number for it
    room: str  # folded
    name: str  # as written
    epoch: str
    first: int  # the offset of lines[0]; the others follow with no hole
    lines: tuple[Line, ...]

    @property
    def last(self) -> int:
        return self.first + len(self.lines) - 1


def subject(room: str) -> str:
    """The stream subject of a room (folded): NATS tokens cannot hold `.`, `*`, `>`."""
    return "chat.hist." + room.encode().hex()


def encode(b: Batch) -> bytes:
    lines = [[m.nick, m.text, m.ts, m.action] for m in b.lines]
    return wire._DUMPS([KIND, b.node, b.batch, b.room, b.name, b.epoch, b.first, lines]).encode()


def decode(data: bytes) -> Batch:
    """Bytes from the stream back into a batch; `ValueError` if they are not a valid one."""
    try:
        items = wire._LOADS(data.decode())
    except (ValueError, RecursionError) as err:
        raise ValueError(f"not JSON: {str(err)[:100]}") from None
    if type(items) is not list or len(items) != 8 or items[0] != KIND:
        raise ValueError("not a [hist, node, batch, room, name, epoch, first, lines] array")
    _, node, batch, room, name, epoch, first, lines = items
    node = wire._node(node)
    if fold(wire._room(name)) != room:
        raise ValueError("the room key is not the folded name")
    if type(epoch) is not str or not _EPOCH.fullmatch(epoch):
        raise ValueError("not an epoch")
    for what, value in (("batch", batch), ("first", first)):
        if type(value) is not int or not 0 < value < MAX_OFFSET:
            raise ValueError(f"{what}: not a positive integer")
    if type(lines) is not list or not 0 < len(lines) <= MAX_LINES:
        raise ValueError(f"lines: not a list of 1 to {MAX_LINES}")
    return Batch(node, batch, room, name, epoch, first, tuple(_line(v) for v in lines))


def _line(v: Any) -> Line:
    if type(v) is not list or len(v) != 4:
        raise ValueError("a line is [nick, text, ts, action]")
    return Line(wire._nick(v[0]), wire._text(v[1]), wire._ts(v[2]), wire._flag(v[3]))
