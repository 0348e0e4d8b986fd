"""Another node's note, applied here: update the view, deliver to this node's sessions.

Pure and synchronous like the hub (no NATS here): `apply` is to the cluster what
`Hub.handle` is to a client. A room note reaches the local members of that room through the
same `Room.broadcast` a local message uses, so it is encoded once per dialect here too. The
sender of a remote message is never a local session, so nobody is skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chat.cluster import wire as w
from chat.cluster.view import Gone
from chat.hub import Hub
from chat.protocol import events as e
from chat.rooms import fanout
from chat.session import Session


def apply(hub: Hub, note: w.Note, now: float) -> None:
    """Carry out one note from another node. Must not block."""
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
            room = hub.rooms.get(key)
            if room is not None:
                room.broadcast(e.Joined(room.name, nick, hub.size(key)))
        case w.Parted(node, key, nick, reason):
            if view.parted(node, key, nick, now) and (room := hub.rooms.get(key)) is not None:
                room.broadcast(e.Parted(room.name, nick, reason, hub.size(key)))
        case w.Online(node, nick):
            view.online(node, nick, now)
        case w.Offline(node, nick, reason):
            lost(hub, [view.offline(node, nick, now)], reason)
        case w.Renamed(node, old, new):
            rooms = view.renamed(node, old, new, now)
            fanout(_members(hub, rooms), e.NickChanged(old, new))
        case w.Topic(node, key, name, text, by):
            view.touch(node, now)
            view.set_topic(key, name, text)
            room = hub.rooms.get(key)
            if room is not None:
                room.topic = text
                room.broadcast(e.TopicIs(room.name, text, by))
        case w.Private(node, to, sender, text, ts, action):
            view.touch(node, now)
            target = hub.nicks.get(to)
            if target is not None:
                target.send(e.Private(sender, target.nick or "", text, ts, action))
                hub.stats.deliveries += 1
        case w.State(node, first, nicks, rooms):
            if first:
                view.replace(node, now)
            view.extend(node, nicks, rooms, now)
        case w.Bye(node):
            lost(hub, view.drop(node), "server shutting down")
        case w.Hello(node) | w.Beat(node):
            view.touch(node, now)


def lost(hub: Hub, gone: Iterable[Gone], reason: str) -> None:
    """Tell local members of their rooms that these remote nicks are gone."""
    for who in gone:
        fanout(_members(hub, who.rooms), e.Quitted(who.nick, reason))


def _members(hub: Hub, keys: Iterable[str]) -> dict[Session, None]:
    members: dict[Session, None] = {}
    for key in keys:
        room = hub.rooms.get(key)
        if room is not None:
            members.update(dict.fromkeys(room.members()))
    return members


def state(hub: Hub, node: str, chunk: int = 1000) -> list[w.State]:
    """This node's whole presence as `State` notes of at most about `chunk` names each."""
    notes: list[w.State] = []
    nicks: list[str] = []
    rooms: list[list[Any]] = []
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
            rooms.append([room.folded, room.name, room.topic, part])
            size += len(part) + 1
            if size >= chunk:
                cut()
    if size or not notes:
        cut()
    return notes
