"""IRC replies addressed to one client: numerics, with the recipient's nick first. Pure.

`chat.core.ircstate.IrcState` gathers what a reply needs (the recipient's nick, the command being
answered, counts from the hub) and calls these; nothing here reads the hub. Each numeric is
listed in docs/protocol.md, "IRC".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from chat.protocol import events as e
from chat.protocol.errors import (
    BAD_NICK,
    BAD_ROOM,
    BAD_UTF8,
    FLOOD,
    IDLE,
    INTERNAL_ERROR,
    KILLED,
    LINE_TOO_LONG,
    NICK_COLLISION,
    NICK_TAKEN,
    NO_SUCH_NICK,
    NOT_IN_ROOM,
    NOT_REGISTERED,
    ROOM_FULL,
    ROOM_LIMIT,
    SERVER_BANNED,
    SERVER_FULL,
    SHUTDOWN,
    SLOW_CONSUMER,
    TOO_MANY_CONNECTIONS,
    TOO_MANY_ROOMS,
    UNKNOWN_COMMAND,
)
from chat.protocol.irc import MAX_LINE, SERVER, line, mask, msgid, privmsgs, server_time

CLOSING = frozenset(
    {
        IDLE,
        FLOOD,
        SLOW_CONSUMER,
        INTERNAL_ERROR,
        NICK_COLLISION,
        SHUTDOWN,
        SERVER_FULL,
        TOO_MANY_CONNECTIONS,
        KILLED,
        SERVER_BANNED,
    }
)
"""Error codes sent just before the server closes the connection: `ERROR :...`."""
ROOM_ERRORS = frozenset({BAD_ROOM, ROOM_FULL, ROOM_LIMIT, TOO_MANY_ROOMS})
"""Errors about a room (after registration: about the default room)."""
USER_MODES = "i"
CHANNEL_MODES = "biklmnotv"


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What the registration burst says about this server."""

    version: str
    created: str
    isupport: tuple[str, ...]
    motd: tuple[str, ...]
    network: str = "chat"


@dataclass(frozen=True, slots=True)
class Counts:
    """LUSERS: users and rooms on every node, nodes, and this node's clients."""

    users: int
    rooms: int
    servers: int
    local: int


def welcome(nick: str, info: ServerInfo, counts: Counts) -> str:
    """001-005, LUSERS and the MOTD: what a client waits for before it calls itself online."""
    return (
        line("001", nick, f"Welcome to the {info.network} IRC network, {mask(nick)}")
        + line("002", nick, f"Your host is {SERVER}, running version {info.version}")
        + line("003", nick, f"This server was created {info.created}")
        + line("004", nick, SERVER, info.version, USER_MODES, CHANNEL_MODES, "bklov")
        + isupport(nick, info)
        + lusers(nick, counts)
        + motd(nick, info)
    )


def isupport(nick: str, info: ServerInfo) -> str:
    tokens = info.isupport
    return "".join(
        line("005", nick, *tokens[i : i + 12], "are supported by this server")
        for i in range(0, len(tokens), 12)
    )


def lusers(nick: str, counts: Counts) -> str:
    servers = counts.servers
    return (
        line("251", nick, f"There are {counts.users} users and 0 invisible on {servers} servers")
        + line("254", nick, str(counts.rooms), "channels formed")
        + line("255", nick, f"I have {counts.local} clients and {servers - 1} servers")
    )


def motd(nick: str, info: ServerInfo) -> str:
    if not info.motd:
        return line("422", nick, "MOTD File is missing")
    head = line("375", nick, f"- {SERVER} Message of the day - ")
    body = "".join(line("372", nick, f"- {text}") for text in info.motd)
    return head + body + line("376", nick, "End of /MOTD command.")


def names(
    nick: str,
    room: str,
    nicks: Sequence[str],
    total: int,
    masks: bool,
    prefixes: Sequence[str] = (),
    multi: bool = False,
) -> str:
    """353 lines of at most 512 bytes, then 366 (saying how many were left out, if any).
    `prefixes` (parallel to `nicks`): `@`, `+`, `@+` or ""; all of them with `multi`
    (multi-prefix), else the highest."""
    shown = [mask(n) if masks else n for n in nicks]
    if prefixes:
        shown = [(p if multi else p[:1]) + n for p, n in zip(prefixes, shown, strict=True)]
    head = len(f":{SERVER} 353 {nick} = {room} :\r\n")
    out: list[str] = []
    batch: list[str] = []
    size = head
    for name in shown:
        if batch and size + len(name) + 1 > MAX_LINE:
            out.append(line("353", nick, "=", room, " ".join(batch)))
            batch, size = [], head
        batch.append(name)
        size += len(name) + 1
    if batch:
        out.append(line("353", nick, "=", room, " ".join(batch)))
    end = "End of /NAMES list"
    if total > len(nicks):
        end += f" ({len(nicks)} of {total} shown)"
    return "".join(out) + line("366", nick, room, end)


def room_list(nick: str, rows: Iterable[tuple[str, int, str]]) -> str:
    body = "".join(line("322", nick, name, str(n), topic) for name, n, topic in rows)
    return line("321", nick, "Channel", "Users  Name") + body + line("323", nick, "End of /LIST")


def topic(nick: str, room: str, text: str, by: str, at: float) -> str:
    if not text:
        return line("331", nick, room, "No topic is set")
    out = line("332", nick, room, text)
    if by:
        out += line("333", nick, room, by, str(int(at)))
    return out


def error(nick: str, code: str, message: str, command: str, target: str, exists: bool) -> str:
    """A core error as the numeric an IRC client knows; FAIL (IRCv3 standard replies) for the
    ones IRC has no numeric for; `ERROR` when the connection is about to close."""
    if code in CLOSING:
        return line("ERROR", f"Closing link: {message}", source="")
    target = target or "*"
    if code == BAD_NICK:
        return line("432", nick, target, "Erroneous nickname")
    if code == NICK_TAKEN:
        return line("433", nick, target, "Nickname is already in use")
    if code == NO_SUCH_NICK:
        return line("401", nick, target, "No such nick/channel")
    if code == BAD_ROOM or (code == NOT_IN_ROOM and not exists and command != "NAMES"):
        return line("403", nick, target, "No such channel")
    if code == NOT_IN_ROOM:
        if command in ("PRIVMSG", "NOTICE"):
            return line("404", nick, target, "Cannot send to channel")
        if command == "NAMES":
            return line("366", nick, target, "End of /NAMES list")
        return line("442", nick, target, "You're not on that channel")
    if code == TOO_MANY_ROOMS:
        return line("405", nick, target, "You have joined too many channels")
    if code == ROOM_FULL:
        return line("471", nick, target, "Cannot join channel (+l)")
    if code == UNKNOWN_COMMAND:
        return line("421", nick, command or "*", "Unknown command")
    if code == NOT_REGISTERED:
        return line("451", nick, "You have not registered")
    if code == LINE_TOO_LONG:
        return line("417", nick, "Input line was too long")
    fail_code = "INVALID_UTF8" if code == BAD_UTF8 else code.upper().replace("-", "_")
    return line("FAIL", command or "*", fail_code, message)


def replayed(m: e.Message, batch: str, timed: bool, tagged: bool) -> str:
    """A message from history as it was sent live (the same `msgid`): in `batch` if the client
    has the batch capability, its `time` with server-time, its `msgid` with message-tags."""
    tags = [f"batch={batch}"] if batch else []
    if timed:
        tags.append(f"time={server_time(m.ts)}")
    mid = msgid(m.epoch, m.offset) if tagged else ""
    return privmsgs(m.nick, m.room, m.text, m.action, ";".join(tags), mid)


def history_batch(ref: str, target: str, body: str) -> str:
    """A CHATHISTORY reply framed as a `chathistory` batch about `target`."""
    return line("BATCH", f"+{ref}", "chathistory", target) + body + line("BATCH", f"-{ref}")
