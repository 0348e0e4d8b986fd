"""Commands: what a client asks for, independent of the dialect it was typed in."""

from __future__ import annotations

from dataclasses import dataclass


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


Command = (
    Hello | Nick | Say | Me | Msg | Join | Part | Topic | Rooms | Who | Quit | Help | Ping | History
)
