"""The key bindings on top of prompt_toolkit's Emacs set (Ctrl-A/E/W/U/K, Up/Down history,
Ctrl-R search and Tab completion come from there).

| key | does |
|---|---|
| Alt-1 .. Alt-9, Alt-0 | window 1 .. 9, 10 |
| Ctrl-N / Ctrl-P | next / previous window |
| PageUp / PageDown | scroll this window's history |
| Ctrl-D (on an empty line), Ctrl-C | quit |
"""

from __future__ import annotations

from typing import Protocol

from prompt_toolkit.filters import Condition
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

HELP = (
    "keys: Enter send   Tab complete   Up/Down history   Ctrl-R search history",
    "keys: Alt-1..9 or /window N: window N   Ctrl-N/Ctrl-P next/previous window",
    "keys: PageUp/PageDown scroll the window   Ctrl-A/Ctrl-E start/end of line",
    "keys: Ctrl-W delete word   Ctrl-U/Ctrl-K delete before/after   Ctrl-D or Ctrl-C quit",
)


class Keyed(Protocol):
    """What the bindings drive (client.ui.ChatUI)."""

    def stop(self) -> None: ...
    def line_is_empty(self) -> bool: ...
    def show_window(self, number: int) -> None: ...
    def step_window(self, delta: int) -> None: ...
    def page(self, direction: int) -> None: ...


def bindings(ui: Keyed) -> KeyBindings:
    kb = KeyBindings()

    @kb.add("c-c")
    @kb.add("<sigint>")
    @kb.add("c-d", filter=Condition(ui.line_is_empty))
    def _quit(event: KeyPressEvent) -> None:
        ui.stop()

    for number in range(10):

        @kb.add("escape", str(number))
        def _window(event: KeyPressEvent, number: int = number) -> None:
            ui.show_window(number or 10)

    @kb.add("c-n")
    def _next(event: KeyPressEvent) -> None:
        ui.step_window(1)

    @kb.add("c-p")
    def _previous(event: KeyPressEvent) -> None:
        ui.step_window(-1)

    @kb.add("pageup")
    def _up(event: KeyPressEvent) -> None:
        ui.page(1)

    @kb.add("pagedown")
    def _down(event: KeyPressEvent) -> None:
        ui.page(-1)

    return kb
