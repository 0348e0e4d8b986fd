"""Taking the rooms back after a reconnect, quietly. No I/O: this says what to send and which
answers to keep off the screen; client/connection.py does the sending.

When the link drops, the rooms (in join order) and the current room are remembered. After the
next welcome, `start()` gives a `join` per room, the current one last (so it is current again:
joining a room you are in makes it current), each with `since` where the room's position is
known (the server then replays what was missed: client/backlog.py), then a `ping` with a
token as a barrier. The
server answers in order, so everything between the welcome and the barrier's `pong` that
answers a join (your own join, the member list, the topic, "is now your current room") is
marked quiet: the state takes it in, nothing is shown. The server also puts you in its default
room; if you had left it, a `part` is sent, and that part is quiet too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from client.state import State

Event = dict[str, Any]
BARRIER = "rejoined"


class Rejoin:
    def __init__(self) -> None:
        self.rooms: list[str] = []  # to take back, in join order
        self.current: str | None = None
        self.active = False  # between a reconnect's welcome and the barrier's pong
        self._parting: set[str] = set()  # folded names of rooms we part again

    def remember(self, state: State) -> None:
        """The link dropped: keep what to take back (unless it dropped again mid-rejoin, when
        the state is half rebuilt and the list from before still holds)."""
        if not self.active:
            self.rooms = [room.name for room in state.rooms.values()]
            current = state.current_room
            self.current = current.name if current else None
        self.active = False
        self._parting.clear()

    def start(self, since: Callable[[str], Event | None] = lambda room: None) -> list[Event]:
        """Welcomed again: the commands that take the rooms back, the barrier last. `since`
        says where each room was left (client/backlog.py), for the server to resume it."""
        self.active = True
        order = [r for r in self.rooms if r != self.current]
        if self.current is not None:
            order.append(self.current)
        joins: list[Event] = []
        for room in order:
            where = since(room)
            joins.append({"type": "join", "room": room, **({"since": where} if where else {})})
        return [*joins, {"type": "ping", "token": BARRIER}]

    def finished(self, ev: Event) -> bool:
        """Is `ev` the barrier's pong? Then the rejoin is over."""
        if self.active and ev.get("type") == "pong" and ev.get("token") == BARRIER:
            self.active, self.rooms, self.current = False, [], None
            return True
        return False

    def answer(self, ev: Event, me: str) -> tuple[bool, Event | None]:
        """(is `ev` an answer to the rejoin, to be kept quiet; a command to send because of it)."""
        kind = ev.get("type")
        room = str(ev.get("room", ""))
        own = str(ev.get("nick", "")).lower() == me.lower()
        if kind == "part" and own and room.lower() in self._parting:
            self._parting.discard(room.lower())
            return True, None
        if not self.active:
            return False, None
        if kind == "join" and own:
            if room.lower() in {r.lower() for r in self.rooms}:
                return True, None
            self._parting.add(room.lower())  # the server's default room, which we had left
            return True, {"type": "part", "room": room}
        if kind == "topic":
            return ev.get("by") is None, None
        if kind == "notice":
            return ev.get("code") == "current-room", None
        return kind == "who", None
