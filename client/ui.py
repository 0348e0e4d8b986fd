"""The terminal UI: a full-screen prompt_toolkit application, laid out as irssi is.

    +-----------------------------------------------+
    | 14:02 <alice> hi bob                          |  the current window's lines
    | 14:02 <bob> hello alice                       |  (PageUp/PageDown scroll them)
    | > half-typed li|                              |  the input line
    |  online  bob  #lobby (2)  1:#lobby 2:#py+3    |  the status bar (client/toolbar.py)
    +-----------------------------------------------+

Every event from the connection goes through `on_event`: the room windows open and close on
your own joins and parts, the line is rendered once (from the server's echo for your own lines,
so they appear in the room's order) into the windows it belongs to, a mention rings the bell,
and the screen is redrawn. What you type is parsed (client/commands.py) and sent, never shown
by itself. The whole screen belongs to the application, so nothing printed can garble the
half-typed line.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

from prompt_toolkit.application import Application
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import History, InMemoryHistory
from prompt_toolkit.layout import (
    Float,
    FloatContainer,
    FormattedTextControl,
    HSplit,
    Layout,
    Window,
)
from prompt_toolkit.layout.controls import BufferControl
from prompt_toolkit.layout.dimension import Dimension
from prompt_toolkit.layout.menus import CompletionsMenu
from prompt_toolkit.layout.processors import BeforeInput
from prompt_toolkit.styles import Style
from prompt_toolkit.widgets import SearchToolbar

from client.commands import COMMANDS, is_secret, parse
from client.completion import ChatCompleter
from client.connection import Connection, Event, local
from client.keys import HELP, bindings
from client.lifecycle import Phase
from client.nicks import RULE, valid
from client.render import STYLE, Fragments, mentions, render
from client.secret import SecretProcessor
from client.toolbar import toolbar
from client.windows import Windows, route

CHAT = ("message", "private")
"""Events that count as unread in a window not on screen."""


class ChatUI:
    def __init__(self, conn: Connection, *, bell: bool = True, history: History | None = None):
        self.conn, self.state = conn, conn.state
        self.windows = Windows(hold=lambda: conn.rejoining)
        self.bell = bell
        self.quit_reason = ""
        self.input = Buffer(
            multiline=False,
            history=history or InMemoryHistory(),
            completer=ChatCompleter(self.state),
            complete_while_typing=False,
            accept_handler=self._accept,
        )
        search = SearchToolbar()
        self.pane = Window(
            FormattedTextControl(self._lines, focusable=False, show_cursor=False),
            wrap_lines=True,
        )
        entry = Window(
            BufferControl(
                self.input,
                input_processors=[
                    SecretProcessor(),  # first: it works on the buffer's own positions
                    BeforeInput(self._prompt, style="class:prompt"),
                ],
                search_buffer_control=search.control,
            ),
            height=Dimension(min=1, max=4),
            wrap_lines=True,
            dont_extend_height=True,
        )
        bar = Window(
            FormattedTextControl(lambda: FormattedText(toolbar(conn, self.windows, conn.clock()))),
            height=1,
            style="class:toolbar",
        )
        completions = Float(xcursor=True, ycursor=True, content=CompletionsMenu(max_height=8))
        root = FloatContainer(HSplit([self.pane, entry, search, bar]), floats=[completions])
        self.app: Application[None] = Application(
            layout=Layout(root, focused_element=entry),
            key_bindings=bindings(self),
            style=Style.from_dict(STYLE),
            full_screen=True,
            refresh_interval=0.5,  # the toolbar's countdown while offline
            enable_page_navigation_bindings=False,
        )
        conn.on_event = self.on_event

    # --- what arrives ---------------------------------------------------------------------
    def on_event(self, ev: Event) -> None:
        state = self.state
        kind = ev.get("type")
        if (
            kind in ("join", "part", "kick")
            and str(ev.get("nick", "")).lower() == state.nick.lower()
        ):
            if kind == "join":
                self.windows.open(str(ev["room"]))
            else:
                self.windows.close(str(ev["room"]))
        try:
            mention = mentions(ev, state.nick)
            line = render(ev, mention)
        except (KeyError, TypeError, ValueError, AttributeError):
            mention, line = False, render(local(f"ignored a malformed {kind!r} event", "warn"))
        if line is not None:
            chat = kind in CHAT and not ev.get("history")  # a room's past is not unread
            self.windows.add(route(ev, state), line, state, chat=chat, mention=mention)
            if mention and self.bell:
                self.app.output.bell()
        self.windows.current(state).seen()
        self.app.invalidate()

    def show(self, text: str, level: str = "info") -> None:
        self.on_event(local(text, level))

    def _lines(self) -> FormattedText:
        info = self.pane.render_info
        rows = info.window_height if info is not None else 200
        out: Fragments = []
        for line in self.windows.current(self.state).visible(rows):
            out += [*line, ("", "\n")]
        if out:
            out.pop()
        # Keep the bottom in view: the pane scrolls to show the (hidden) cursor, put last.
        return FormattedText([*out, ("[SetCursorPosition]", "")])

    def _prompt(self) -> FormattedText:
        return FormattedText([("class:prompt", "nick> " if self.conn.needs_nick else "> ")])

    # --- what is typed --------------------------------------------------------------------
    def _accept(self, buff: Buffer) -> bool:
        line = buff.text
        if self.conn.needs_nick:
            buff.reset()  # a nick is not worth keeping in the history
            self._nick_answer(line.strip())
            return False
        if is_secret(line):
            buff.reset()  # a password: not in the history, not even for Up
        room = self.state.current_room
        parsed = parse(line, room.name if room else None)
        if parsed.help:
            for cmd, text in COMMANDS.items():
                self.show(f"{cmd} {text}")
            for text in HELP:
                self.show(text)
        elif parsed.error:
            self.show(parsed.error, "error")
        elif parsed.window is not None:
            self.show_window(parsed.window)
        elif parsed.quit:
            self.quit_reason = str(parsed.command["reason"]) if parsed.command else ""
            self.stop()
        elif parsed.command is not None:
            command = parsed.command
            if command["type"] == "nick" and self.conn.life.phase is Phase.REGISTERING:
                self._nick_answer(str(command["nick"]))
            else:
                self.conn.send(command)
        return False

    def _nick_answer(self, text: str) -> None:
        word, _, rest = text.partition(" ")
        if word.lower() == "/quit":
            self.quit_reason = rest.strip()
            self.stop()
            return
        nick = rest.strip() if word.lower() == "/nick" else text
        if not valid(nick):
            self.show(f"not a valid nick: {nick!r} ({RULE})", "error")
            return
        self.conn.choose_nick(nick)

    # --- keys (client/keys.py) ------------------------------------------------------------
    def stop(self) -> None:
        if self.app.is_running and not (self.app.future and self.app.future.done()):
            self.app.exit()

    def line_is_empty(self) -> bool:
        return not self.input.text

    def _select(self, key: str | None) -> None:
        if key is not None and key in self.windows.rooms:
            self.state.current = key
            self.windows.get(key).seen()
            self.app.invalidate()

    def show_window(self, number: int) -> None:
        key = self.windows.key_of(number)
        if key is None:
            self.show(f"no window {number}", "error")
        self._select(key)

    def step_window(self, delta: int) -> None:
        self._select(self.windows.step(self.state, delta))

    def page(self, direction: int) -> None:
        info = self.pane.render_info
        rows = max(1, (info.window_height if info is not None else 20) - 1)
        self.windows.current(self.state).page(direction * rows)
        self.app.invalidate()


async def run_ui(conn: Connection, *, bell: bool = True, history: History | None = None) -> None:
    """Connect; once connected, run the UI until /quit, Ctrl-D, Ctrl-C, SIGTERM or SIGHUP.
    Raises what `conn.run()` raises: `Unreachable` before the UI starts, `Fatal` after."""
    early: list[Event] = []  # events before the UI exists (there are none, so far)
    conn.on_event = early.append
    link = asyncio.create_task(conn.run())
    opened = asyncio.create_task(conn.opened.wait())
    await asyncio.wait({link, opened}, return_when=asyncio.FIRST_COMPLETED)
    opened.cancel()
    if link.done():  # the first connection failed: no UI, one clear line (from the CLI)
        link.result()
        return
    ui = ChatUI(conn, bell=bell, history=history)  # the terminal is touched from here on
    for ev in early:
        ui.on_event(ev)
    link.add_done_callback(lambda _: ui.stop())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, ui.stop)
    try:
        await ui.app.run_async()
    finally:
        for sig in (signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        await conn.quit(ui.quit_reason)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(link), 3)
        link.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await link  # a Fatal refusal propagates to the CLI
