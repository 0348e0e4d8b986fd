"""IRC queries the core has no command for: WHO, WHOIS, MODE, AWAY, USERHOST, ISON, MOTD,
LUSERS, VERSION, TIME, CHATHISTORY. Each reads the hub (never changes it) and queues its
numerics on the asking connection. Lists are capped like the core's (`Limits.list_limit`), so
a reply costs O(page), not O(room); a CHATHISTORY reply at most `CHATHISTORY_MAX` messages and
half the asker's send queue. Every byte queued while a line is handled is charged to the
asker's rate limit by the connection. No I/O.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from chat.core import replay
from chat.core.history import Entry, MemoryHistory
from chat.core.session import Session
from chat.protocol import ircreplies as r
from chat.protocol.irc import HOST, SERVER, IrcMessage, line, mask, parse_msgid, parse_time
from chat.protocol.names import fold
from chat.protocol.sanitize import clean
from chat.protocol.text import HISTORY_PAGE

if TYPE_CHECKING:
    from chat.core.hub import Hub
    from chat.core.ircstate import IrcState
    from chat.core.rooms import Room

AWAY_LEN = 200
CHATHISTORY_MAX = HISTORY_PAGE
"""Messages one CHATHISTORY reply holds at most (ISUPPORT `CHATHISTORY`), as a JSON page."""
_REFS = {"LATEST": 1, "BEFORE": 1, "AFTER": 1, "AROUND": 1, "BETWEEN": 2}
"""CHATHISTORY subcommands and how many message references each takes."""


def counts(hub: Hub) -> r.Counts:
    view = hub.broker.view
    users = len(hub.nicks) + len(view.nicks)
    return r.Counts(users, len(hub.index), 1 + len(view.nodes), len(hub.nicks))


def _about(session: Session) -> tuple[str, str]:
    """(realname, away message) of a local user of any dialect."""
    state = getattr(session, "dialect", None)
    realname = getattr(state, "realname", "") or f"{session.codec.name} user"
    return realname, getattr(state, "away", "")


def tell_away(state: IrcState, target: str) -> None:
    """A PRIVMSG to an away IRC user: 301 to the sender (the message is delivered too)."""
    session = state.conn.hub.nicks.get(fold(target))
    if session is not None and session.nick:
        away = _about(session)[1]
        if away:
            state.push(line("301", state.nick, session.nick, away))


def _who_row(asker: str, room: str, nick: str, session: Session | None, prefix: str = "") -> str:
    realname, away = _about(session) if session is not None else ("remote user", "")
    flags = ("G" if away else "H") + prefix[:1]  # H@, H+ (only the highest: no multi-prefix)
    return line("352", asker, room, nick, HOST, SERVER, nick, flags, f"0 {realname}")


def _who(state: IrcState, msg: IrcMessage) -> None:
    hub, asker = state.conn.hub, state.nick
    what = msg.params[0] if msg.params else "*"
    key = fold(what)
    rows = []
    if what.startswith("#"):
        room, remote = hub.rooms.get(key), hub.broker.view.room(key)
        name = room.name if room else remote.name if remote else what
        local = ((s.nick or "", s) for s in (room.order if room else ()))
        others = ((n, None) for n in (remote.members.values() if remote else ()))
        page = list(itertools.islice(itertools.chain(local, others), hub.limits.list_limit))
        prefixes = hub.moderation.prefixes(key, tuple(nick for nick, _ in page))
        for i, (nick, session) in enumerate(page):
            rows.append(_who_row(asker, name, nick, session, prefixes[i] if prefixes else ""))
    else:
        session = hub.nicks.get(key)
        remote_nick = hub.broker.view.locate(key)
        if session is not None and session.nick:
            rows.append(_who_row(asker, "*", session.nick, session))
        elif remote_nick is not None:
            rows.append(_who_row(asker, "*", remote_nick[1], None))
    state.push("".join(rows) + line("315", asker, what, "End of WHO list"))


def _whois(state: IrcState, msg: IrcMessage) -> None:
    hub, asker = state.conn.hub, state.nick
    if not msg.params:
        state.push(line("431", asker, "No nickname given"))
        return
    wanted = msg.params[-1].split(",")[0]  # WHOIS [server] nick
    session, remote = hub.nicks.get(fold(wanted)), hub.broker.view.locate(fold(wanted))
    out = []
    if session is not None and session.nick:
        nick = session.nick
        realname, away = _about(session)
        out.append(line("311", asker, nick, nick, HOST, "*", realname))
        rooms = " ".join(room.name for room in session.rooms.values())
        if rooms:
            out.append(line("319", asker, nick, rooms))
        out.append(line("312", asker, nick, SERVER, f"chat ({session.codec.name} dialect)"))
        if away:
            out.append(line("301", asker, nick, away))
    elif remote is not None:
        node, nick = remote
        out.append(line("311", asker, nick, nick, HOST, "*", "remote user"))
        out.append(line("312", asker, nick, SERVER, f"chat node {node}"))
    else:
        nick = wanted
        out.append(line("401", asker, nick, "No such nick/channel"))
    state.push("".join(out) + line("318", asker, nick, "End of /WHOIS list"))


def _mode(state: IrcState, msg: IrcMessage) -> None:
    asker = state.nick
    if not msg.params:
        state.push(line("461", asker, "MODE", "Not enough parameters"))
        return
    target, change = msg.params[0], msg.params[1:]  # a room's modes: chat.core.ircmod
    if fold(target) != state.conn.folded:
        state.push(line("502", asker, "Can't change mode for other users"))
    elif not change:
        state.push(line("221", asker, "+"))
    else:  # +i/-i and the like are accepted and change nothing: everyone is invisible-ish
        state.push(line("MODE", asker, change[0], source=mask(asker)))


def _away(state: IrcState, msg: IrcMessage) -> None:
    text = clean(msg.params[0])[:AWAY_LEN] if msg.params else ""
    state.away = text
    if text:
        state.push(line("306", state.nick, "You have been marked as being away"))
    else:
        state.push(line("305", state.nick, "You are no longer marked as being away"))


def _userhost(state: IrcState, msg: IrcMessage) -> None:
    hub, found = state.conn.hub, []
    for nick in msg.params[:5]:
        session = hub.nicks.get(fold(nick))
        if session is not None and session.nick:
            sign = "-" if _about(session)[1] else "+"
            found.append(f"{session.nick}={sign}{session.nick}@{HOST}")
    state.push(line("302", state.nick, " ".join(found)))


def _ison(state: IrcState, msg: IrcMessage) -> None:
    hub, found = state.conn.hub, []
    for nick in " ".join(msg.params).split()[:100]:
        session = hub.nicks.get(fold(nick))
        if session is not None and session.nick:
            found.append(session.nick)
        elif (remote := hub.broker.view.locate(fold(nick))) is not None:
            found.append(remote[1])
    state.push(line("303", state.nick, " ".join(found)))


def _time(state: IrcState, msg: IrcMessage) -> None:
    now = time.strftime("%A %B %d %Y -- %H:%M:%S UTC", time.gmtime())
    state.push(line("391", state.nick, SERVER, now))


def _version(state: IrcState, msg: IrcMessage) -> None:
    nick, info = state.nick, state.info
    state.push(line("351", nick, info.version, SERVER, "chat") + r.isupport(nick, info))


def _motd(state: IrcState, msg: IrcMessage) -> None:
    state.push(r.motd(state.nick, state.info))


def _lusers(state: IrcState, msg: IrcMessage) -> None:
    state.push(r.lusers(state.nick, counts(state.conn.hub)))


class Ref(NamedTuple):
    """A CHATHISTORY message reference as offsets: the messages before it are those below
    `below`, the ones after it those above `above` (a msgid: both are its offset; a
    timestamp falls between messages)."""

    below: int
    above: int


class HistoryError(Exception):
    """A CHATHISTORY request answered with `FAIL CHATHISTORY <code> <context...> :<text>`."""

    def __init__(self, code: str, *context: str) -> None:
        super().__init__(code)
        self.code = code
        self.context = context


_FAIL_TEXT = {
    "INVALID_PARAMS": "Invalid parameters",
    "INVALID_TARGET": "Messages could not be retrieved",
    "MESSAGE_ERROR": "Messages could not be retrieved",
}


def _chathistory(state: IrcState, msg: IrcMessage) -> None:
    """`CHATHISTORY LATEST|BEFORE|AFTER|AROUND|BETWEEN #room <ref> [<ref>] <limit>`
    (draft/chathistory): messages of a room the asker is in, oldest first, in a `chathistory`
    batch if it has `batch`. Without history (cluster mode) the command does not exist."""
    history = state.conn.hub.history
    if history is None:
        state.push(line("421", state.nick, msg.command, "Unknown command"))
        return
    try:
        room, entries, pivot = _history_query(state, history, msg.params)
    except HistoryError as err:
        text = _FAIL_TEXT.get(err.code, "Messages could not be retrieved")
        state.push(line("FAIL", "CHATHISTORY", err.code, *err.context, text))
        return
    conn, caps = state.conn, state.caps
    batch = state.new_batch() if "batch" in caps else ""
    page = replay.page(history, room.name, room.folded, entries)
    timed, tagged = "server-time" in caps, "message-tags" in caps
    lines = [r.replayed(m, batch, timed, tagged).encode() for m in page.messages]
    frame = r.history_batch(batch, room.name, "").encode() if batch else b""
    lo, hi = _window([len(x) for x in lines], conn.max_bytes // 2 - len(frame), pivot)
    body = b"".join(lines[lo:hi]).decode()
    state.push(r.history_batch(batch, room.name, body) if batch else body)


def _history_query(
    state: IrcState, history: MemoryHistory, params: list[str]
) -> tuple[Room, list[Entry], int]:
    """The room asked about, its messages (oldest first), and the index they are kept from
    if the reply must be cut (the reference's side: 0 keeps the oldest, len the newest)."""
    sub = params[0].upper() if params and params[0] else "*"
    count = _REFS.get(sub)
    if count is None:
        raise HistoryError("INVALID_PARAMS", _word(sub))
    if len(params) != 3 + count:
        raise HistoryError("INVALID_PARAMS", sub)
    target = params[1]
    room = state.conn.rooms.get(fold(target)) if target.startswith("#") else None
    if room is None:  # not a room the asker is in (private messages are not kept)
        raise HistoryError("INVALID_TARGET", sub, _word(target))
    key = room.folded
    epoch, last = history.position(key)
    refs = [_ref(history, key, epoch, last, sub, target, p) for p in params[2 : 2 + count]]
    limit = _limit(sub, params[-1])
    first = refs[0]
    if first is None:  # LATEST * (and BEFORE *, which some clients send for it)
        entries = history.page(key, limit=limit)
        return room, entries, len(entries)
    if sub == "LATEST":
        entries = [m for m in history.page(key, limit=limit) if m.offset > first.above]
        return room, entries, len(entries)
    if sub == "BEFORE":
        entries = history.page(key, before=first.below, limit=limit)
        return room, entries, len(entries)
    if sub == "AFTER":
        return room, history.page(key, after=first.above, limit=limit), 0
    if sub == "AROUND":  # half before it, the rest from it on (more of one if the other ends)
        before = history.page(key, before=first.below, limit=limit)
        after = history.page(key, after=first.below - 1, limit=limit)
        n = min(len(before), max(limit // 2, limit - len(after)))
        return room, before[len(before) - n :] + after[: limit - n], n
    second = refs[1]
    assert second is not None
    if first <= second:  # BETWEEN, forwards: the oldest after the first reference
        page = history.page(key, after=first.above, limit=limit)
        return room, [m for m in page if m.offset < second.below], 0
    page = history.page(key, before=first.below, limit=limit)  # backwards: the newest
    entries = [m for m in page if m.offset > second.above]
    return room, entries, len(entries)


def _ref(
    history: MemoryHistory, key: str, epoch: str, last: int, sub: str, target: str, text: str
) -> Ref | None:
    """A message reference: `msgid=<epoch>-<offset>`, `timestamp=<UTC time>`, or `*` (None)."""
    if text == "*" and sub in ("LATEST", "BEFORE"):
        return None
    kind, _, value = text.partition("=")
    kind = kind.lower()
    if kind == "msgid":
        found = parse_msgid(value)
        if found is None or found[0] != epoch or not 1 <= found[1] <= last:
            # not a message of this room's history as it is (another room's, or history
            # lost since): no place to answer from, and silence would hide a gap
            raise HistoryError("MESSAGE_ERROR", sub, _word(target), _word(text))
        return Ref(found[1], found[1])
    ms = parse_time(value) if kind == "timestamp" else None
    if ms is None:
        raise HistoryError("INVALID_PARAMS", sub, _word(text))
    below = replay.first_at(history, key, ms, strict=False)
    return Ref(below, replay.first_at(history, key, ms, strict=True) - 1)


def _limit(sub: str, text: str) -> int:
    """At most `CHATHISTORY_MAX` (0, or more than that, is the maximum, as ergo does)."""
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise HistoryError("INVALID_PARAMS", sub, _word(text))
    limit = int(text)
    return CHATHISTORY_MAX if limit == 0 or limit > CHATHISTORY_MAX else limit


def _word(text: str) -> str:
    """A client's parameter echoed back as a middle parameter: one word, no leading colon."""
    words = clean(text).split()
    return (words[0][:64].lstrip(":") if words else "") or "*"


def _window(sizes: list[int], budget: int, pivot: int) -> tuple[int, int]:
    """The widest run `[lo, hi)` of messages around `pivot` whose bytes fit `budget`, grown
    one message at a time on each side in turn (a side stops at a message that does not fit):
    a reply never overflows the asker's send queue; the messages nearest the reference stay."""
    lo = hi = pivot
    grew = True
    while grew:
        grew = False
        if hi < len(sizes) and sizes[hi] <= budget:
            budget -= sizes[hi]
            hi, grew = hi + 1, True
        if lo > 0 and sizes[lo - 1] <= budget:
            budget -= sizes[lo - 1]
            lo, grew = lo - 1, True
    return lo, hi


_QUERIES: dict[str, Callable[[IrcState, IrcMessage], None]] = {
    "WHO": _who,
    "WHOIS": _whois,
    "MODE": _mode,
    "AWAY": _away,
    "USERHOST": _userhost,
    "ISON": _ison,
    "TIME": _time,
    "VERSION": _version,
    "MOTD": _motd,
    "LUSERS": _lusers,
    "CHATHISTORY": _chathistory,
}


def answer(state: IrcState, msg: IrcMessage) -> bool:
    """Answer `msg` if it is one of these queries; False if it is none of them."""
    query = _QUERIES.get(msg.command)
    if query is None:
        return False
    query(state, msg)
    return True
