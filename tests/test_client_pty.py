"""The real `chat-client` in a pseudo-terminal (pexpect), its screen emulated with pyte.

While another client floods the room, a line is typed slowly: the screen shows the arrived
messages above an intact input line, and Enter delivers it. `Terminal` and `client` are shared
with the other tests/test_client_pty_*.py files.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pexpect
import pyte

from tests.helpers import JsonClient, ServerProcess

COLS, ROWS = 100, 30


class Screen(pyte.Screen):
    """A pyte screen that answers the terminal's queries (cursor position), as a terminal does."""

    def __init__(self, columns: int, lines: int) -> None:
        super().__init__(columns, lines)
        self.replies: list[str] = []

    def write_process_input(self, data: str) -> None:
        self.replies.append(data)


class Terminal:
    """A child process on a PTY, its output fed to a pyte screen by a background reader."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.child = pexpect.spawn(argv[0], argv[1:], env=env, dimensions=(ROWS, COLS))
        self.screen = Screen(COLS, ROWS)
        self.stream = pyte.ByteStream(self.screen)
        self.raw = b""
        self._changed = asyncio.Event()
        self._pump = asyncio.create_task(self._read())

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                data = await loop.run_in_executor(None, self.child.read_nonblocking, 65536, 0.1)
            except pexpect.TIMEOUT:
                continue
            except pexpect.EOF:
                self._changed.set()
                return
            self.raw += data
            self.stream.feed(data)
            for reply in self.screen.replies:
                self.child.send(reply)
            self.screen.replies.clear()
            self._changed.set()

    def lines(self) -> list[str]:
        return [line.rstrip() for line in self.screen.display]

    async def until(self, ok: Callable[[list[str]], bool], timeout: float = 10.0) -> list[str]:
        try:
            async with asyncio.timeout(timeout):
                while not ok(self.lines()):
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError("screen never matched:\n" + "\n".join(self.lines())) from None
        return self.lines()

    async def shows(self, text: str, timeout: float = 10.0) -> list[str]:
        """Wait until some line of the screen contains `text`."""
        return await self.until(lambda ls: any(text in line for line in ls), timeout)

    def count(self, text: str) -> int:
        """Lines of the screen that contain `text`."""
        return sum(text in line for line in self.lines())

    def toolbar(self) -> str:
        return self.lines()[-1]

    async def close(self) -> int:
        await asyncio.wait_for(self._pump, 10)
        self.child.wait()
        return int(self.child.exitstatus or 0)


def client_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_")}
    return {**env, "TERM": "xterm-256color", "XDG_STATE_HOME": str(tmp_path), **extra}


@asynccontextmanager
async def client(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> AsyncIterator[Terminal]:
    """`chat-client *args` on a PTY; killed on the way out if a test left it running."""
    term = Terminal([sys.executable, "-m", "client", *args], env or client_env(tmp_path))
    try:
        yield term
    finally:
        if term.child.isalive():
            term.child.terminate(force=True)
        term._pump.cancel()


async def test_typing_while_messages_flood_in(tmp_path: Path) -> None:
    server = await ServerProcess.start()
    env = {
        **os.environ,
        "TERM": "xterm-256color",
        "XDG_STATE_HOME": str(tmp_path),
        "COLUMNS": "100",
    }
    term = Terminal(
        [sys.executable, "-m", "client", "--nick", "bob", "--port", str(server.port)], env
    )
    flooder = await JsonClient.login(server.port, "flood")
    try:
        await term.until(lambda ls: any("connected as bob" in line for line in ls))
        await flooder.event("join", lambda ev: ev["nick"] == "bob")

        async def flood() -> None:
            n = 0
            while True:
                await flooder.send_json(type="say", text=f"flood {n}")
                n += 1
                await asyncio.sleep(0.02)  # the flooder's pace

        flooding = asyncio.create_task(flood())
        typed = "hello while it floods"
        for ch in typed:  # a person typing, slowly
            term.child.send(ch)
            await asyncio.sleep(0.04)
        lines = await term.until(
            lambda ls: (
                sum("<flood> flood" in line for line in ls) >= 5
                and any(line.endswith("> " + typed) for line in ls)
            )
        )
        flooding.cancel()
        prompt = [line for line in lines if line.endswith("> " + typed)]
        assert len(prompt) == 1, lines  # the half-typed line is shown once, intact
        assert lines.index(prompt[0]) > max(
            i for i, line in enumerate(lines) if "<flood> flood" in line
        )  # below the messages that arrived
        await term.until(lambda ls: "#lobby (2)" in ls[-1])  # the toolbar: room and members
        term.child.send("\r")
        got = await flooder.event("message", lambda ev: ev["nick"] == "bob")
        assert got["text"] == typed
        await term.until(lambda ls: any(line.endswith("<bob> " + typed) for line in ls))
        await term.until(lambda ls: ">" in ls and "online" in ls[-1])  # a fresh, empty prompt
        term.child.sendcontrol("d")
        assert await term.close() == 0
        assert b"Traceback" not in term.raw
        history = (tmp_path / "chat" / "history").read_text()
        assert typed in history  # kept for the next run
    finally:
        if term.child.isalive():
            term.child.terminate(force=True)
        await server.stop()


async def test_ctrl_c_leaves_cleanly(tmp_path: Path) -> None:
    server = await ServerProcess.start()
    env = {**os.environ, "TERM": "xterm-256color", "XDG_STATE_HOME": str(tmp_path)}
    term = Terminal(
        [sys.executable, "-m", "client", "--nick", "carol", "--port", str(server.port)], env
    )
    watcher = await JsonClient.login(server.port, "watcher")
    try:
        await term.until(lambda ls: any("connected as carol" in line for line in ls))
        term.child.send("half a line")
        await term.until(lambda ls: any(line.endswith("> half a line") for line in ls))
        term.child.sendcontrol("c")
        assert await term.close() == 0
        assert b"Traceback" not in term.raw and b"KeyboardInterrupt" not in term.raw
        assert (await watcher.event("quit"))["nick"] == "carol"  # it said goodbye
    finally:
        if term.child.isalive():
            term.child.terminate(force=True)
        await server.stop()


async def test_an_unreachable_server_is_one_line_and_exit_1(tmp_path: Path) -> None:
    env = {**os.environ, "TERM": "xterm-256color", "XDG_STATE_HOME": str(tmp_path)}
    term = Terminal([sys.executable, "-m", "client", "--nick", "dave", "--port", "9"], env)
    assert await term.close() == 1
    shown = [line for line in term.lines() if line]
    assert shown == ["chat-client: cannot reach 127.0.0.1:9: connection refused"]
