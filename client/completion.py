"""Tab completion: /commands, #rooms, and nicks of the current room (`nick: ` at the start of a
line, as IRC clients do). No terminal here: prompt_toolkit asks, this answers."""

from __future__ import annotations

from collections.abc import Iterable

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from client.commands import COMMANDS
from client.state import State


class ChatCompleter(Completer):
    def __init__(self, state: State) -> None:
        self.state = state

    def get_completions(self, document: Document, event: CompleteEvent) -> Iterable[Completion]:
        before = document.text_before_cursor
        word = document.get_word_before_cursor(WORD=True)
        if " " not in before and before.startswith("/"):
            for cmd in COMMANDS:
                if cmd.startswith(word.lower()):
                    yield Completion(cmd + " ", -len(word), display_meta=COMMANDS[cmd])
            return
        if word.startswith("#"):
            rooms = {r.name for r in self.state.rooms.values()} | self.state.room_names
            for name in sorted(rooms, key=str.lower):
                if name.lower().startswith(word.lower()):
                    yield Completion(name + " ", -len(word))
            return
        room = self.state.current_room
        nicks = sorted(room.members, key=str.lower) if room else []
        at_start = before == word
        for nick in nicks:
            if nick.lower().startswith(word.lower()):
                yield Completion(nick + (": " if at_start else " "), -len(word))
