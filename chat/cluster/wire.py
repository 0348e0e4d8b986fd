"""What nodes tell each other, and its bytes. Pure: no NATS, no asyncio.

Every message is a small JSON array `[kind, origin node, field, ...]`: compact, cheap to parse,
and readable with `nats sub 'chat.>'`. `decode` checks the kind, the arity and every field's
type, and raises `ValueError` on anything else, so a confused or hostile publisher on the
broker can't crash a node; it only gets its message dropped (and counted).

Nicks and rooms travel both as display names and folded keys where a receiver needs to index
by them without re-folding (`chat.names.fold`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class Online:
    """A nick came online on `node` (registered, not yet in any room)."""

    kind: ClassVar[str] = "online"
    node: str
    nick: str


@dataclass(frozen=True, slots=True)
class Offline:
    """A nick left the cluster: it quit, dropped, or was cut."""

    kind: ClassVar[str] = "offline"
    node: str
    nick: str
    reason: str


@dataclass(frozen=True, slots=True)
class Renamed:
    kind: ClassVar[str] = "renamed"
    node: str
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class Joined:
    kind: ClassVar[str] = "joined"
    node: str
    room: str  # folded
    name: str  # as the room was first written
    nick: str


@dataclass(frozen=True, slots=True)
class Parted:
    kind: ClassVar[str] = "parted"
    node: str
    room: str
    nick: str
    reason: str


@dataclass(frozen=True, slots=True)
class Topic:
    kind: ClassVar[str] = "topic"
    node: str
    room: str
    name: str
    text: str
    by: str


@dataclass(frozen=True, slots=True)
class Said:
    """A room message (or `/me` action) posted on `node`."""

    kind: ClassVar[str] = "said"
    node: str
    room: str
    name: str
    nick: str
    text: str
    ts: float
    action: bool


@dataclass(frozen=True, slots=True)
class Private:
    """A private message for a nick that `node`'s view places on the receiving node."""

    kind: ClassVar[str] = "pm"
    node: str
    to: str  # folded
    sender: str
    text: str
    ts: float
    action: bool


@dataclass(frozen=True, slots=True)
class Hello:
    """A node (re)joined the cluster: every other node answers with its `State`."""

    kind: ClassVar[str] = "hello"
    node: str


@dataclass(frozen=True, slots=True)
class State:
    """One chunk of a node's whole presence. `first` chunks replace what was known of it.

    `nicks` are its registered nicks; `rooms` are `[folded, name, topic, [nicks...]]`.
    """

    kind: ClassVar[str] = "state"
    node: str
    first: bool
    nicks: list[str]
    rooms: list[list[Any]]


@dataclass(frozen=True, slots=True)
class Beat:
    """A node is alive (sent every `node_ttl / 4` seconds)."""

    kind: ClassVar[str] = "beat"
    node: str


@dataclass(frozen=True, slots=True)
class Bye:
    """A node is leaving the cluster on purpose."""

    kind: ClassVar[str] = "bye"
    node: str


Note = (
    Online
    | Offline
    | Renamed
    | Joined
    | Parted
    | Topic
    | Said
    | Private
    | Hello
    | State
    | Beat
    | Bye
)

_ALL = (Online, Offline, Renamed, Joined, Parted, Topic, Said, Private, Hello, State, Beat, Bye)
_KINDS: dict[str, type[Any]] = {cls.kind: cls for cls in _ALL}
_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "float": (float, int),
    "bool": (bool,),
    "list[str]": (list,),
    "list[list[Any]]": (list,),
}
_SCHEMA: dict[str, tuple[tuple[str, tuple[type, ...]], ...]] = {
    kind: tuple((f.name, _TYPES[str(f.type)]) for f in fields(cls)) for kind, cls in _KINDS.items()
}


_GET = {cls: attrgetter(*(f.name for f in fields(cls))) for cls in _ALL}
_DUMPS = json.JSONEncoder(separators=(",", ":")).encode


def encode(note: Note) -> bytes:
    values = _GET[type(note)](note)  # a tuple, or the one value (`attrgetter` of one name)
    head = [note.kind, *values] if isinstance(values, tuple) else [note.kind, values]
    return _DUMPS(head).encode()


def decode(data: bytes) -> Note:
    """Bytes from the broker back into a note; `ValueError` if they are not a valid one."""
    try:
        items = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"not JSON: {err}") from None
    if not isinstance(items, list) or not items or not isinstance(items[0], str):
        raise ValueError("not a [kind, ...] array")
    schema = _SCHEMA.get(items[0])
    if schema is None:
        raise ValueError(f"unknown kind {items[0]!r}")
    values = items[1:]
    if len(values) != len(schema):
        raise ValueError(f"{items[0]}: {len(values)} fields, expected {len(schema)}")
    for (name, types), value in zip(schema, values, strict=True):
        if not isinstance(value, types) or (types == (float, int) and isinstance(value, bool)):
            raise ValueError(f"{items[0]}.{name}: bad type {type(value).__name__}")
    note: Note = _KINDS[items[0]](*values)
    if isinstance(note, State):
        _check_state(note)
    return note


def _check_state(state: State) -> None:
    if not all(isinstance(n, str) for n in state.nicks):
        raise ValueError("state.nicks: not all strings")
    for room in state.rooms:
        ok = (
            isinstance(room, list)
            and len(room) == 4
            and all(isinstance(x, str) for x in room[:3])
            and isinstance(room[3], list)
            and all(isinstance(n, str) for n in room[3])
        )
        if not ok:
            raise ValueError("state.rooms: each is [folded, name, topic, [nicks]]")
