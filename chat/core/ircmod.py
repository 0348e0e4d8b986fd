"""IRC's moderation commands as core commands, and the replies only IRC has for them.

`MODE #room ...`, `KICK`, `INVITE`, `OPER`, `KILL`, `WALLOPS` and the server bans (`SBAN`,
`UNSBAN`; not standard IRC, as every network has its own K-line command) become the core's
`Mode`, `Kick`, `Invite`, `Oper`, `Kill`, `ServerBan`, `Wallops` (`chat.core.modcommands`
carries out the room's, `chat.core.opercommands` the server operators'); user modes
(`MODE nick`) stay `chat.core.ircquery`'s. `reply` gives the numerics of the moderation events
addressed to one client (324, 341, 367/368, 381) and `numeric` those of the moderation errors
(482, 474, 473, 475, 404, 441, 443, 472, 481, 464, 491). No I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from chat.core import ircquery
from chat.core import moderation as m
from chat.protocol import commands as c
from chat.protocol import events as e
from chat.protocol.errors import (
    ALREADY_IN_ROOM,
    BAD_KEY,
    BAD_PASSWORD,
    BANNED,
    CANNOT_SEND,
    INVITE_ONLY,
    MUTED,
    NO_OPERS,
    NO_PRIVILEGES,
    NOT_IN_THAT_ROOM,
    NOT_OPERATOR,
)
from chat.protocol.irc import IrcMessage, line, mask, strip_formatting
from chat.protocol.sanitize import clean
from chat.protocol.text import parse_duration

if TYPE_CHECKING:
    from chat.core.ircstate import IrcState

MAX_KICKS = 4
"""Nicks one KICK may name (ISUPPORT `TARGMAX=...,KICK:4`)."""
ISUPPORT = (
    "CHANMODES=b,k,l,imnt",
    f"MAXLIST=b:{m.MAX_BANS}",
    f"MODES={m.MAX_MODES}",
    "PREFIX=(ov)@+",
)
"""What 005 says about moderation (chat.core.ircstate.server_info adds them)."""
CHANNEL_MODES = "biklmnotv"
"""004's channel modes."""


def _reason(msg: IrcMessage, index: int) -> str:
    return clean(strip_formatting(msg.params[index]))[:300] if len(msg.params) > index else ""


def mode(state: IrcState, msg: IrcMessage) -> Iterator[c.Command]:
    if not msg.params or not msg.params[0].startswith("#"):
        ircquery.answer(state, msg)  # user modes, 461
        return
    state.target = room = msg.params[0]
    if len(msg.params) == 1:
        yield c.Mode(room)
        return
    spec, args = msg.params[1], msg.params[2:]
    letters = spec.lstrip("+")
    if letters in ("e", "I"):  # exceptions and invite exceptions: there are none
        numeric, what = ("349", "exception") if letters == "e" else ("347", "invite")
        state.push(line(numeric, state.nick, room, f"End of channel {what} list"))
        return
    for ch in spec:
        if ch not in "+-" and (ch not in m.ROOM_MODES or ch == "e"):
            state.push(line("472", state.nick, ch, "is unknown mode char to me"))
            return
    yield c.Mode(room, spec, tuple(args))


def kick(state: IrcState, msg: IrcMessage) -> Iterator[c.Command]:
    if not state._need(msg, 2):
        return
    state.target = room = msg.params[0]
    reason = _reason(msg, 2)
    for nick in msg.params[1].split(",")[:MAX_KICKS]:
        if nick:
            yield c.Kick(nick, room, reason)


def invite(state: IrcState, msg: IrcMessage) -> Iterator[c.Command]:
    if not state._need(msg, 2):
        return
    state.target = msg.params[1]
    yield c.Invite(msg.params[0], msg.params[1])


def oper(state: IrcState, msg: IrcMessage) -> Iterator[c.Command]:
    if state._need(msg, 2):
        yield c.Oper(msg.params[0], msg.params[1])


def kill(state: IrcState, msg: IrcMessage) -> Iterator[c.Command]:
    if state._need(msg, 1):
        state.target = msg.params[0]
        yield c.Kill(msg.params[0], _reason(msg, 1))


def wallops(state: IrcState, msg: IrcMessage) -> Iterator[c.Command]:
    if state._need(msg, 1):
        yield c.Wallops(_reason(msg, 0))


def sban(state: IrcState, msg: IrcMessage) -> Iterator[c.Command]:
    """`SBAN` (list), `SBAN <addr|net> [duration] [:reason]`, `UNSBAN <addr|net>`."""
    if msg.command == "UNSBAN":
        if state._need(msg, 1):
            yield c.ServerBan(msg.params[0], remove=True)
        return
    if not msg.params:
        yield c.ServerBan()
        return
    seconds = parse_duration(msg.params[1]) if len(msg.params) > 1 else 0
    yield c.ServerBan(msg.params[0], seconds, _reason(msg, 2))


HANDLERS = {
    "MODE": mode,
    "KICK": kick,
    "INVITE": invite,
    "OPER": oper,
    "KILL": kill,
    "WALLOPS": wallops,
    "SBAN": sban,
    "UNSBAN": sban,
}


def reply(state: IrcState, event: e.Event) -> str | None:
    """The numerics of a moderation event for this client; None for another event."""
    nick = state.nick
    if isinstance(event, e.Modes):
        return line("324", nick, event.room, *event.modes.split())
    if isinstance(event, e.Invited):
        if event.by != nick or event.nick == nick:  # the invitee
            return line("INVITE", event.nick, event.room, source=mask(event.by))
        return line("341", nick, event.nick, event.room)
    if isinstance(event, e.BanList):
        if event.room == "*":  # the server's bans: no numeric for them
            rows = [line("NOTICE", nick, f"server ban: {text}") for text in event.masks]
            return "".join(rows) + line("NOTICE", nick, f"{len(event.masks)} server ban(s)")
        rows = [line("367", nick, event.room, ban) for ban in event.masks]
        return "".join(rows) + line("368", nick, event.room, "End of channel ban list")
    if isinstance(event, e.Notice) and event.code == "oper":
        return line("381", nick, "You are now an IRC operator")
    return None


def numeric(nick: str, code: str, message: str, target: str) -> str | None:
    """A moderation error as its numeric; None for another error."""
    if code == NOT_OPERATOR:
        return line("482", nick, target, "You're not channel operator")
    if code == BANNED:
        return line("474", nick, target, "Cannot join channel (+b)")
    if code == INVITE_ONLY:
        return line("473", nick, target, "Cannot join channel (+i)")
    if code == BAD_KEY:
        return line("475", nick, target, "Cannot join channel (+k)")
    if code in (CANNOT_SEND, MUTED):
        return line("404", nick, target, f"Cannot send to channel ({message})")
    if code == NOT_IN_THAT_ROOM:
        return line("441", nick, message.split()[0], target, "They aren't on that channel")
    if code == ALREADY_IN_ROOM:
        return line("443", nick, message.split()[0], target, "is already on channel")
    if code == NO_PRIVILEGES:
        return line("481", nick, "Permission Denied- You're not an IRC operator")
    if code == BAD_PASSWORD:
        return line("464", nick, "Password incorrect")
    if code == NO_OPERS:
        return line("491", nick, "No O-lines for your host")
    return None
