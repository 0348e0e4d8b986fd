"""A room's past, as the client shows it: the recent lines on joining, and after a reconnect
what was missed while away, once, in order, marked. No I/O: this says what to show and what to
send; client/connection.py does both.

Every room message carries its room's `epoch` and `offset` (1, 2, 3, ...), and every `join`
the room's epoch and latest offset. `seen` holds, per room, the position of the last line
shown (or of the join, in a quiet room). Three moments use it:

- **A join** (yours, not a reconnect's): the room's last `RECENT` lines are asked for with a
  `history` command. The page is shown dim under one line, "— the last 3 lines before you
  joined —"; only its lines at or before the join's offset, so a line said meanwhile and
  already shown is not shown twice.
- **A reconnect**: `since(room)` gives the `since` of each rejoin and starts holding the room's
  lines back. The server sends what was missed (`replay`), then your own `join` with
  `recovered`: the held lines come out then, sorted by offset, without any at or before the
  last one shown, under one line: "— 12 messages while you were away —", or, when `recovered`
  is false, "— some messages while you were away are missing (12 replayed) —" (after a new
  epoch, a restarted server: "— history reset by the server: some messages may be missing
  (none replayed) —"). Nothing missed and nothing missing: no line at all. The rejoin's barrier
  (`settle_all`) lets out whatever is still held (a server without history answers a `since`
  with a plain join), and a dropped link drops what is held: it was never shown, so `seen` has
  not moved and the next resume asks for it again.
- **Every live line**: one at or before the last shown offset of its room (same epoch) is a
  duplicate and is dropped.
"""

from __future__ import annotations

from typing import Any

Event = dict[str, Any]
Position = tuple[str, int]  # (epoch, offset)
RECENT = 20
"""Lines of a room's history shown on joining it."""


def position(ev: Event) -> Position | None:
    """The (epoch, offset) an event carries, if it carries one."""
    epoch, offset = ev.get("epoch"), ev.get("offset")
    if isinstance(epoch, str) and epoch and isinstance(offset, int):
        return epoch, offset
    return None


def mark(room: str, text: str, level: str) -> Event:
    """A line the client adds to a room's window: `missed`, `missing` or `history`."""
    return {"type": "mark", "room": room, "text": text, "level": level}


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class Backlog:
    def __init__(self, recent: int = RECENT) -> None:
        self.recent = recent
        self.seen: dict[str, Position] = {}  # folded room -> the last line shown
        self.held: dict[str, list[Event]] = {}  # folded room -> lines held during a resume
        self.asked: dict[str, Position] = {}  # folded room -> the join a history page answers

    # --- a reconnect ----------------------------------------------------------------------------
    def since(self, room: str) -> dict[str, Any] | None:
        """Where to resume `room` from (None: nowhere known); its lines wait for the answer."""
        pos = self.seen.get(room.lower())
        if pos is None:
            return None
        self.held[room.lower()] = []
        return {"epoch": pos[0], "offset": pos[1]}

    def settle_all(self) -> list[Event]:
        """The rejoin is over: let out whatever is still held."""
        out: list[Event] = []
        for key in list(self.held):
            out += self._settle(key, None)
        return out

    def lost(self) -> None:
        """The link dropped: what is held was never shown; the next resume asks again."""
        self.held.clear()
        self.asked.clear()

    # --- every event ----------------------------------------------------------------------------
    def feed(self, ev: Event, me: str, *, rejoining: bool) -> tuple[list[Event], list[Event]]:
        """(the events to show, in order: `ev` itself, or not if held or a duplicate, and any it
        lets out; the commands to send because of it)."""
        kind, room = ev.get("type"), ev.get("room")
        if not isinstance(room, str):
            return [ev], []
        key = room.lower()
        if kind == "message":
            return self._message(key, ev), []
        if kind == "history":
            return self._page(room, key, ev), []
        own = str(ev.get("nick", "")).lower() == me.lower()
        if kind == "join" and own:
            return self._joined(room, key, ev, rejoining=rejoining)
        if kind == "part" and own:
            self.seen.pop(key, None)
            self.held.pop(key, None)
            self.asked.pop(key, None)
        return [ev], []

    def _message(self, key: str, ev: Event) -> list[Event]:
        held = self.held.get(key)
        if held is not None:
            held.append(ev)
            return []
        return [ev] if self._new(key, ev) else []

    def _new(self, key: str, ev: Event) -> bool:
        """Is `ev` after the last line shown in its room? (Then it is the last one shown.)"""
        pos = position(ev)
        if pos is None:
            return True  # a server without history: nothing to compare
        seen = self.seen.get(key)
        if seen is not None and seen[0] == pos[0] and pos[1] <= seen[1]:
            return False
        self.seen[key] = pos
        return True

    def _joined(
        self, room: str, key: str, ev: Event, *, rejoining: bool
    ) -> tuple[list[Event], list[Event]]:
        pos = position(ev)
        if "recovered" in ev:  # the answer to a resume
            return [ev, *self._settle(key, ev)], []
        if pos is None:
            return [ev], []
        if rejoining:  # the server's default room, or a rejoin without `since`
            self.seen.setdefault(key, pos)
            return [ev], []
        self.seen[key] = pos
        self.asked[key] = pos
        return [ev], [{"type": "history", "room": room, "limit": self.recent}]

    def _settle(self, key: str, joined: Event | None) -> list[Event]:
        """Let out the lines held for `key`: sorted, without duplicates, under one line."""
        held = self.held.pop(key, [])
        before = self.seen.get(key)  # where the room was left
        held.sort(key=lambda m: (position(m) or ("", 0))[1])  # stable: no offset keeps order
        fresh = [m for m in held if self._new(key, m)]
        replayed = sum(bool(m.get("replay")) for m in fresh)
        room = str(joined["room"]) if joined else str(held[0]["room"]) if held else key
        out: list[Event] = []
        pos = position(joined) if joined else None
        seen = self.seen.get(key)
        if joined is not None and joined.get("recovered") is False:
            count = f"{replayed} replayed" if replayed else "none replayed"
            if pos is not None and before is not None and pos[0] != before[0]:
                text = f"— history reset by the server: some messages may be missing ({count}) —"
            else:
                text = f"— some messages while you were away are missing ({count}) —"
            out.append(mark(room, text, "missing"))
        elif replayed:
            text = f"— {plural(replayed, 'message')} while you were away —"
            out.append(mark(room, text, "missed"))
        out += fresh
        if pos is not None and (seen is None or seen[0] != pos[0] or seen[1] < pos[1]):
            self.seen[key] = pos  # the room's latest: everything up to it was sent, or is lost
        return out

    def _page(self, room: str, key: str, ev: Event) -> list[Event]:
        """A `history` page: its lines up to the join it answers, dim, under one line."""
        anchor = self.asked.pop(key, None) or self.seen.get(key)
        lines: list[Event] = []
        messages = ev.get("messages")
        for m in messages if isinstance(messages, list) else []:
            pos = position(m) if isinstance(m, dict) else None
            if pos is None:
                continue
            if anchor is None or (pos[0] == anchor[0] and pos[1] <= anchor[1]):
                lines.append({**m, "type": "message", "room": room, "history": True})
        if not lines:
            return []
        header = f"— the last {plural(len(lines), 'line')} before you joined —"
        return [mark(room, header, "history"), *lines]
