"""One IRC connection's state: registration, capabilities, and IRC lines as core commands.

Theory of operation
-------------------
The IRC listener attaches an `IrcState` to each new `Connection` (`attach`): the connection's
codec becomes the shared `IrcCodec` of its capability set, and its lines go to `decode`
instead of a stateless codec. `decode` is a generator: it answers what is IRC's alone (CAP,
USER, PING, WHO, WHOIS, MODE, AWAY, ...) by queueing replies itself (`chat.core.ircquery`), and
yields core commands (`Say`, `Msg`, `Join`, ...) one at a time for the hub. While the hub
handles one, `command` and `target` say what is being answered, so an error becomes the
right numeric (`JOIN #a,#b` failing on `#b` names `#b`).

Registration: `NICK` and `USER` in any order, `PASS` ignored; while a `CAP LS`/`CAP REQ` is
open (until `CAP END`) it waits. Then one `Nick` command goes to the hub, whose `Welcome`
comes back through `reply` as 001-005, LUSERS and the MOTD (and the hub joins the default
room, as for every dialect). A refused nick (433) leaves the client unregistered until
another `NICK`.

Replies: the hub queues events on the connection (`Connection.send`), which asks `reply` for
their bytes: replies addressed to this client carry its nick (numerics); the events a room
fans out are the shared codec's bytes. No I/O here.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

from chat.core import ircaccounts, ircmod, ircquery
from chat.core.hub import Limits
from chat.protocol import commands as c
from chat.protocol import events as e
from chat.protocol import ircreplies as r
from chat.protocol.errors import BAD_UTF8, NICK_TAKEN, ProtocolError
from chat.protocol.irc import (
    IRC,
    SERVER,
    IrcMessage,
    codec_for,
    encode_common,
    line,
    parse,
    split_action,
    strip_formatting,
)
from chat.protocol.names import MAX_NICK, MAX_ROOM, check_nick, fold
from chat.protocol.sanitize import clean

if TYPE_CHECKING:
    from chat.core.connection import Connection

CAPS = (
    "batch",
    "echo-message",
    "message-tags",
    "multi-prefix",
    "server-time",
    "userhost-in-names",
)
"""Capabilities offered (multi-prefix: NAMES shows `@+` for an operator with voice)."""
HISTORY_CAPS = tuple(sorted((*CAPS, "draft/chathistory")))
"""... and with history on (not in cluster mode: `Hub.history` is None there)."""
HISTORY_ISUPPORT = (f"CHATHISTORY={ircquery.CHATHISTORY_MAX}", "MSGREFTYPES=msgid,timestamp")
MAX_TARGETS = 4
MOTD = (
    "This is chat: rooms are shared with netcat (text) and JSON-lines clients.",
    "Colour and formatting codes are removed from what you send; CTCP other than ACTION is",
    "not relayed. See docs/protocol.md, section IRC.",
)
_BEFORE_REGISTRATION = frozenset(
    {"CAP", "NICK", "USER", "PASS", "PING", "PONG", "QUIT", "AUTHENTICATE"}
)
_BROADCAST = (
    e.Message, e.Private, e.Joined, e.Parted, e.NickChanged, e.Quitted, e.ModeChanged, e.Kicked,
    e.Wallops,
)  # fmt: skip


def server_info(limits: Limits, version: str, started: float) -> r.ServerInfo:
    """The registration burst's constants: ISUPPORT from the hub's real limits."""
    isupport = tuple(
        sorted(
            (
                "AWAYLEN=200",
                "CASEMAPPING=ascii",
                f"CHANLIMIT=#:{limits.max_rooms_per_client}",
                f"CHANNELLEN={MAX_ROOM + 1}",
                "CHANTYPES=#",
                "NETWORK=chat",
                f"NICKLEN={MAX_NICK}",
                f"TARGMAX=PRIVMSG:{MAX_TARGETS},NOTICE:{MAX_TARGETS},JOIN:,PART:,NAMES:,"
                f"KICK:{ircmod.MAX_KICKS}",
                f"TOPICLEN={limits.max_topic}",
                "UTF8ONLY",
                *ircmod.ISUPPORT,  # CHANMODES, MAXLIST, MODES, PREFIX
            )
        )
    )
    created = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(started))
    return r.ServerInfo(f"chat-{version}", created, isupport, MOTD)


@functools.cache
def _with_history(info: r.ServerInfo) -> r.ServerInfo:
    return replace(info, isupport=tuple(sorted((*info.isupport, *HISTORY_ISUPPORT))))


def attach(conn: Connection, info: r.ServerInfo) -> IrcState:
    """Make `conn` an IRC connection (the IRC listener's factory calls this). With history
    on, ISUPPORT also says `CHATHISTORY` and `MSGREFTYPES`."""
    if conn.hub.history is not None:
        info = _with_history(info)
    state = IrcState(conn, info)
    conn.codec = IRC
    conn.dialect = state
    return state


class IrcState:
    __slots__ = (
        "away",
        "batches",
        "cap_open",
        "caps",
        "command",
        "conn",
        "info",
        "realname",
        "sasl",
        "target",
        "user",
        "wanted",
    )

    def __init__(self, conn: Connection, info: r.ServerInfo) -> None:
        self.conn = conn
        self.info = info
        self.caps: frozenset[str] = frozenset()
        self.cap_open = False
        self.wanted: str | None = None  # a NICK waiting for USER (or CAP END)
        self.user: str | None = None
        self.realname = ""
        self.away = ""
        self.batches = 0  # batches started (their reference tags are `h1`, `h2`, ...)
        self.command = "*"  # the IRC command being answered ...
        self.target = ""  # ... and the channel or nick it is about right now
        self.sasl: ircaccounts.Sasl | None = None  # accounts: a SASL exchange under way

    @property
    def nick(self) -> str:
        return self.conn.nick or "*"

    def push(self, text: str) -> None:
        if text:
            self.conn.push(text.encode())

    def new_batch(self) -> str:
        """A batch reference tag no other batch of this connection has."""
        self.batches += 1
        return f"h{self.batches}"

    @property
    def offered(self) -> tuple[str, ...]:
        caps = CAPS if self.conn.hub.history is None else HISTORY_CAPS
        return (*caps, ircaccounts.CAP) if ircaccounts.offered(self) else caps

    # --- input --------------------------------------------------------------------------------
    def decode(self, data: bytes) -> Iterator[c.Command]:
        """One line: replies queued here, core commands yielded one at a time. Afterwards
        the context is `*` again (a rate-limit error between lines is about no command)."""
        try:
            yield from self._decode(data)
        except ProtocolError as err:
            self.conn.hub.error(self.conn, err)
        self.command, self.target = "*", ""

    def _decode(self, data: bytes) -> Iterator[c.Command]:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError(BAD_UTF8, "line is not valid UTF-8; it was dropped") from None
        msg = parse(text)
        if msg is None:
            return
        self.command, self.target = msg.command, ""
        if self.conn.nick is None and msg.command not in _BEFORE_REGISTRATION:
            self.push(line("451", "*", "You have not registered"))
            return
        handler = _HANDLERS.get(msg.command)
        if handler is not None:
            yield from handler(self, msg)
        elif not ircquery.answer(self, msg):
            self.push(line("421", self.nick, msg.command[:32], "Unknown command"))

    def _need(self, msg: IrcMessage, count: int) -> bool:
        if len(msg.params) >= count and all(msg.params[:count]):
            return True
        self.push(line("461", self.nick, msg.command, "Not enough parameters"))
        return False

    # --- registration ---------------------------------------------------------------------------
    def _cap(self, msg: IrcMessage) -> Iterator[c.Command]:
        sub = msg.params[0].upper() if msg.params else ""
        registered = self.conn.nick is not None
        if sub == "LS":
            self.cap_open = not registered
            self.push(line("CAP", self.nick, "LS", ircaccounts.cap_ls(self.offered, msg)))
        elif sub == "LIST":
            self.push(line("CAP", self.nick, "LIST", " ".join(sorted(self.caps))))
        elif sub == "REQ":
            self.cap_open = not registered
            asked = msg.params[1] if len(msg.params) > 1 else ""
            names = asked.split()
            offered = self.offered
            if not names or any(name.removeprefix("-") not in offered for name in names):
                self.push(line("CAP", self.nick, "NAK", asked))
            else:
                on = {n for n in names if not n.startswith("-")}
                self._set_caps((self.caps | on) - {n[1:] for n in names if n.startswith("-")})
                self.push(line("CAP", self.nick, "ACK", asked))
        elif sub == "END":
            self.cap_open = False
            yield from self._register()
        else:
            self.push(line("410", self.nick, sub or "*", "Invalid CAP command"))

    def _set_caps(self, caps: frozenset[str]) -> None:
        """New capabilities; a new codec regroups this connection in its rooms."""
        self.caps = caps
        codec = codec_for("server-time" in caps, "echo-message" in caps, "message-tags" in caps)
        conn = self.conn
        if codec is conn.codec:
            return
        old, conn.codec = conn.codec, codec
        for room in conn.rooms.values():
            room.regroup(conn, old)

    def _nick(self, msg: IrcMessage) -> Iterator[c.Command]:
        if not msg.params or not msg.params[0]:
            self.push(line("431", self.nick, "No nickname given"))
            return
        self.target = wanted = msg.params[0]
        if self.conn.nick is not None:
            yield c.Nick(wanted)
            return
        nick = check_nick(wanted)  # refused early with 432 / 433, before USER
        if fold(nick) in self.conn.hub.nicks:
            raise ProtocolError(NICK_TAKEN, f'nick "{nick}" is taken; pick another')
        self.wanted = nick
        yield from self._register()

    def _user(self, msg: IrcMessage) -> Iterator[c.Command]:
        if self.conn.nick is not None or self.user is not None:
            self.push(line("462", self.nick, "You may not reregister"))
            return
        if not self._need(msg, 4):
            return
        self.user, self.realname = clean(msg.params[0])[:24], clean(msg.params[3])[:64]
        yield from self._register()

    def _register(self) -> Iterator[c.Command]:
        conn = self.conn
        if conn.nick is None and self.wanted and self.user is not None and not self.cap_open:
            self.target, self.wanted = self.wanted, None
            self.command = "NICK"
            yield c.Nick(self.target)

    def _pass(self, msg: IrcMessage) -> Iterator[c.Command]:
        if self.conn.nick is not None:
            self.push(line("462", self.nick, "You may not reregister"))
        else:
            ircaccounts.password(self, msg)  # accounts: identify once the nick is accepted
        return iter(())

    def _ping(self, msg: IrcMessage) -> Iterator[c.Command]:
        if not msg.params:
            self.push(line("409", self.nick, "No origin specified"))
        else:
            self.push(line("PONG", SERVER, msg.params[0]))
        return iter(())

    def _ignore(self, msg: IrcMessage) -> Iterator[c.Command]:
        """PONG: any complete line is activity, which was its whole purpose. TAGMSG: client
        tags (typing notifications, reactions) have no way through the core; dropped."""
        return iter(())

    def _quit(self, msg: IrcMessage) -> Iterator[c.Command]:
        yield c.Quit(clean(strip_formatting(msg.params[0]))[:300] if msg.params else "")

    # --- chat -----------------------------------------------------------------------------------
    def _privmsg(self, msg: IrcMessage) -> Iterator[c.Command]:
        notice = msg.command == "NOTICE"
        if not msg.params or not msg.params[0]:
            if not notice:
                self.push(line("411", self.nick, f"No recipient given ({msg.command})"))
            return
        if len(msg.params) < 2 or not msg.params[1]:
            if not notice:
                self.push(line("412", self.nick, "No text to send"))
            return
        body = split_action(msg.params[1])
        if body is None:  # CTCP other than ACTION: not relayed (docs/protocol.md)
            return
        text = clean(strip_formatting(body[0]))
        if not text.strip():
            return
        for target in msg.params[0].split(",")[:MAX_TARGETS]:
            if not target:
                continue
            self.target = target
            if target.startswith("#"):
                yield c.Me(text, target) if body[1] else c.Say(text, target)
                continue
            if not notice:
                ircquery.tell_away(self, target)
            yield c.Msg(target, text, body[1])

    def _join(self, msg: IrcMessage) -> Iterator[c.Command]:
        if not self._need(msg, 1):
            return
        if msg.params[0] == "0":
            for room in list(self.conn.rooms.values()):
                self.target = room.name
                yield c.Part(room.name, "")
            return
        keys = msg.params[1].split(",") if len(msg.params) > 1 else []
        for i, name in enumerate(msg.params[0].split(",")):
            if name:
                self.target = name
                yield c.Join(name, None, keys[i] if i < len(keys) and keys[i] else None)

    def _part(self, msg: IrcMessage) -> Iterator[c.Command]:
        if not self._need(msg, 1):
            return
        reason = clean(strip_formatting(msg.params[1]))[:300] if len(msg.params) > 1 else ""
        for name in msg.params[0].split(","):
            if name:
                self.target = name
                yield c.Part(name, reason)

    def _topic(self, msg: IrcMessage) -> Iterator[c.Command]:
        if not self._need(msg, 1):
            return
        self.target = msg.params[0]
        if len(msg.params) < 2:
            yield c.Topic(self.target)
            return
        limit = self.conn.hub.limits.max_topic  # longer topics are cut, as IRC servers do
        yield c.Topic(self.target, clean(strip_formatting(msg.params[1]))[:limit])

    def _names(self, msg: IrcMessage) -> Iterator[c.Command]:
        if not msg.params or not msg.params[0]:
            self.push(line("366", self.nick, "*", "End of /NAMES list"))
            return
        for name in msg.params[0].split(","):
            if name:
                self.target = name
                yield c.Who(name)

    def _list(self, msg: IrcMessage) -> Iterator[c.Command]:
        yield c.Rooms()  # filters (LIST #a, LIST >10) are ignored: the biggest rooms come

    # --- output ---------------------------------------------------------------------------------
    def reply(self, event: e.Event) -> bytes:
        """`event`'s bytes for this client: numerics carry its nick; what rooms fan out is
        the shared codec's (the same bytes every IRC member with these capabilities gets)."""
        if isinstance(event, _BROADCAST) or (isinstance(event, e.TopicIs) and event.by):
            return self.conn.codec.encode(event)
        return self._reply(event).encode()

    def _reply(self, event: e.Event) -> str:
        nick = self.nick
        hub = self.conn.hub
        moderation = ircmod.reply(self, event)  # 324, 341, 367/368, 381
        if moderation is not None:
            return moderation
        if hub.accounts is not None:
            answer = ircaccounts.reply(self, event)
            if answer is not None:
                return answer
        if isinstance(event, e.Welcome):
            return r.welcome(event.nick, self.info, ircquery.counts(hub))
        if isinstance(event, e.Members):
            masks, multi = "userhost-in-names" in self.caps, "multi-prefix" in self.caps
            return r.names(nick, event.room, event.nicks, event.total, masks, event.prefixes, multi)
        if isinstance(event, e.RoomList):
            return r.room_list(nick, ((i.name, i.members, i.topic) for i in event.rooms))
        if isinstance(event, e.TopicIs):
            room = hub.rooms.get(fold(event.room))
            by, at = (room.topic_by, room.topic_at) if room is not None else ("", 0.0)
            return r.topic(nick, event.room, event.topic, by, at)
        if isinstance(event, e.Error):
            if self.command == "NOTICE" and event.code not in r.CLOSING:
                return ""  # never an automatic reply to a NOTICE
            target = self.target
            if self.command == "NICK" and event.code in r.ROOM_ERRORS:  # joining the default
                target = hub.limits.default_room
            numeric = ircmod.numeric(nick, event.code, event.message, target or "*")
            if numeric is not None:
                return numeric
            exists = fold(target) in hub.rooms or hub.broker.view.room(fold(target))
            return r.error(nick, event.code, event.message, self.command, target, bool(exists))
        if isinstance(event, e.Notice):
            if event.code == "idle-warning":
                return line("PING", SERVER, source="")  # a live client answers PONG
            if event.code in ("greeting", "current-room"):
                return ""  # registration is IRC's own; IRC has no current room
        return encode_common(event, nick)


_HANDLERS = {
    "CAP": IrcState._cap,
    "NICK": IrcState._nick,
    "USER": IrcState._user,
    "PASS": IrcState._pass,
    "PING": IrcState._ping,
    "PONG": IrcState._ignore,
    "TAGMSG": IrcState._ignore,
    "QUIT": IrcState._quit,
    "PRIVMSG": IrcState._privmsg,
    "NOTICE": IrcState._privmsg,
    "JOIN": IrcState._join,
    "PART": IrcState._part,
    "TOPIC": IrcState._topic,
    "NAMES": IrcState._names,
    "LIST": IrcState._list,
    **ircmod.HANDLERS,  # MODE, KICK, INVITE, OPER, KILL, WALLOPS, SBAN, UNSBAN
    "AUTHENTICATE": ircaccounts.authenticate,  # accounts (chat.core.ircaccounts)
    "REGISTER": ircaccounts.register,
}
