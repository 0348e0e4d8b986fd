"""Commands: what a client asks for, independent of the dialect it was typed in."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Hello:
    """JSON dialect handshake: the first line of a program client."""

    nick: str
    version: int


@dataclass(frozen=True, slots=True)
class Nick:
    nick: str


@dataclass(frozen=True, slots=True)
class Say:
    """A message to a room (the current room when `room` is None)."""

    text: str
    room: str | None = None


@dataclass(frozen=True, slots=True)
class Me:
    """An action (`/me waves`) in a room (the current room when `room` is None)."""

    text: str
    room: str | None = None


@dataclass(frozen=True, slots=True)
class Msg:
    """A private message to one nick (`action`: a /me, as IRC's CTCP ACTION sends it)."""

    to: str
    text: str
    action: bool = False


@dataclass(frozen=True, slots=True)
class Join:
    room: str
    since: tuple[str, int] | None = None
    """Resume: `(epoch, offset)` of the last message seen; what came after is sent first."""
    key: str | None = None
    """The room's key, for a room with one (`+k`)."""


@dataclass(frozen=True, slots=True)
class Part:
    room: str | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Topic:
    """Show (text is None) or set the topic of a room (the current room when `room` is None)."""

    room: str | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Rooms:
    pass


@dataclass(frozen=True, slots=True)
class Who:
    room: str | None = None


@dataclass(frozen=True, slots=True)
class Quit:
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Help:
    pass


@dataclass(frozen=True, slots=True)
class Ping:
    token: str = ""


@dataclass(frozen=True, slots=True)
class History:
    """A page of a room's history: before or after an offset, or (neither) the latest."""

    room: str | None = None
    before: int | None = None
    after: int | None = None
    limit: int = 10


# --- moderation (chat.core.modcommands; docs/protocol.md "Moderation") ----------------------


@dataclass(frozen=True, slots=True)
class Mode:
    """Show (`changes` empty) or change a room's modes: `+im-t`, `+o` with `args` (bob), ..."""

    room: str | None = None
    changes: str = ""
    args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Kick:
    nick: str
    room: str | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Invite:
    nick: str
    room: str | None = None


@dataclass(frozen=True, slots=True)
class Bans:
    """List a room's ban masks."""

    room: str | None = None


@dataclass(frozen=True, slots=True)
class Mute:
    """Mute a member for `seconds` (0: unmute)."""

    nick: str
    seconds: int
    room: str | None = None


@dataclass(frozen=True, slots=True)
class Oper:
    """Become a server operator (`--oper NAME:HASH`)."""

    name: str
    password: str


@dataclass(frozen=True, slots=True)
class Kill:
    nick: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ServerBan:
    """Refuse an address or network (`mask`) for `seconds` (0: the longest); `remove` lifts
    it; an empty `mask` lists them."""

    mask: str = ""
    seconds: int = 0
    reason: str = ""
    remove: bool = False


@dataclass(frozen=True, slots=True)
class Wallops:
    text: str


# --- accounts (issue 17; docs/protocol.md, "Accounts") ---------------------------------------
# A password is never part of a repr: a command that reaches a log line or a traceback by
# mistake still does not carry it.


@dataclass(frozen=True, slots=True)
class Register:
    """Register the current nick as an account with this password (and identify to it)."""

    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Identify:
    """Identify to `account` (None: the current nick's) with this password."""

    password: str = field(repr=False)
    account: str | None = None


# --- end of accounts ------------------------------------------------------------------------

Command = (
    Hello
    | Nick
    | Say
    | Me
    | Msg
    | Join
    | Part
    | Topic
    | Rooms
    | Who
    | Quit
    | Help
    | Ping
    | History
    | Mode
    | Kick
    | Invite
    | Bans
    | Mute
    | Oper
    | Kill
    | ServerBan
    | Wallops
    | Register
    | Identify
)
