"""What the client knows about its session, kept up to date from server events. No I/O.

The UI reads it for the toolbar and for completion; the connection reads it to rejoin rooms and
take the nick back after a reconnect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_KNOWN_MEMBERS = 1000
"""Nicks remembered per room for completion (the server's member lists are capped too)."""


@dataclass
class Room:
    name: str
    members: set[str] = field(default_factory=set)
    count: int = 0
    topic: str = ""


@dataclass
class State:
    nick: str
    rooms: dict[str, Room] = field(default_factory=dict)  # folded name -> room, join order
    current: str | None = None  # folded name
    link: str = "connecting"  # connecting | online | offline | closed (client/lifecycle.py)
    room_names: set[str] = field(default_factory=set)  # every room seen in a /rooms list
    affected: list[str] = field(default_factory=list)  # rooms the last quit or nick touched

    def room(self, name: str) -> Room:
        key = name.lower()
        if key not in self.rooms:
            self.rooms[key] = Room(name)
        return self.rooms[key]

    @property
    def current_room(self) -> Room | None:
        return self.rooms.get(self.current) if self.current else None

    def apply(self, ev: dict[str, Any]) -> None:
        """Update from one server event."""
        kind = ev.get("type")
        me = self.nick.lower()
        self.affected = []
        if kind == "welcome":
            self.nick = ev["nick"]
            self.rooms.clear()
            self.current = None
        elif kind == "join":
            room = self.room(ev["room"])
            room.count = ev["members"]
            if ev["nick"].lower() == me:
                self.current = ev["room"].lower()
            elif len(room.members) < MAX_KNOWN_MEMBERS:
                room.members.add(ev["nick"])
        elif kind in ("part", "kick"):  # a kick is a part someone else decided
            key = ev["room"].lower()
            if ev["nick"].lower() == me:
                self.rooms.pop(key, None)
                if self.current == key:
                    self.current = next(reversed(self.rooms), None)
            elif key in self.rooms:
                self.rooms[key].members.discard(ev["nick"])
                self.rooms[key].count = ev["members"]
        elif kind == "quit":
            for key, room in self.rooms.items():
                if ev["nick"] in room.members:
                    room.members.discard(ev["nick"])
                    room.count = max(0, room.count - 1)
                    self.affected.append(key)
        elif kind == "nick":
            if ev["old"].lower() == me:
                self.nick = ev["new"]
            for key, room in self.rooms.items():
                if ev["old"] in room.members:
                    room.members.discard(ev["old"])
                    room.members.add(ev["new"])
                    self.affected.append(key)
        elif kind == "who":
            joined = self.rooms.get(ev["room"].lower())  # `/who #other` joins nothing
            if joined is not None:
                joined.members = {n for n in ev["nicks"] if n.lower() != me}
                joined.count = ev["total"]
        elif kind == "topic":
            self.room(ev["room"]).topic = ev["topic"]
        elif kind == "rooms":
            self.room_names |= {r["name"] for r in ev["rooms"]}
        elif kind == "notice" and ev.get("code") == "current-room":
            name = ev["text"].split(" ", 1)[0]
            if name.lower() in self.rooms:
                self.current = name.lower()
