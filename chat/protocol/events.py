"""Events: what the server tells clients. Codecs turn each one into bytes of their dialect."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Welcome:
    nick: str
    version: int
    motd: str


@dataclass(frozen=True, slots=True)
class Message:
    room: str
    nick: str
    text: str
    ts: float
    action: bool = False
    offset: int = 0  # the room's offset of this message (0: no history, e.g. another node's)
    epoch: str = ""  # the room's history epoch
    replay: bool = False  # sent again from history (a resume, a page, the text dialect's join)


@dataclass(frozen=True, slots=True)
class Private:
    sender: str
    to: str
    text: str
    ts: float
    action: bool = False


@dataclass(frozen=True, slots=True)
class Joined:
    room: str
    nick: str
    members: int
    epoch: str = ""  # the room's history: epoch and latest offset ("" when history is off)
    offset: int = 0
    recovered: bool | None = None  # to a resuming joiner: did it get everything it missed?


@dataclass(frozen=True, slots=True)
class Parted:
    room: str
    nick: str
    reason: str
    members: int


@dataclass(frozen=True, slots=True)
class NickChanged:
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class Quitted:
    nick: str
    reason: str


@dataclass(frozen=True, slots=True)
class TopicIs:
    """A topic was set (`by` is the setter) or queried (`by` is None)."""

    room: str
    topic: str
    by: str | None = None


@dataclass(frozen=True, slots=True)
class RoomInfo:
    name: str
    members: int
    topic: str


@dataclass(frozen=True, slots=True)
class RoomList:
    rooms: tuple[RoomInfo, ...]
    total: int


@dataclass(frozen=True, slots=True)
class Members:
    """The members of a room; `nicks` is capped (see docs/protocol.md), `total` is not.
    `prefixes` (when not empty) is parallel to `nicks`: `@` operator, `+` voiced, or ""."""

    room: str
    nicks: tuple[str, ...]
    total: int
    prefixes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HelpText:
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Error:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Notice:
    """Server information for one client (greeting, idle warning, shutdown...)."""

    text: str
    code: str = "info"


@dataclass(frozen=True, slots=True)
class Pong:
    token: str = ""


@dataclass(frozen=True, slots=True)
class Bye:
    """The server is closing this connection; `reason` says why."""

    reason: str


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """A page of a room's history (`messages` oldest first, each with `replay` set)."""

    room: str
    epoch: str
    messages: tuple[Message, ...]


@dataclass(frozen=True, slots=True)
class ModeChanged:
    """`by` changed `room`'s modes: `change` as IRC writes it (`+o bob`, `+im`, `-k`)."""

    room: str
    by: str
    change: str


@dataclass(frozen=True, slots=True)
class Modes:
    """A room's modes, asked for: `+int`, `+ntl 10`, ..."""

    room: str
    modes: str


@dataclass(frozen=True, slots=True)
class Kicked:
    room: str
    nick: str
    by: str
    reason: str
    members: int


@dataclass(frozen=True, slots=True)
class Invited:
    """`by` invited `nick` to `room` (sent to both)."""

    room: str
    nick: str
    by: str


@dataclass(frozen=True, slots=True)
class BanList:
    """A room's ban masks (`room` is `*` for the server's address bans), capped."""

    room: str
    masks: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Wallops:
    by: str
    text: str


# --- accounts (issue 17) -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Account:
    """To one client: it is now identified to `account` (`event`: "registered" or
    "identified")."""

    event: str
    account: str


# --- end of accounts ------------------------------------------------------------------------

Event = (
    Welcome
    | Message
    | Private
    | Joined
    | Parted
    | NickChanged
    | Quitted
    | TopicIs
    | RoomList
    | Members
    | HelpText
    | Error
    | Notice
    | Pong
    | Bye
    | HistoryPage
    | ModeChanged
    | Modes
    | Kicked
    | Invited
    | BanList
    | Wallops
    | Account
)
