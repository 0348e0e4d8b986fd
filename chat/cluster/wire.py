"""What nodes tell each other, and its bytes. Pure: no NATS, no asyncio.

Every message is a small JSON array `[kind, origin node, field, ...]`: compact, cheap to parse,
and readable with `nats sub 'chat.>'`. Nicks and rooms travel both as display names and folded
keys where a receiver needs to index by them without re-folding (`chat.protocol.names.fold`).

`decode` is the cluster's untrusted-input boundary, as the codecs are a client's: for any bytes
at all it returns a note or raises `ValueError`, nothing else, so a confused or hostile
publisher on the broker can't crash a node; its note is dropped (and counted). A note that
decodes is one this node could have sent, so applying it can't fail halfway:

- strict UTF-8, then JSON; nesting too deep for the parser is a `ValueError`, not a
  `RecursionError` (a note is never deeper than 4);
- the kind, the arity, and every field's type at every depth;
- node ids are `[A-Za-z0-9_-]{1,64}` (they become NATS subject tokens: `chat.pm.<node>`);
- nicks and rooms are valid and canonical (`chat.protocol.names.check_nick` / `check_room` give them
  back unchanged), folded keys are folded, and a key travelling with its display name is
  `fold(name)`;
- texts (messages, reasons, topics) are Unicode scalar values (no lone surrogate from a
  `\\ud800` escape, `chat.protocol.sanitize.is_text`), at most `MAX_TEXT` (`MAX_TOPIC`)
  characters, and cleaned of terminal controls like a client's text;
- times are finite numbers in `[0, MAX_TS]`;
- a `State` chunk holds at most `MAX_STATE_NAMES` nicks, and as many rooms and members.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import fields
from operator import attrgetter
from typing import Any

from chat.core import moderation as m
from chat.core.notes import (  # re-exported: the wire is where the cluster meets them
    Beat,
    Bye,
    Hello,
    Invited,
    Joined,
    Kicked,
    Killed,
    Modes,
    Note,
    Offline,
    Online,
    Parted,
    Private,
    Renamed,
    RoomChunk,
    Said,
    ServerBanned,
    State,
    Topic,
    Wallops,
)
from chat.protocol.errors import ProtocolError
from chat.protocol.names import MAX_NICK, MAX_ROOM, check_nick, check_room, fold
from chat.protocol.sanitize import clean, is_text

BAD_NOTE = "bad-note"
"""The `hub.stats.errors` key counting notes that did not decode."""
MAX_TEXT = 64 * 1024
"""Characters in a message or reason (a client's line is `--max-line` bytes, 4,096 by default)."""
MAX_TOPIC = 1024
"""Characters in a topic (a client may set `Limits.max_topic`, 300)."""
MAX_TS = 1e11
"""Latest time a note may carry (seconds since the epoch, year 5138: within `datetime`)."""
STATE_CHUNK = 1000
"""Names per `State` note that `chat.cluster.inbound.state` aims for."""
MAX_STATE_NAMES = 4 * STATE_CHUNK
"""Names (nicks, rooms and members) one `State` note may hold; a chunk stays under 2x."""

__all__ = [
    "Beat", "Bye", "Hello", "Invited", "Joined", "Kicked", "Killed", "Modes", "Note",
    "Offline", "Online", "Parted", "Private", "Renamed", "RoomChunk", "Said", "ServerBanned",
    "State", "Topic", "Wallops", "decode", "encode",
]  # fmt: skip


_ALL = (Online, Offline, Renamed, Joined, Parted, Topic, Said, Private, Hello, State, Beat, Bye,
        Modes, Kicked, Invited, Killed, ServerBanned, Wallops)  # fmt: skip
_GET = {cls: attrgetter(*(f.name for f in fields(cls))) for cls in _ALL}
_DUMPS = json.JSONEncoder(separators=(",", ":")).encode
_LOADS = json.JSONDecoder().decode


def encode(note: Note) -> bytes:
    values = _GET[type(note)](note)  # a tuple, or the one value (`attrgetter` of one name)
    head = [note.kind, *values] if isinstance(values, tuple) else [note.kind, values]
    return _DUMPS(head).encode()


def decode(data: bytes) -> Note:
    """Bytes from the broker back into a note; `ValueError` if they are not a valid one."""
    try:
        items = _LOADS(data.decode())
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError and JSONDecodeError too
        raise ValueError(f"not JSON: {str(err)[:100]}") from None
    if type(items) is not list or not items or type(items[0]) is not str:
        raise ValueError("not a [kind, ...] array")
    kind = items[0]
    spec = _SPECS.get(kind)
    if spec is None:
        raise ValueError(f"unknown kind {kind[:32]!a}")
    cls, names, checks = spec
    if len(items) != len(checks) + 1:
        raise ValueError(f"{kind}: {len(items) - 1} fields, expected {len(checks)}")
    values: list[Any] = []
    try:
        for check, value in zip(checks, items[1:], strict=True):
            values.append(check(value))
    except ValueError as err:
        raise ValueError(f"{kind}.{names[len(values)]}: {err}") from None
    if cls in _PAIRED and fold(values[2]) != values[1]:
        raise ValueError(f"{kind}: the room key is not the folded name")
    note: Note = cls(*values)
    return note


# --- field checks: each returns the value to store or raises ValueError ----------------------
#
# Names repeat from note to note (a room's regular senders, a handful of nodes), so the names
# found valid lately are remembered and the common `said` note costs a set lookup per name. The
# memory is bounded: past `_SEEN_MAX` names it starts again.
_SEEN_MAX = 8192
_NODE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _valid_nick(v: str) -> bool:
    try:
        return len(v) <= MAX_NICK and check_nick(v) == v
    except ProtocolError:
        return False


def _valid_room(v: str) -> bool:
    try:
        return len(v) <= MAX_ROOM + 1 and check_room(v) == v
    except ProtocolError:
        return False


def _seen(valid: Callable[[str], bool], what: str) -> Callable[[Any], str]:
    seen: set[str] = set()

    def check(v: Any) -> str:
        if type(v) is str and v in seen:  # the type first: `[] in seen` raises TypeError
            return v
        if type(v) is not str or not valid(v):
            raise ValueError(f"not {what}")
        if len(seen) >= _SEEN_MAX:
            seen.clear()
        seen.add(v)
        return v

    return check


_node = _seen(lambda v: _NODE.fullmatch(v) is not None, "a node id")
_nick = _seen(_valid_nick, "a nick")
_nick_key = _seen(lambda v: _valid_nick(v) and fold(v) == v, "a folded nick")
_room = _seen(_valid_room, "a room")
_room_key = _seen(lambda v: _valid_room(v) and fold(v) == v, "a folded room")


def _key(v: Any) -> str:
    """A room key that travels with its display name: `decode` checks it is fold(name)."""
    if type(v) is not str:
        raise ValueError("not a string")
    return v


def _by(v: Any) -> str:
    return "" if v == "" else _nick(v)


def _text_of(limit: int) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if type(v) is not str:
            raise ValueError("not a string")
        if len(v) > limit:
            raise ValueError(f"longer than {limit}")
        if v.isprintable():  # the common case: no control (Cc, Cf) and no surrogate (Cs)
            return v
        if not is_text(v):
            raise ValueError("not Unicode text (a lone surrogate)")
        return clean(v)  # what a client's codec does; a node only sends cleaned text

    return check


_text = _text_of(MAX_TEXT)
_topic = _text_of(MAX_TOPIC)


def _ts(v: Any) -> float:
    if type(v) is not float and type(v) is not int:  # not a bool either
        raise ValueError("not a number")
    if not 0 <= v <= MAX_TS:  # NaN and the infinities fail too; a huge int compares exactly
        raise ValueError(f"not a time in [0, {MAX_TS:.0f}]")
    return float(v)


def _flag(v: Any) -> bool:
    if type(v) is not bool:
        raise ValueError("not a bool")
    return v


def _nicks(v: Any) -> list[str]:
    if type(v) is not list or len(v) > MAX_STATE_NAMES:
        raise ValueError(f"not a list of at most {MAX_STATE_NAMES} nicks")
    return [_nick(n) for n in v]


def _rooms(v: Any) -> list[RoomChunk]:
    if type(v) is not list or len(v) > MAX_STATE_NAMES:
        raise ValueError(f"not a list of at most {MAX_STATE_NAMES} rooms")
    rooms: list[RoomChunk] = []
    names = len(v)
    for room in v:
        if type(room) is not list or len(room) != 4:
            raise ValueError("each room is [folded, name, topic, [nicks]]")
        key, name, topic, members = room
        if fold(_room(name)) != _key(key):
            raise ValueError("a room key is not the folded name")
        names += len(members) if type(members) is list else 0
        if names > MAX_STATE_NAMES:
            raise ValueError(f"more than {MAX_STATE_NAMES} rooms and members")
        rooms.append((key, name, _topic(topic), _nicks(members)))
    return rooms


def _flags(v: Any) -> str:
    if type(v) is not str or len(v) > 3 or any(ch not in "imt" for ch in v):
        raise ValueError("not room flags (a subset of imt)")
    return v


def _limit(v: Any) -> int:
    if type(v) is not int or not 0 <= v <= 1_000_000:
        raise ValueError("not a member limit 0-1000000")
    return v


def _room_key_text(v: Any) -> str:
    """A room key (`+k`): empty, or what `moderation.check_key` accepts."""
    if type(v) is not str:
        raise ValueError("not a string")
    if v == "":
        return v
    try:
        return m.check_key(v)
    except ProtocolError:
        raise ValueError("not a room key") from None


def _nick_keys(limit: int) -> Callable[[Any], list[str]]:
    def check(v: Any) -> list[str]:
        if type(v) is not list or len(v) > limit:
            raise ValueError(f"not a list of at most {limit} folded nicks")
        return [_nick_key(n) for n in v]

    return check


def _masks(v: Any) -> list[str]:
    if type(v) is not list or len(v) > m.MAX_BANS:
        raise ValueError(f"not a list of at most {m.MAX_BANS} masks")
    out = []
    for mask in v:
        try:
            if type(mask) is not str or m.normalize_mask(mask) != mask:
                raise ValueError("not a normalised ban mask")
        except ProtocolError:
            raise ValueError("not a ban mask") from None
        out.append(mask)
    return out


def _mutes(v: Any) -> list[tuple[str, float]]:
    if type(v) is not list or len(v) > MAX_STATE_NAMES:
        raise ValueError(f"not a list of at most {MAX_STATE_NAMES} mutes")
    out = []
    for item in v:
        if type(item) is not list or len(item) != 2:
            raise ValueError("each mute is [folded nick, until]")
        out.append((_nick_key(item[0]), _ts(item[1])))
    return out


def _change(v: Any) -> str:
    if type(v) is not str or len(v) > 1024 or not (v == "" or v.isprintable()):
        raise ValueError("not a mode change")
    return v


def _net(v: Any) -> str:
    try:
        if type(v) is not str or m.parse_network(v) != v:
            raise ValueError("not a canonical network")
    except ProtocolError:
        raise ValueError("not a network") from None
    return v


_reason = _text_of(300)
_ops = _nick_keys(MAX_STATE_NAMES)
_invites = _nick_keys(m.MAX_INVITES)
_op_accounts = _nick_keys(m.MAX_OP_ACCOUNTS)


_Check = Callable[[Any], Any]
_FIELDS: dict[type[Any], tuple[_Check, ...]] = {
    Online: (_node, _nick),
    Offline: (_node, _nick, _text),
    Renamed: (_node, _nick, _nick),
    Joined: (_node, _key, _room, _nick),
    Parted: (_node, _room_key, _nick, _text),
    Topic: (_node, _key, _room, _topic, _by),
    Said: (_node, _key, _room, _nick, _text, _ts, _flag),
    Private: (_node, _nick_key, _nick, _text, _ts, _flag),
    Hello: (_node,),
    State: (_node, _flag, _nicks, _rooms),
    Beat: (_node,),
    Bye: (_node,),
    Modes: (_node, _key, _room, _by, _change, _flags, _limit, _room_key_text, _ops, _ops,
            _masks, _invites, _mutes, _op_accounts),
    Kicked: (_node, _key, _room, _nick, _nick, _reason),
    Invited: (_node, _key, _room, _nick, _nick),
    Killed: (_node, _nick, _nick, _reason),
    ServerBanned: (_node, _net, _ts, _reason, _by),
    Wallops: (_node, _nick, _text),
}  # fmt: skip
_PAIRED = (Joined, Topic, Said, Modes, Kicked, Invited)
"""Kinds whose fields 1 and 2 are a room's key (`_key`) and display name: key == fold(name)."""
_SPECS: dict[str, tuple[type[Any], tuple[str, ...], tuple[_Check, ...]]] = {
    cls.kind: (cls, tuple(f.name for f in fields(cls)), _FIELDS[cls]) for cls in _ALL
}
