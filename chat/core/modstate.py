"""Room moderation's state: each room's modes, the hooks the hub calls, the cluster's notes.
Pure logic, no I/O.

`Moderation` (`hub.moderation`) holds what `chat.core.moderation` rules on for rooms (each
room's `RoomModes`) and what a store keeps of them (`Keeper`, `chat.core.modstore`). The hub
and its room commands (`chat.core.roomcommands`) call its hooks where a rule applies:
`check_join`, `created`, `joined`, `check_speak`, `check_topic`, `left`, `renamed`, `dropped`,
`prefixes`; `Accounts.listeners` calls `identified` (operator status follows the account). The
room operators' commands that change the modes are `chat.core.modcommands`; server operators'
commands and the server bans are `chat.core.opercommands` (`hub.operators`).

Cluster-wide: every change is published (`publish`: `chat.core.notes`, a room's whole state as
`Modes`; the commands publish `Kicked`, `Invited`) and applied by the other nodes through
`apply_note` (from `chat.cluster.inbound`; it hands `Killed`, `ServerBanned` and `Wallops` to
`hub.operators`), so a ban set on one node refuses a join on another.

Every action is logged as a structlog event `moderation.<action>` (`record`: who, what, to
whom, room; never a reason or a wallops text) and counted in `Stats.moderation` (`/stats`,
`/metrics`).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import structlog

from chat.core import moderation as m
from chat.core import notes as w
from chat.core.modstore import Keeper
from chat.core.rooms import Room
from chat.core.session import Session
from chat.protocol import events as e
from chat.protocol.irc import SERVER
from chat.protocol.names import fold

if TYPE_CHECKING:
    from chat.core.hub import Hub

log = structlog.get_logger("chat.moderation")

SERVICE = SERVER
"""Who an operator's restored status is from: the server itself (no nick holds a dot)."""


def record(counts: Counter[str], s: Session, action: str, room: str = "", **fields: Any) -> None:
    """Count a moderation action and log it as `moderation.<action>` (never a reason)."""
    counts[action] += 1
    if action == "mode" and "+b" in str(fields.get("change", "")):
        counts["ban"] += 1
    event = "moderation." + action.replace("-", "_")
    log.info(event, conn_id=s.conn_id, nick=s.nick, room=room or None, **fields)


def identity(s: Session) -> m.Identity:
    """`s` as ban masks see it: its nick, IRC user name (else the nick), address, account."""
    nick = s.nick or ""
    user = getattr(getattr(s, "dialect", None), "user", None) or nick
    return m.Identity(nick, user, s.ip or "unknown", s.account)


class Moderation:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.rooms: dict[str, m.RoomModes] = {}
        self.keeper = Keeper()  # what a store keeps across a restart (chat/core/modstore.py)
        self.counts = hub.stats.moderation

    # --- hooks the hub calls ----------------------------------------------------------------
    def check_join(self, s: Session, key: str, name: str, room_key: str | None, size: int) -> None:
        modes = self.rooms.get(key)
        if modes is None:
            modes = self._restore(key)  # a room re-created empty: its kept modes and bans hold
            if modes is None:
                return
        err = m.may_join(modes, identity(s), name, room_key, size, bool(s.oper))
        if err is not None:
            self.counts[f"join-refused-{err.code}"] += 1
            log.info("moderation.join_refused", conn_id=s.conn_id, nick=s.nick, room=name,
                     code=err.code)  # fmt: skip
            raise err
        if modes.invites.pop(s.folded, "") is None:  # an invitation is good for one join
            self.publish(key, name, "", "")  # ... on every node

    def created(self, room: Room, s: Session) -> None:
        """`s` created `room` (it existed nowhere): its operator, except in the default room
        (the server's: only server operators moderate it)."""
        modes = self.keeper.restore(room.folded, self.hub.clock()) or m.RoomModes()
        self.rooms[room.folded] = modes
        restored = room.folded in self.keeper.kept
        if restored:
            self.counts["restored"] += 1
            log.info("moderation.restored", conn_id=s.conn_id, nick=s.nick, room=room.name,
                     modes=modes.flags(show_key=False), bans=len(modes.bans))  # fmt: skip
        if room.folded != fold(self.hub.limits.default_room):
            # A room that remembers its operators' accounts is theirs: a first joiner without
            # one of them is no operator (else a restart would hand the room to anyone).
            if not modes.op_accounts or s.account in modes.op_accounts:
                modes.ops.add(s.folded)
                if s.account is not None:
                    modes.claim(s.account)
            self.publish(room.folded, room.name, "", "")
        elif restored:
            self.publish(room.folded, room.name, "", "")

    def joined(self, room: Room, s: Session) -> None:
        """`s` joined a room that existed: an operator's account makes it one again."""
        self._reinstate(room.folded, room.name, s)

    def identified(self, s: Session, account: str) -> None:
        """`Accounts.listeners`: `s` proved `account`; in every room it is in that remembers
        the account as an operator's, it is one again (`RoomModes.op_accounts`)."""
        for key, room in list(s.rooms.items()):
            self._reinstate(key, room.name, s)

    def _reinstate(self, key: str, name: str, s: Session) -> None:
        modes = self.rooms.get(key)
        if modes is None or s.account not in modes.op_accounts or s.folded in modes.ops:
            return
        modes.ops.add(s.folded)
        change = f"+o {s.nick}"
        self._record(s, "op-restored", name, account=s.account)
        self.tell_room(key, e.ModeChanged(name, SERVICE, change), s)
        self.publish(key, name, SERVICE, change)

    def check_speak(self, s: Session, room: Room) -> None:
        modes = self.rooms.get(room.folded)
        # The message path: a room with no ban, no mute and no +m costs one lookup here.
        if modes is not None and (modes.bans or modes.mutes or modes.moderated) and not s.oper:
            now = self.hub.clock() if modes.mutes else 0.0  # the clock only when it matters
            err = m.may_speak(modes, identity(s), room.name, now)
            if err is not None:
                raise err

    def check_topic(self, s: Session, room: Room) -> None:
        modes = self.rooms.get(room.folded)
        if modes is not None:
            err = m.may_topic(modes, s.folded, room.name, bool(s.oper))
            if err is not None:
                raise err

    def _restore(self, key: str) -> m.RoomModes | None:
        """The kept state of room `key` if it exists on no node (else its live state rules)."""
        if key in self.hub.rooms or self.hub.broker.view.room(key) is not None:
            return None
        return self.keeper.restore(key, self.hub.clock())

    def _save(self, key: str, name: str) -> None:
        self.keeper.save(key, name, self.rooms.get(key), self.hub.clock())

    def left(self, key: str, folded: str) -> None:
        modes = self.rooms.get(key)
        if modes is not None:
            modes.forget_member(folded)

    def renamed(self, keys: list[str] | tuple[str, ...], old: str, new: str) -> None:
        for key in keys:
            modes = self.rooms.get(key)
            if modes is not None:
                modes.renamed(old, new)

    def dropped(self, key: str) -> None:
        """A room may have vanished: its modes go when it exists on no node."""
        if key not in self.hub.rooms and self.hub.broker.view.room(key) is None:
            self.rooms.pop(key, None)

    def prefixes(self, key: str, nicks: tuple[str, ...]) -> tuple[str, ...]:
        modes = self.rooms.get(key)
        if modes is None or not (modes.ops or modes.voiced):
            return ()
        return tuple(modes.prefix(fold(n)) for n in nicks)

    # --- the rooms' state: told to their members here and to the other nodes ---------------
    def tell_room(self, key: str, event: e.Event, actor: Session) -> None:
        """`event` to the room's members here, and to the actor if it is not one of them."""
        room = self.hub.rooms.get(key)
        if room is not None:
            room.broadcast(event)
        if room is None or actor not in room:
            actor.send(event)

    def publish(self, key: str, name: str, by: str, change: str) -> None:
        self._save(key, name)
        note = self._note(key, name, by, change)
        if note is not None:
            self.hub.broker.publish(note)

    def _note(self, key: str, name: str, by: str, change: str) -> w.Modes | None:
        """Room `key`'s whole moderation state as a note."""
        modes = self.rooms.get(key)
        if modes is None:
            return None
        return w.Modes(self.hub.broker.node, key, name, by, change, modes.letters(), modes.limit,
                       modes.key, sorted(modes.ops), sorted(modes.voiced), list(modes.bans),
                       list(modes.invites), sorted(modes.mutes.items()),
                       list(modes.op_accounts))  # fmt: skip

    def claim(self, modes: m.RoomModes, key: str, folded: str, on: bool) -> bool:
        """A member of this node was made operator of room `key` (or deopped there, still in
        it: leaving keeps the claim): its account, if any, is remembered as an operator's (or
        forgotten). True if that changed."""
        target = self.hub.nicks.get(folded)
        if target is None or target.account is None:
            return False
        if on:
            return modes.claim(target.account)
        if key not in target.rooms:
            return False
        return modes.op_accounts.pop(target.account, "") is None

    def _record(self, s: Session, action: str, room: str = "", **fields: Any) -> None:
        record(self.counts, s, action, room, **fields)

    def kick(
        self, key: str, name: str, nick: str, by: str, reason: str, actor: Session | None
    ) -> None:
        """Put `nick` out of room `key`, here and in the view; tell the local members."""
        hub = self.hub
        folded = fold(nick)
        room = hub.rooms.get(key)
        target = hub.nicks.get(folded)
        self.left(key, folded)
        if room is not None and target is not None and target in room:
            room.broadcast(e.Kicked(room.name, nick, by, reason, hub.size(key) - 1))
            hub.room_commands.remove_member(target, room)
        else:
            found = hub.broker.view.locate(folded)
            if found is not None:
                hub.broker.view.parted(found[0], key, nick, hub.monotonic())
                hub.resized(key)
            if room is not None:
                room.broadcast(e.Kicked(room.name, nick, by, reason, hub.size(key)))
        if actor is not None and (room is None or actor not in room):
            actor.send(e.Kicked(name, nick, by, reason, hub.size(key)))
        self.dropped(key)

    # --- notes from other nodes (chat.cluster.inbound) ---------------------------------------
    def apply_note(self, note: w.Note) -> None:
        hub = self.hub
        by = getattr(note, "by", "")  # who did it there (the origin logged it in full)
        log.info("moderation.applied", kind=note.kind, origin=note.node, nick=by or None,
                 target=getattr(note, "nick", None), room=getattr(note, "name", None))  # fmt: skip
        match note:
            case w.Modes():
                modes = m.RoomModes(
                    invite_only="i" in note.flags, moderated="m" in note.flags,
                    topic_lock="t" in note.flags, limit=note.limit, key=note.key,
                    ops=set(note.ops), voiced=set(note.voiced), bans=dict.fromkeys(note.bans),
                    invites=dict.fromkeys(note.invites), mutes=dict(note.mutes),
                    op_accounts=dict.fromkeys(note.op_accounts),
                )  # fmt: skip
                before = self.rooms.get(note.room)
                self.rooms[note.room] = modes
                self._save(note.room, note.name)
                # This node's members made (or unmade) operators there: their accounts.
                was = before.ops if before else set()
                claims = [self.claim(modes, note.room, n, n in modes.ops) for n in was ^ modes.ops]
                if any(claims):  # what the origin could not do: it does not know their accounts
                    self.publish(note.room, note.name, "", "")
                room = hub.rooms.get(note.room)
                if room is not None and note.change:
                    room.broadcast(e.ModeChanged(room.name, note.by, note.change))
                if room is not None:
                    self._tell_muted(room, before.mutes if before else {}, modes.mutes)
            case w.Kicked():
                self.kick(note.room, note.name, note.nick, note.by, note.reason, None)
            case w.Invited():
                modes = self.rooms.setdefault(note.room, m.RoomModes())
                modes.invite(fold(note.nick))
                target = hub.nicks.get(fold(note.nick))
                if target is not None:
                    target.send(e.Invited(note.name, note.nick, note.by))
            case w.Killed() | w.ServerBanned() | w.Wallops():
                hub.operators.apply_note(note)

    def _tell_muted(self, room: Room, before: dict[str, float], after: dict[str, float]) -> None:
        """Members of this node muted (or let speak again) on another node are told."""
        now = self.hub.clock()
        for folded in before.keys() | after.keys():
            target = self.hub.nicks.get(folded)
            if target is None or target not in room or before.get(folded) == after.get(folded):
                continue
            if folded in after and after[folded] > now:
                text = f"you are muted in {room.name} for {after[folded] - now:.0f} seconds"
            else:
                text = f"you may speak in {room.name} again"
            target.send(e.Notice(text, "mute"))

    def state(self, node: str) -> list[w.Note]:
        """What a node (re)joining the cluster needs: the modes of the rooms this node has
        members in, and the server bans."""
        notes: list[w.Note] = []
        for key, room in self.hub.rooms.items():
            note = self._note(key, room.name, "", "")
            if note is not None:
                notes.append(note)
        notes.extend(self.hub.operators.state(node))
        return notes
