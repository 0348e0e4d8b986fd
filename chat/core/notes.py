"""Notes: what one node tells the others happened (a nick came online, a message was said...).

Pure data, owned by the core: the hub publishes notes through its broker (`chat.core.broker`)
and the remote view (`chat.core.remote`) is kept from them. How they travel is the cluster's
business (`chat.cluster.wire` encodes and validates them; `chat.cluster.natsbroker` sends them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


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


RoomChunk = tuple[str, str, str, list[str]]
"""One room in a `State` note: folded name, display name, topic, some of its members."""


@dataclass(frozen=True, slots=True)
class State:
    """One chunk of a node's whole presence. `first` chunks replace what was known of it.

    `nicks` are its registered nicks; `rooms` are `(folded, name, topic, [nicks...])` (a JSON
    array on the wire). A room with many members may come in several entries.
    """

    kind: ClassVar[str] = "state"
    node: str
    first: bool
    nicks: list[str]
    rooms: list[RoomChunk]


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


# --- moderation (chat.core.modstate) -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Modes:
    """A room's whole moderation state after a change (`by` and `change` say which, as
    `ModeChanged` shows it; both "" for a silent one: a mute, an invitation, a sync after
    `hello`). The receiver replaces what it held: the last writer wins."""

    kind: ClassVar[str] = "modes"
    node: str
    room: str  # folded
    name: str
    by: str
    change: str
    flags: str  # a subset of "imt"
    limit: int
    key: str
    ops: list[str]  # folded nicks
    voiced: list[str]
    bans: list[str]  # normalised masks
    invites: list[str]  # folded nicks
    mutes: list[tuple[str, float]]  # (folded nick, until)
    op_accounts: list[str]  # folded account names, oldest first (RoomModes.op_accounts)


@dataclass(frozen=True, slots=True)
class Kicked:
    """`by` kicked `nick` out of a room; the node holding `nick` removes it."""

    kind: ClassVar[str] = "kicked"
    node: str
    room: str  # folded
    name: str
    nick: str
    by: str
    reason: str


@dataclass(frozen=True, slots=True)
class Invited:
    kind: ClassVar[str] = "invited"
    node: str
    room: str  # folded
    name: str
    nick: str
    by: str


@dataclass(frozen=True, slots=True)
class Killed:
    """A server operator disconnected `nick`; the node holding it cuts it."""

    kind: ClassVar[str] = "killed"
    node: str
    nick: str
    by: str
    reason: str


@dataclass(frozen=True, slots=True)
class ServerBanned:
    """A server ban on the network `net` until `until` (0: lifted)."""

    kind: ClassVar[str] = "sban"
    node: str
    net: str
    until: float
    reason: str
    by: str


@dataclass(frozen=True, slots=True)
class Wallops:
    kind: ClassVar[str] = "wallops"
    node: str
    by: str
    text: str


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
    | Modes
    | Kicked
    | Invited
    | Killed
    | ServerBanned
    | Wallops
)
