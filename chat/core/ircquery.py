"""IRC queries the core has no command for: WHO, WHOIS, MODE, AWAY, USERHOST, ISON, MOTD,
LUSERS, VERSION, TIME. Each reads the hub (never changes it) and queues its numerics on the
asking connection. Lists are capped like the core's (`Limits.list_limit`), so a reply costs
O(page), not O(room). No I/O.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from chat.core.session import Session
from chat.protocol import ircreplies as r
from chat.protocol.irc import HOST, SERVER, IrcMessage, line, mask
from chat.protocol.names import fold
from chat.protocol.sanitize import clean

if TYPE_CHECKING:
    from chat.core.hub import Hub
    from chat.core.ircstate import IrcState

AWAY_LEN = 200


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


def _who_row(asker: str, room: str, nick: str, session: Session | None) -> str:
    realname, away = _about(session) if session is not None else ("remote user", "")
    flags = "G" if away else "H"
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
        for nick, session in itertools.islice(
            itertools.chain(local, others), hub.limits.list_limit
        ):
            rows.append(_who_row(asker, name, nick, session))
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
    hub, asker = state.conn.hub, state.nick
    if not msg.params:
        state.push(line("461", asker, "MODE", "Not enough parameters"))
        return
    target, change = msg.params[0], msg.params[1:]
    if not target.startswith("#"):
        if fold(target) != state.conn.folded:
            state.push(line("502", asker, "Can't change mode for other users"))
        elif not change:
            state.push(line("221", asker, "+"))
        else:  # +i/-i and the like are accepted and change nothing: everyone is invisible-ish
            state.push(line("MODE", asker, change[0], source=mask(asker)))
        return
    key = fold(target)
    room, remote = hub.rooms.get(key), hub.broker.view.room(key)
    if room is None and remote is None:
        state.push(line("403", asker, target, "No such channel"))
        return
    name = room.name if room else remote.name if remote else target
    if not change:
        state.push(line("324", asker, name, "+n"))
    elif change[0].lstrip("+") in ("b", "e", "I"):
        end = {"b": ("368", "ban"), "e": ("349", "exception"), "I": ("347", "invite")}
        numeric, what = end[change[0].lstrip("+")]
        state.push(line(numeric, asker, name, f"End of channel {what} list"))
    else:
        state.push(line("482", asker, name, "You're not channel operator"))


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
}


def answer(state: IrcState, msg: IrcMessage) -> bool:
    """Answer `msg` if it is one of these queries; False if it is none of them."""
    query = _QUERIES.get(msg.command)
    if query is None:
        return False
    query(state, msg)
    return True
