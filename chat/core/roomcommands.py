"""Room commands: joining and leaving rooms, topics, listings and history. Pure logic, no I/O.

`RoomCommands` (`hub.room_commands`) registers its handlers in the hub's dispatch table
(`Join`, `Part`, `Topic`, `Rooms`, `Who`, `History`) and holds the membership helpers the hub
and room moderation call: `remove_member` (a part, a kick) and `drop_room` (the last one out).
`room_of` is the room a command is about (`Say` and `Me` use it too). The rooms themselves,
their sizes on every node (`Hub.size`) and the `/rooms` index (`Hub.resized`) are the hub's.

A join may resume (`Join.since`): the joiner is sent what it missed (`chat.core.replay`) before
its own join; a plain join of a text-dialect client shows the room's last lines instead.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import structlog

from chat.core import notes as w
from chat.core import replay
from chat.core.rooms import Room
from chat.core.session import Session
from chat.protocol import commands as c
from chat.protocol import events as e
from chat.protocol.errors import (
    BAD_COMMAND,
    NOT_IN_ROOM,
    ROOM_FULL,
    ROOM_LIMIT,
    TOO_MANY_ROOMS,
    ProtocolError,
)
from chat.protocol.names import check_room, fold
from chat.protocol.text import TextCodec

if TYPE_CHECKING:
    from chat.core.hub import Hub

log = structlog.get_logger("chat.hub")  # the hub's events, as before the split

RESUME_SPARE = 16 * 1024
"""Bytes of the send queue a resume leaves for what follows it (join, topic, member list)."""


def room_of(s: Session, name: str | None) -> Room:
    """The room a command is about: the named one (which s must be in), or the current one."""
    if name is None:
        if s.current is None:
            raise ProtocolError(NOT_IN_ROOM, "you are in no room; /join #room first")
        return s.current
    room = s.rooms.get(fold(check_room(name)))
    if room is None:
        raise ProtocolError(NOT_IN_ROOM, f"you are not in {check_room(name)}")
    return room


class RoomCommands:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        hub.add_handlers(
            {
                c.Join: self.join,
                c.Part: self._part,
                c.Topic: self._topic,
                c.Rooms: self._rooms,
                c.Who: self._who,
                c.History: self._history,
            }
        )

    def join(self, s: Session, cmd: c.Join) -> None:
        """The `Join` handler; registration calls it too (the default room)."""
        hub = self.hub
        name = check_room(cmd.room)
        key = fold(name)
        room = s.rooms.get(key)
        if room is not None:
            s.current = room
            if cmd.since is not None and hub.history is not None:  # e.g. the default room
                epoch, offset = hub.history.position(key)
                joined = e.Joined(room.name, s.nick or "", hub.size(key), epoch, offset)
                self._resume(s, room, cmd.since, joined)
                return
            s.send(e.Notice(f"{room.name} is now your current room", "current-room"))
            return
        if len(s.rooms) >= hub.limits.max_rooms_per_client:
            raise ProtocolError(
                TOO_MANY_ROOMS, f"you are in {len(s.rooms)} rooms already; /part one first"
            )
        room = hub.rooms.get(key)
        size = hub.size(key)
        if size >= hub.limits.max_room_members:
            raise ProtocolError(ROOM_FULL, f"{name} is full ({size} members)")
        hub.moderation.check_join(s, key, room.name if room else name, cmd.key, size)
        new = room is None and hub.broker.view.room(key) is None
        if room is None:
            if len(hub.rooms) >= hub.limits.max_rooms:
                raise ProtocolError(
                    ROOM_LIMIT, "the server has too many rooms; join an existing one"
                )
            elsewhere = hub.broker.view.room(key)
            if elsewhere is None:
                hub.creation.charge(s, hub.monotonic())
            room = Room(elsewhere.name if elsewhere else name, key, hub.soon)
            hub.rooms[key] = room
            room.topic = elsewhere.topic if elsewhere else ""
            log.debug("room.created", room=name)
        epoch, offset = hub.history.position(key) if hub.history else ("", 0)
        joined = e.Joined(room.name, s.nick or "", size + 1, epoch, offset)
        if cmd.since is not None and hub.history is not None:
            room.broadcast(joined)  # to the others; the joiner gets what it missed first
            room.add(s)
            self._resume(s, room, cmd.since, joined)
        else:
            room.add(s)
            room.broadcast(joined)
        hub.resized(key)
        s.rooms[key] = room
        s.current = room
        log.info("room.joined", conn_id=s.conn_id, nick=s.nick, room=room.name)
        hub.broker.publish(w.Joined(hub.broker.node, key, room.name, s.nick or ""))
        if new:
            hub.moderation.created(room, s)  # its operator
        else:
            hub.moderation.joined(room, s)  # an operator's account makes it one again
        if room.topic:
            s.send(e.TopicIs(room.name, room.topic))
        s.send(self._members(key))
        if cmd.since is None and isinstance(s.codec, TextCodec) and hub.history:
            self._recent(s, room, hub.limits.history_on_join)

    def _resume(self, s: Session, room: Room, since: tuple[str, int], joined: e.Joined) -> None:
        """Send a resuming joiner every message after `since`, then its join with `recovered`."""
        hub = self.hub
        assert hub.history is not None
        size = s.codec.encode  # weighed as this client's codec encodes them
        budget = s.max_bytes - RESUME_SPARE  # the send queue, less room for join, topic, who
        for event in replay.resume(
            hub.history, room.name, room.folded, since, joined, budget, lambda m: len(size(m)),
            current=hub.broker.history_current,
        ):  # fmt: skip
            s.send(event)

    def _recent(self, s: Session, room: Room, count: int) -> None:
        assert self.hub.history is not None
        if page := replay.latest(self.hub.history, room.name, room.folded, count):
            s.send(page)

    def _history(self, s: Session, cmd: c.History) -> None:
        room = room_of(s, cmd.room)
        history = self.hub.history
        if history is None:
            raise ProtocolError(BAD_COMMAND, "this server keeps no history")
        s.send(replay.asked(history, room.name, room.folded, cmd, s.codec.encode, s.max_bytes))

    def _part(self, s: Session, cmd: c.Part) -> None:
        hub = self.hub
        room = room_of(s, cmd.room)
        room.broadcast(e.Parted(room.name, s.nick or "", cmd.reason, hub.size(room.folded) - 1))
        hub.broker.publish(w.Parted(hub.broker.node, room.folded, s.nick or "", cmd.reason))
        self.remove_member(s, room)
        log.info("room.parted", conn_id=s.conn_id, nick=s.nick, room=room.name)

    def remove_member(self, s: Session, room: Room) -> None:
        """`s` leaves `room` (a part, a kick): nothing is told or published here."""
        room.remove(s)
        self.hub.moderation.left(room.folded, s.folded)
        self.hub.resized(room.folded)
        del s.rooms[room.folded]
        if s.current is room:
            s.current = next(reversed(s.rooms.values()), None)
        if not room.size:
            self.drop_room(room)

    def drop_room(self, room: Room) -> None:
        # Empty rooms vanish with their topic (documented in docs/protocol.md); their history
        # stays while it is held, so a client coming back still resumes.
        hub = self.hub
        del hub.rooms[room.folded]
        if hub.history is not None:
            hub.history.orphan(room.folded)
        hub.moderation.dropped(room.folded)
        log.debug("room.removed", room=room.name)

    def _topic(self, s: Session, cmd: c.Topic) -> None:
        hub = self.hub
        room = room_of(s, cmd.room)
        if cmd.text is None:
            s.send(e.TopicIs(room.name, room.topic))
            return
        hub.moderation.check_topic(s, room)
        if len(cmd.text) > hub.limits.max_topic:
            raise ProtocolError(
                BAD_COMMAND, f"topics are at most {hub.limits.max_topic} characters"
            )
        room.topic = cmd.text
        room.topic_by, room.topic_at = s.nick or "", hub.clock()
        room.broadcast(e.TopicIs(room.name, room.topic, s.nick))
        node = hub.broker.node
        hub.broker.publish(w.Topic(node, room.folded, room.name, cmd.text, s.nick or ""))

    def _rooms(self, s: Session, cmd: c.Rooms) -> None:
        """The largest rooms, one page: O(page) however many rooms exist (`SizeIndex`)."""
        hub = self.hub
        infos = []
        view = hub.broker.view
        for key, size in itertools.islice(hub.index.largest(), hub.limits.list_limit):
            here, remote = hub.rooms.get(key), view.room(key)
            name = here.name if here else remote.name if remote else key
            topic = here.topic if here else remote.topic if remote else ""
            infos.append(e.RoomInfo(name, size, topic))
        s.send(e.RoomList(tuple(infos), len(hub.index)))

    def _who(self, s: Session, cmd: c.Who) -> None:
        if cmd.room is None:
            key = room_of(s, None).folded
        else:
            name = check_room(cmd.room)
            key = fold(name)
            if key not in self.hub.rooms and self.hub.broker.view.room(key) is None:
                raise ProtocolError(NOT_IN_ROOM, f"there is no room {name}")
        s.send(self._members(key))

    def _members(self, key: str) -> e.Members:
        hub = self.hub
        room, remote = hub.rooms.get(key), hub.broker.view.room(key)
        here = room.order if room else ()
        nicks = itertools.chain(
            (m.nick or "" for m in here), remote.members.values() if remote else ()
        )
        name = room.name if room else remote.name if remote else key
        shown = tuple(itertools.islice(nicks, hub.limits.list_limit))
        prefixes = hub.moderation.prefixes(key, shown)  # @ operators, + voiced
        return e.Members(name, shown, hub.size(key), prefixes)
