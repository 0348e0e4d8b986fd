"""The hub: nicks, rooms and the dispatch of every command. Pure logic, no I/O, no asyncio.

It holds the nicks and the rooms and hands each command to its handler. Registration, nicks,
messages, quit, help and ping are handled here; the room commands (join, part, topic, /rooms,
/who, /history) are `chat.core.roomcommands`, room moderation `chat.core.modcommands` and
server operators `chat.core.opercommands`, each registering its handlers in the hub's table;
the rooms' moderation state, and the hooks that apply it, is `chat.core.modstate`.

The transport feeds it `(session, command)` pairs and `ProtocolError`s; the hub answers by
queueing events on sessions (`Session.send`, `Room.broadcast`). Nothing here blocks: a full
outbox makes its session a slow consumer, which the transport cuts outside the fan-out loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import structlog

from chat.core import notes as w
from chat.core.accounts import accounts_off
from chat.core.broker import Broker, InProcess
from chat.core.history import FIRST_EPOCH, MemoryHistory
from chat.core.limits import Limits as Limits  # the hub's settings, re-exported
from chat.core.modcommands import ModCommands
from chat.core.modstate import Moderation
from chat.core.opercommands import ServerOperators
from chat.core.ratelimit import CreationBudget
from chat.core.roomcommands import RoomCommands, room_of
from chat.core.roomindex import SizeIndex
from chat.core.rooms import Room, deliver
from chat.core.session import Session
from chat.core.stats import Stats
from chat.protocol import PROTOCOL_VERSION
from chat.protocol import commands as c
from chat.protocol import events as e
from chat.protocol.errors import (
    BAD_COMMAND,
    CLUSTER_DOWN,
    NICK_TAKEN,
    NO_SUCH_NICK,
    NOT_REGISTERED,
    ProtocolError,
)
from chat.protocol.names import MAX_NICK, check_nick, fold
from chat.protocol.text import USAGE, TextCodec

if TYPE_CHECKING:
    from chat.core.accounts import Accounts

log = structlog.get_logger("chat.hub")

GREETING = f"welcome to chat! pick a nick (1-{MAX_NICK} of A-Z a-z 0-9 _ - [ ] {{ }} | ^):"
MOTD = "type /help for commands; lines you type go to your current room."


class Hub:
    def __init__(
        self,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.time,
        broker: Broker | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits or Limits()
        self.clock = clock  # timestamps of messages
        self.monotonic = monotonic  # rate limits
        self.broker: Broker = broker or InProcess()
        self.nicks: dict[str, Session] = {}
        self.rooms: dict[str, Room] = {}
        self.index = SizeIndex()  # every room (this node's and others') by size, for /rooms
        self.history: MemoryHistory | None = None  # in a cluster: a cache of the cluster's
        if self.limits.history_size and (self.broker.numbers or not self.broker.clustered):
            self.history = MemoryHistory(self.limits.history_size, self.limits.history_bytes)
            if self.broker.numbers:  # the cluster's stream picks a room's epoch
                self.history.new_epoch = lambda: FIRST_EPOCH
        self.creation = CreationBudget(
            self.limits.room_create_rate,
            self.limits.room_create_burst,
            self.limits.room_create_per_address,
        )
        self.stats = Stats()
        self.soon: Callable[[], None] | None = None
        """Set by a server: a room's messages of one loop pass are queued together
        (`chat.core.outbox.Batch`), and this arranges for them to be before the pass's writes."""
        self.accounts: Accounts | None = None  # `chat.core.accounts` installs itself (--accounts)
        self.before_nick: set[type] = set(_BEFORE_NICK)  # commands allowed before a nick
        self.help_extra: list[str] = []  # /help lines of plug-ins (accounts)
        self._handlers: dict[type, Callable[[Session, Any], None]] = {
            c.Hello: self._hello,
            c.Nick: self._nick,
            c.Say: self._say,
            c.Me: self._me,
            c.Msg: self._msg,
            c.Quit: self._quit,
            c.Help: self._help,
            c.Ping: self._ping,
            c.Register: accounts_off,  # until `chat.core.accounts` installs itself
            c.Identify: accounts_off,
        }
        self.room_commands = RoomCommands(self)  # adds its handlers (chat/core/roomcommands.py)
        self.operators = ServerOperators(self)  # adds its handlers (chat/core/opercommands.py)
        self.moderation = Moderation(self)  # the rooms' modes (chat/core/modstate.py)
        self.mod_commands = ModCommands(self)  # adds its handlers (chat/core/modcommands.py)

    # --- entry points used by the transport ----------------------------------------------
    def connect(self, session: Session) -> None:
        self.stats.connected()
        if self.operators.admit(session):  # not from a server-banned address
            session.send(e.Notice(GREETING, "greeting"))

    def handle(self, session: Session, command: c.Command) -> None:
        """Carry out one command; a ProtocolError becomes an error line to that client only."""
        try:
            if session.nick is None and type(command) not in self.before_nick:
                if isinstance(command, c.Say) and isinstance(session.codec, TextCodec):
                    command = c.Nick(command.text)  # a human's first plain line is their nick
                else:
                    raise ProtocolError(NOT_REGISTERED, "choose a nick first")
            self._handlers[type(command)](session, command)
        except ProtocolError as err:
            self.error(session, err)

    def add_handler(
        self, kind: type, handler: Callable[[Session, Any], None]
    ) -> Callable[[Session, Any], None] | None:
        """Handle commands of type `kind` with `handler` (a plug-in such as `chat.core.accounts`
        adds its commands, or wraps one); returns the handler it replaces, if any."""
        old = self._handlers.get(kind)
        self._handlers[kind] = handler
        return old

    def add_handlers(self, handlers: Mapping[type, Callable[[Session, Any], None]]) -> None:
        """`add_handler` for each command type of `handlers` (a module of commands)."""
        for kind, handler in handlers.items():
            self.add_handler(kind, handler)

    def error(self, session: Session, err: ProtocolError) -> None:
        self.stats.errors[err.code] += 1
        session.send(e.Error(err.code, err.message))

    def disconnect(self, session: Session, reason: str, message: str = "") -> None:
        """Forget a session: its rooms and its nick. Idempotent."""
        if session.nick is None or self.nicks.get(session.folded) is not session:
            return
        nick = session.nick
        del self.nicks[session.folded]
        self.broker.release(session.folded)
        self.broker.publish(w.Offline(self.broker.node, nick, message or reason))
        rooms = list(session.rooms.values())
        session.rooms.clear()
        session.current = None
        neighbours: dict[Session, None] = {}
        for room in rooms:
            room.remove(session)
            self.moderation.left(room.folded, session.folded)
            self.resized(room.folded)
            if not room.size:
                self.room_commands.drop_room(room)
            else:
                neighbours.update(dict.fromkeys(room.members()))
        deliver(neighbours, e.Quitted(nick, message or reason))

    def nick_claimed(self, session: Session, command: c.Command) -> str | None:
        """The nick `command` would give `session`, if it is a valid and locally free one;
        the transport reserves it cluster-wide before `handle` (see chat.cluster)."""
        if (isinstance(command, c.Hello) and session.nick is None) or isinstance(command, c.Nick):
            wanted = command.nick
        elif session.nick is None and isinstance(command, c.Say):
            wanted = command.text if isinstance(session.codec, TextCodec) else ""
        else:
            return None
        try:
            nick = check_nick(wanted)
        except ProtocolError:
            return None  # `handle` answers with the reason
        folded = fold(nick)
        owner = self.nicks.get(folded)
        if folded == session.folded or (owner is not None and owner is not session):
            return None
        return nick

    # --- registration and nicks -----------------------------------------------------------
    def _hello(self, s: Session, cmd: c.Hello) -> None:
        if s.nick is not None:
            raise ProtocolError(BAD_COMMAND, "already registered")
        self._register(s, cmd.nick)

    def _register(self, s: Session, nick: str) -> None:
        nick = self._claim(nick)
        s.nick, s.folded = nick, fold(nick)
        self.nicks[s.folded] = s
        self.broker.publish(w.Online(self.broker.node, nick))
        self.stats.registered += 1
        log.info(
            "client.registered", conn_id=s.conn_id, peer=s.peer, nick=nick, dialect=s.codec.name
        )
        s.send(e.Welcome(nick, PROTOCOL_VERSION, MOTD))
        self.room_commands.join(s, c.Join(self.limits.default_room))

    def _claim(self, nick: str, current: Session | None = None) -> str:
        nick = check_nick(nick)
        owner = self.nicks.get(fold(nick))
        if (owner is not None and owner is not current) or not self.broker.may_take(fold(nick)):
            raise ProtocolError(NICK_TAKEN, f'nick "{nick}" is taken; pick another')
        return nick

    def _nick(self, s: Session, cmd: c.Nick) -> None:
        if s.nick is None:
            self._register(s, cmd.nick)
            return
        new = self._claim(cmd.nick, current=s)
        old = s.nick
        if new == old:
            return
        del self.nicks[s.folded]
        if s.folded != fold(new):
            self.broker.release(s.folded)
        self.moderation.renamed(tuple(s.rooms), s.folded, fold(new))
        s.nick, s.folded = new, fold(new)
        self.nicks[s.folded] = s
        self.broker.publish(w.Renamed(self.broker.node, old, new))
        log.info("nick.changed", conn_id=s.conn_id, peer=s.peer, nick=new, old=old)
        targets: dict[Session, None] = {s: None}
        for room in s.rooms.values():
            targets.update(dict.fromkeys(room.members()))
        deliver(targets, e.NickChanged(old, new))

    # --- rooms (their commands: chat/core/roomcommands.py) ----------------------------------
    def size(self, key: str) -> int:
        """Members of a room (folded name) on every node."""
        room = self.rooms.get(key)
        return (room.size if room is not None else 0) + self.broker.view.count(key)

    def resized(self, key: str) -> None:
        """A room's membership changed here or on another node: keep `/rooms` in order."""
        self.index.set(key, self.size(key))

    # --- messages ---------------------------------------------------------------------------
    def _say(self, s: Session, cmd: c.Say) -> None:
        self._post(s, cmd.room, cmd.text, action=False)

    def _me(self, s: Session, cmd: c.Me) -> None:
        self._post(s, cmd.room, cmd.text, action=True)

    def _post(self, s: Session, room_name: str | None, text: str, *, action: bool) -> None:
        room = room_of(s, room_name)
        self.moderation.check_speak(s, room)  # moderated, muted, banned
        now = self.clock()
        room.messages += 1
        room.last_activity = now
        self.stats.messages_received += 1
        epoch, offset = "", 0
        if self.broker.numbers:  # the cluster numbers it and `inbound.sequenced` delivers it
            if self.broker.sequence(s, room, text, now, action):
                return  # else the link is down: this node's members only, unnumbered
        elif self.history is not None:
            epoch, offset = self.history.append(room.folded, s.nick or "", text, now, action)
        # Other nodes first: the broker's writer is woken before this pass's local writes are
        # scheduled, so the hop to them starts before the (longer) local fan-out is written.
        node = self.broker.node
        self.broker.publish(w.Said(node, room.folded, room.name, s.nick or "", text, now, action))
        self.stats.deliveries += room.broadcast(
            e.Message(room.name, s.nick or "", text, now, action, offset, epoch), sender=s
        )

    def _msg(self, s: Session, cmd: c.Msg) -> None:
        folded = fold(cmd.to)
        target = self.nicks.get(folded)
        now = self.clock()
        if target is None:
            found = self.broker.view.locate(folded)  # on another node?
            if found is None:
                raise ProtocolError(NO_SUCH_NICK, f'nobody is called "{cmd.to}"')
            _, nick = found
            note = w.Private(self.broker.node, folded, s.nick or "", cmd.text, now, cmd.action)
            if not self.broker.publish(note):
                raise ProtocolError(CLUSTER_DOWN, f"{nick} is on another node: {LINK_DOWN}")
            self.stats.messages_received += 1
            if s.codec.echo:
                s.send(e.Private(s.nick or "", nick, cmd.text, now, cmd.action))
            return
        event = e.Private(s.nick or "", target.nick or "", cmd.text, now, cmd.action)
        self.stats.messages_received += 1
        self.stats.deliveries += deliver(
            [target, s] if s.codec.echo and target is not s else [target], event
        )

    # --- the rest ---------------------------------------------------------------------------
    def _quit(self, s: Session, cmd: c.Quit) -> None:
        s.send(e.Bye("quit"))
        self.disconnect(s, "quit", cmd.reason)
        s.close("quit")

    def _help(self, s: Session, cmd: c.Help) -> None:
        lines = ("commands:", *USAGE.values(), *self.help_extra)
        s.send(e.HelpText((*lines, "//text sends a line starting with /")))

    def _ping(self, s: Session, cmd: c.Ping) -> None:
        s.send(e.Pong(cmd.token))


LINK_DOWN = "the cluster link is down; try again in a few seconds"

_BEFORE_NICK = (c.Hello, c.Nick, c.Quit, c.Help, c.Ping)
