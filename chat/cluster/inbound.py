"""Another node's note, applied here: update the view, deliver to this node's sessions.

Pure and synchronous like the hub (no NATS here): `apply` is to the cluster what
`Hub.handle` is to a client. A room note reaches the local members of that room through the
same `Room.broadcast` a local message uses, so it is encoded once per dialect here too. The
sender of a remote message is never a local session, so nobody is skipped.

A note reaching `apply` has passed `wire.decode`, so everything in it is valid. Each note makes
at most one change to the view, made before anything is delivered, and the view's changes
cannot fail (`chat.core.remote`). If applying one raises all the same, that is a bug here:
the note is dropped, counted as `internal-error` in the hub's stats, logged once with its
traceback (`cluster.note_failed`), and the node carries on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import structlog

from chat.cluster import wire as w
from chat.cluster.histwire import Batch, Line
from chat.core.history import Entry
from chat.core.hub import Hub
from chat.core.remote import Gone
from chat.core.rooms import deliver
from chat.core.session import Session
from chat.protocol import events as e
from chat.protocol.errors import INTERNAL_ERROR
from chat.protocol.names import fold

log = structlog.get_logger("chat.cluster")


def apply(hub: Hub, note: w.Note, now: float) -> bool:
    """Carry out one note from another node; False if it failed (a bug, logged). Must not
    block, and raises nothing."""
    try:
        _apply(hub, note, now)
    except Exception:
        hub.stats.errors[INTERNAL_ERROR] += 1
        log.exception("cluster.note_failed", kind=note.kind, node=note.node)
        return False
    return True


def _apply(hub: Hub, note: w.Note, now: float) -> None:
    view = hub.broker.view
    match note:
        case w.Said(node, key, _name, nick, text, ts, action):
            view.touch(node, now)
            room = hub.rooms.get(key)
            if room is not None:  # `room.messages` counts posts on this node (stats add up)
                room.last_activity = ts
                hub.stats.deliveries += room.broadcast(e.Message(room.name, nick, text, ts, action))
        case w.Joined(node, key, name, nick):
            view.joined(node, key, name, nick, now)
            hub.resized(key)
            room = hub.rooms.get(key)
            if room is not None:
                room.broadcast(e.Joined(room.name, nick, hub.size(key)))
        case w.Parted(node, key, nick, reason):
            if view.parted(node, key, nick, now):
                hub.moderation.left(key, fold(nick))  # its operator status goes with it
                hub.moderation.dropped(key)
                hub.resized(key)
                if (room := hub.rooms.get(key)) is not None:
                    room.broadcast(e.Parted(room.name, nick, reason, hub.size(key)))
        case w.Online(node, nick):
            view.online(node, nick, now)
        case w.Offline(node, nick, reason):
            lost(hub, [view.offline(node, nick, now)], reason)
        case w.Renamed(node, old, new):
            rooms = view.renamed(node, old, new, now)
            hub.moderation.renamed(rooms, fold(old), fold(new))
            for key in rooms:  # the same size, unless the new nick was there already
                hub.resized(key)
            deliver(_members(hub, rooms), e.NickChanged(old, new))
        case w.Topic(node, key, name, text, by):
            view.set_topic(key, name, text)
            view.touch(node, now)
            room = hub.rooms.get(key)
            if room is not None:
                room.topic = text
                room.topic_by, room.topic_at = by, hub.clock()
                room.broadcast(e.TopicIs(room.name, text, by))
        case w.Private(node, to, sender, text, ts, action):
            view.touch(node, now)
            target = hub.nicks.get(to)
            if target is not None:
                target.send(e.Private(sender, target.nick or "", text, ts, action))
                hub.stats.deliveries += 1
        case w.State(node, first, nicks, rooms):
            before = _rooms_of(hub, node) if first else ()
            view.extend(node, nicks, rooms, now, first=first)
            for key in {*before, *(room[0] for room in rooms)}:
                hub.resized(key)
                hub.moderation.dropped(key)
        case w.Bye(node):
            before = _rooms_of(hub, node)
            lost(hub, view.drop(node), "server shutting down")
            for key in before:
                hub.resized(key)
        case w.Hello(node) | w.Beat(node):
            view.touch(node, now)
        case w.Modes() | w.Kicked() | w.Invited() | w.Killed() | w.ServerBanned() | w.Wallops():
            view.touch(note.node, now)
            hub.moderation.apply_note(note)  # chat.core.modstate


def sequenced(
    hub: Hub, batch: Batch, senders: Sequence[Session | None] | None, local: bool = True
) -> bool:
    """A batch of room lines numbered by the cluster's stream (from any node, this one
    included), in stream order: store each in the history and deliver it to this node's
    members, once (a line already held is neither). `senders` are the local sessions that
    said them (this node's batch: skipped by dialects without echo); `local` False when this
    node delivered them already, unnumbered, after giving up on them. Raises nothing."""
    try:
        room = hub.rooms.get(batch.room)
        for i, line in enumerate(batch.lines):
            offset = batch.first + i
            entry = Entry(offset, line.nick, line.text, line.ts, line.action)
            if hub.history is not None and not hub.history.put(batch.room, batch.epoch, entry):
                continue  # held already: delivered already
            if room is not None and local:
                room.last_activity = line.ts
                event = e.Message(
                    room.name, line.nick, line.text, line.ts, line.action, offset, batch.epoch
                )
                sender = senders[i] if senders is not None else None
                hub.stats.deliveries += room.broadcast(event, sender=sender)
    except Exception:
        hub.stats.errors[INTERNAL_ERROR] += 1
        log.exception("cluster.note_failed", kind="hist", node=batch.node)
        return False
    return True


def unnumbered(hub: Hub, room: str, lines: Iterable[tuple[Session, Line]]) -> None:
    """Room lines the stream could not take (its link is down): to this node's members only,
    without offsets, as when the link is down before they are said."""
    here = hub.rooms.get(room)
    if here is None:
        return
    for sender, m in lines:
        event = e.Message(here.name, m.nick, m.text, m.ts, m.action)
        hub.stats.deliveries += here.broadcast(event, sender=sender)


def lost(hub: Hub, gone: Iterable[Gone], reason: str) -> None:
    """These remote nicks are gone (already forgotten by the view): tell the local members of
    their rooms, and keep `/rooms` (`hub.resized`) in step."""
    resized: set[str] = set()
    for who in gone:
        resized.update(who.rooms)
        for key in who.rooms:
            hub.moderation.left(key, fold(who.nick))
        deliver(_members(hub, who.rooms), e.Quitted(who.nick, reason))
    for key in resized:
        hub.resized(key)
        hub.moderation.dropped(key)


def _rooms_of(hub: Hub, node: str) -> tuple[str, ...]:
    state = hub.broker.view.nodes.get(node)
    return tuple(state.rooms) if state is not None else ()


def _members(hub: Hub, keys: Iterable[str]) -> dict[Session, None]:
    members: dict[Session, None] = {}
    for key in keys:
        room = hub.rooms.get(key)
        if room is not None:
            members.update(dict.fromkeys(room.members()))
    return members


def state(hub: Hub, node: str, chunk: int = w.STATE_CHUNK) -> list[w.State]:
    """This node's whole presence as `State` notes of at most about `chunk` names each."""
    notes: list[w.State] = []
    nicks: list[str] = []
    rooms: list[w.RoomChunk] = []
    size = 0

    def cut() -> None:
        nonlocal nicks, rooms, size
        notes.append(w.State(node, not notes, nicks, rooms))
        nicks, rooms, size = [], [], 0

    for session in hub.nicks.values():
        nicks.append(session.nick or "")
        size += 1
        if size >= chunk:
            cut()
    for room in hub.rooms.values():
        members = [m.nick or "" for m in room.members()]
        for start in range(0, max(1, len(members)), chunk):
            part = members[start : start + chunk]
            rooms.append((room.folded, room.name, room.topic, part))
            size += len(part) + 1
            if size >= chunk:
                cut()
    if size or not notes:
        cut()
    return notes
