"""Room moderation commands: what room operators do, and who may do it. Pure logic, no I/O.

`ModCommands` (`hub.mod_commands`) registers its handlers in the hub's dispatch table (`Mode`,
`Kick`, `Invite`, `Bans`, `Mute`). A command is about a room (`_target`: one its sender is in,
or any for a server operator), checked against the rules (`chat.core.moderation`), applied to
the room's state in `hub.moderation` (`chat.core.modstate`), told to the members here and
published to the other nodes. Server operators' commands are `chat.core.opercommands`.

Every action is logged as a structlog event `moderation.<action>` and counted in
`Stats.moderation` (`chat.core.modstate.record`); a refusal as `moderation.refused`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chat.core import moderation as m
from chat.core import notes as w
from chat.core.modstate import log, record
from chat.core.rooms import Room
from chat.core.session import Session
from chat.protocol import commands as c
from chat.protocol import events as e
from chat.protocol.errors import (
    ALREADY_IN_ROOM,
    NO_SUCH_NICK,
    NOT_IN_ROOM,
    NOT_IN_THAT_ROOM,
    ProtocolError,
)
from chat.protocol.names import check_room, fold

if TYPE_CHECKING:
    from chat.core.hub import Hub

REASON_LEN = 300
"""Kick and kill reasons are cut to this many characters."""


class ModCommands:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.moderation = hub.moderation  # the rooms' state (chat/core/modstate.py)
        self.counts = hub.stats.moderation
        hub.add_handlers(
            {
                c.Mode: self._mode,
                c.Kick: self._kick,
                c.Invite: self._invite,
                c.Bans: self._bans,
                c.Mute: self._mute,
            }
        )

    # --- rooms ------------------------------------------------------------------------------
    def _target(self, s: Session, name: str | None) -> tuple[str, str, Room | None, m.RoomModes]:
        """The room a moderation command is about: (key, name, local room, modes). A member
        names any room it is in (default: the current one); a server operator any room."""
        hub = self.hub
        if name is None:
            if s.current is None:
                raise ProtocolError(NOT_IN_ROOM, "you are in no room; name one (#room)")
            room: Room | None = s.current
            key, shown = s.current.folded, s.current.name
        else:
            shown = check_room(name)
            key = fold(shown)
            room = hub.rooms.get(key)
            remote = hub.broker.view.room(key)
            if room is None and remote is None:
                raise ProtocolError(NOT_IN_ROOM, f"there is no room {shown}")
            shown = room.name if room else remote.name if remote else shown
            if key not in s.rooms and not s.oper:
                raise ProtocolError(NOT_IN_ROOM, f"you are not in {shown}")
        modes = self.moderation.rooms.get(key)
        if modes is None:
            modes = self.moderation.rooms[key] = m.RoomModes()
        return key, shown, room, modes

    def _allowed(self, s: Session, key: str, shown: str, modes: m.RoomModes, what: str) -> None:
        err = m.may_moderate(modes, s.folded, shown, bool(s.oper))
        if err is not None:
            self.counts["refused"] += 1
            log.info("moderation.refused", conn_id=s.conn_id, nick=s.nick, room=shown,
                     action=what)  # fmt: skip
            raise err

    def _member(self, key: str, nick: str) -> str | None:
        """The display nick of `nick` if it is in room `key` (here or on another node)."""
        folded = fold(nick)
        room = self.hub.rooms.get(key)
        session = self.hub.nicks.get(folded)
        if room is not None and session is not None and session in room:
            return session.nick
        remote = self.hub.broker.view.room(key)
        return remote.members.get(folded) if remote is not None else None

    # --- handlers ---------------------------------------------------------------------------
    def _mode(self, s: Session, cmd: c.Mode) -> None:
        key, shown, _, modes = self._target(s, cmd.room)
        if not cmd.changes:
            s.send(e.Modes(shown, modes.flags(show_key=key in s.rooms or bool(s.oper))))
            return
        changes = m.parse_modes(cmd.changes, list(cmd.args))
        if any(ch.letter == "b" and not ch.arg for ch in changes):
            self._bans(s, c.Bans(shown))  # `MODE #r b`, `+b` alone: the list
            changes = [ch for ch in changes if ch.letter != "b" or ch.arg]
            if not changes:
                return
        self._allowed(s, key, shown, modes, "mode")
        done: list[str] = []
        try:
            for ch in changes:  # a bad one stops here: those before it are still announced
                shown_change = self._change(key, shown, modes, ch)
                if shown_change is not None:
                    done.append(str(shown_change))
        finally:
            if done:
                change = m.merge(done)
                self._record(s, "mode", shown, change=change)
                self.moderation.tell_room(key, e.ModeChanged(shown, s.nick or "", change), s)
                self.moderation.publish(key, shown, s.nick or "", change)

    def _change(self, key: str, shown: str, modes: m.RoomModes, ch: m.Change) -> m.Change | None:
        """Apply one change; what to announce, or None if it changed nothing."""
        if ch.letter in "ov":
            nick = self._member(key, ch.arg)
            if nick is None:
                raise ProtocolError(NOT_IN_THAT_ROOM, f"{ch.arg[:32]} is not in {shown}")
            applied = m.apply_change(modes, m.Change(ch.on, ch.letter, fold(nick)))
            if ch.letter == "o":
                self.moderation.claim(modes, key, fold(nick), ch.on)
            return m.Change(ch.on, ch.letter, nick) if applied else None
        if ch.letter == "b":
            return m.apply_change(modes, m.Change(ch.on, "b", m.normalize_mask(ch.arg)))
        return m.apply_change(modes, ch)

    def _record(self, s: Session, action: str, room: str = "", **fields: Any) -> None:
        record(self.counts, s, action, room, **fields)

    def _bans(self, s: Session, cmd: c.Bans) -> None:
        _, shown, _, modes = self._target(s, cmd.room)
        s.send(e.BanList(shown, tuple(modes.bans)))

    def _kick(self, s: Session, cmd: c.Kick) -> None:
        key, shown, _, modes = self._target(s, cmd.room)
        self._allowed(s, key, shown, modes, "kick")
        nick = self._member(key, cmd.nick)
        if nick is None:
            raise ProtocolError(NOT_IN_THAT_ROOM, f"{cmd.nick[:32]} is not in {shown}")
        reason = cmd.reason[:REASON_LEN]
        self._record(s, "kick", shown, target=nick)
        by = s.nick or ""
        self.moderation.kick(key, shown, nick, by, reason, actor=s)
        self.hub.broker.publish(w.Kicked(self.hub.broker.node, key, shown, nick, by, reason))

    def _invite(self, s: Session, cmd: c.Invite) -> None:
        key, shown, _, modes = self._target(s, cmd.room)
        self._allowed(s, key, shown, modes, "invite")
        folded = fold(cmd.nick)
        target = self.hub.nicks.get(folded)
        remote = self.hub.broker.view.locate(folded)
        if target is None and remote is None:
            raise ProtocolError(NO_SUCH_NICK, f'nobody is called "{cmd.nick[:32]}"')
        nick = target.nick if target is not None else remote[1] if remote else cmd.nick
        if self._member(key, nick or "") is not None:
            raise ProtocolError(ALREADY_IN_ROOM, f"{nick} is already in {shown}")
        modes.invite(folded)
        self._record(s, "invite", shown, target=nick)
        event = e.Invited(shown, nick or "", s.nick or "")
        s.send(event)
        if target is not None:
            target.send(event)
        self.hub.broker.publish(
            w.Invited(self.hub.broker.node, key, shown, nick or "", s.nick or "")
        )

    def _mute(self, s: Session, cmd: c.Mute) -> None:
        key, shown, _, modes = self._target(s, cmd.room)
        self._allowed(s, key, shown, modes, "mute")
        nick = self._member(key, cmd.nick)
        if nick is None:
            raise ProtocolError(NOT_IN_THAT_ROOM, f"{cmd.nick[:32]} is not in {shown}")
        seconds = min(cmd.seconds, m.MAX_MUTE)
        folded = fold(nick)
        if seconds:
            modes.mutes[folded] = self.hub.clock() + seconds
            text = f"{nick} is muted in {shown} for {seconds} seconds by {s.nick}"
        else:
            modes.mutes.pop(folded, None)
            text = f"{nick} may speak in {shown} again ({s.nick} lifted the mute)"
        self._record(s, "mute" if seconds else "unmute", shown, target=nick, seconds=seconds)
        s.send(e.Notice(text, "mute"))
        target = self.hub.nicks.get(folded)
        if target is not None and target is not s:
            target.send(e.Notice(text, "mute"))
        self.moderation.publish(key, shown, "", "")
