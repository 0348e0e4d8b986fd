"""Windows, as in irssi: one per joined room, each with its own scrollback, unread count and
mention mark. No terminal here: the UI draws what this holds.

Window N is the Nth room joined (Alt-N). The *current* window is the client's current room
(`State.current`), so switching windows is switching rooms. Lines that belong to no room
(welcome, errors, private messages, /rooms, /help) go to the current window; with no room at
all they wait in a status window, whose lines the next room window opens with. Windows outlive
a reconnect: the scrollback is still there when the rooms are rejoined.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from client.render import Fragments
from client.state import State

SCROLLBACK = 2000
"""Lines kept per window."""


@dataclass
class Window:
    name: str
    lines: deque[Fragments] = field(default_factory=lambda: deque(maxlen=SCROLLBACK))
    unread: int = 0  # chat lines that arrived while another window was shown
    mentioned: bool = False  # one of them named you
    scroll: int = 0  # lines scrolled up from the bottom (0: following new lines)

    def add(self, line: Fragments) -> None:
        self.lines.append(line)
        if self.scroll:  # scrolled up: keep looking at the same lines
            self.scroll = min(self.scroll + 1, len(self.lines) - 1)

    def visible(self, rows: int) -> list[Fragments]:
        """The `rows` lines that end where the view is scrolled to."""
        end = len(self.lines) - self.scroll
        return list(itertools.islice(self.lines, max(0, end - rows), end))

    def page(self, lines: int) -> None:
        """Scroll up (positive) or down (negative) by `lines`, within the scrollback."""
        self.scroll = max(0, min(len(self.lines) - 1, self.scroll + lines))

    def seen(self) -> None:
        self.unread, self.mentioned = 0, False


class Windows:
    def __init__(self, hold: Callable[[], bool] = lambda: False) -> None:
        self.status = Window("status")
        self.rooms: dict[str, Window] = {}  # folded room name -> window, in join order
        self.shown: str | None = None  # the room window last on screen
        self.hold = hold  # true while a rejoin rebuilds the state: the screen stays put

    def open(self, name: str) -> Window:
        key = name.lower()
        if key not in self.rooms:
            window = Window(name)
            if not self.rooms:  # the first room shows what came before it (welcome, ...)
                window.lines.extend(self.status.lines)
                self.status.lines.clear()
            self.rooms[key] = window
        return self.rooms[key]

    def close(self, name: str) -> None:
        self.rooms.pop(name.lower(), None)

    def get(self, key: str | None) -> Window:
        """The window of room `key`; for None, the one on screen."""
        if key is None:
            return self.rooms.get(self.shown or "", self.status)
        return self.rooms.get(key, self.status)

    def current(self, state: State) -> Window:
        """The window on screen: the current room's. While a rejoin rebuilds the state (no
        current room, then each rejoined room in turn), the one that was on screen stays."""
        if state.current in self.rooms and not self.hold():
            self.shown = state.current
        return self.get(None)

    def numbered(self) -> list[tuple[int, str, Window]]:
        """(number, key, window) for the toolbar and Alt-N, numbers from 1."""
        return [(n, key, w) for n, (key, w) in enumerate(self.rooms.items(), 1)]

    def key_of(self, number: int) -> str | None:
        keys = list(self.rooms)
        return keys[number - 1] if 1 <= number <= len(keys) else None

    def step(self, state: State, delta: int) -> str | None:
        """The window `delta` places after the current one (wrapping round), for Ctrl-N/P."""
        keys = list(self.rooms)
        if not keys:
            return None
        here = keys.index(state.current) if state.current in keys else -1
        return keys[(here + delta) % len(keys)]

    def add(self, keys: Iterable[str | None], line: Fragments, state: State, *,
            chat: bool, mention: bool) -> None:  # fmt: skip
        """Put `line` in the windows of `keys`; count it unread in those not shown."""
        shown = self.current(state)
        for window in {id(w): w for w in map(self.get, keys)}.values():  # each window once
            window.add(line)
            if window is not shown and chat:
                window.unread += 1
                window.mentioned |= mention


def route(ev: dict[str, Any], state: State) -> list[str | None]:
    """The windows (folded room names; None: the one on screen) an event's line goes to."""
    kind = ev.get("type")
    room = ev.get("room")
    if (kind == "topic" and ev.get("by") is None) or kind == "who":
        return [state.current]  # an answer to what you asked (or to your join): where you are
    if kind in ("message", "join", "part", "topic", "mark", "kick", "mode") and isinstance(
        room, str
    ):
        key = room.lower()
        return [key] if key in state.rooms else [state.current]
    if kind in ("quit", "nick") and state.affected:
        return list(state.affected)
    return [state.current]
