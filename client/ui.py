"""The terminal UI: prompt_toolkit's `prompt_async` under `patch_stdout`.

Incoming events are printed above the prompt while the user types (patch_stdout redraws the
half-typed line below them), a bottom toolbar shows the link, nick, room and member count, Tab
completes commands, rooms and nicks, and the history is kept across runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from prompt_toolkit import PromptSession, print_formatted_text
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import FileHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.patch_stdout import patch_stdout
from prompt_toolkit.styles import Style

from client.commands import COMMANDS, parse
from client.connection import Connection, Event, local
from client.render import STYLE, render
from client.state import State

KEYS = (
    "Enter send   Tab complete   Up/Down history   Ctrl-R search history",
    "Ctrl-A/Ctrl-E start/end of line   Ctrl-W delete word   Ctrl-D or Ctrl-C quit",
)


def history_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    path = Path(base) / "chat" / "history"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


class ChatCompleter(Completer):
    """/commands, then room names for room arguments, nicks of the current room otherwise."""

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


def toolbar(state: State) -> FormattedText:
    link = {"online": "online", "connecting": "connecting...", "offline": "OFFLINE"}[state.link]
    room = state.current_room
    where = f"{room.name} ({room.count})" if room else "no room"
    style = "class:toolbar.online" if state.link == "online" else "class:toolbar.offline"
    return FormattedText([(style, f" {link} "), ("class:toolbar", f" {state.nick}  {where} ")])


async def run_ui(conn: Connection) -> None:
    """Run the prompt until /quit, Ctrl-D or Ctrl-C; the connection runs beside it."""
    style = Style.from_dict(STYLE)
    state = conn.state

    def show(ev: Event) -> None:
        fragments = render(ev, state.current)
        if fragments is not None:
            print_formatted_text(FormattedText(fragments), style=style)

    conn.on_event = show
    keys = KeyBindings()

    @keys.add("c-c")
    def _quit(event: KeyPressEvent) -> None:
        # Ctrl-C quits like Ctrl-D. Left to prompt_toolkit it raises KeyboardInterrupt inside
        # the prompt task, which asyncio re-raises out of the loop as a traceback.
        event.app.exit(exception=EOFError())

    session: PromptSession[str] = PromptSession(
        key_bindings=keys,
        history=FileHistory(str(history_path())),
        completer=ChatCompleter(state),
        complete_while_typing=False,
        bottom_toolbar=lambda: toolbar(state),
        style=style,
        refresh_interval=0.5,
    )
    link = asyncio.create_task(conn.run())
    online = asyncio.create_task(conn.connected.wait())
    await asyncio.wait({link, online}, return_when=asyncio.FIRST_COMPLETED)
    if link.done():  # the first connection failed: no prompt, one clear line (from the CLI)
        online.cancel()
        link.result()
        return
    with patch_stdout(raw=True):
        try:
            await _prompt_loop(session, conn, link, show)
        finally:
            if not link.done():
                await conn.quit("")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(link), 2)
            link.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await link


async def _prompt_loop(
    session: PromptSession[str],
    conn: Connection,
    link: asyncio.Task[None],
    show: Callable[[Event], None],
) -> None:
    state = conn.state
    while True:
        prompt = asyncio.create_task(session.prompt_async("> "))
        await asyncio.wait({prompt, link}, return_when=asyncio.FIRST_COMPLETED)
        if not prompt.done():  # the link ended under us
            prompt.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await prompt
            return
        try:
            line = prompt.result()
        except EOFError:  # Ctrl-D, Ctrl-C
            return
        parsed = parse(line, state.current)
        if parsed.help:
            for text in (*(f"{c} {h}" for c, h in COMMANDS.items()), *KEYS):
                show(local(text))
        elif parsed.error:
            show(local(parsed.error, "error"))
        elif parsed.quit:
            await conn.quit(str(parsed.command["reason"]) if parsed.command else "")
            return
        elif parsed.command is not None:
            conn.send(parsed.command)
