"""The real `chat-client` in a pseudo-terminal with accounts: the server's hint is shown,
`/register` works, and the password is never on the screen (masked while typed), never in
the bytes sent to the terminal, and never in the history file or the session's Up history."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import ServerProcess
from tests.test_client_pty import client

SECRET = "violet-anchor-5521"


async def test_register_never_shows_or_keeps_the_password(tmp_path: Path) -> None:
    server = await ServerProcess.start("--accounts", "--data-dir", str(tmp_path / "data"))
    try:
        async with client(tmp_path, "--nick", "bob", "--port", str(server.port)) as term:
            await term.shows("bob is not registered: /register <password> keeps it yours")
            term.child.send("/register " + SECRET)
            await term.until(lambda ls: any(line.endswith("> /register " + "*" * len(SECRET))
                                            for line in ls))  # fmt: skip
            term.child.send("\r")
            await term.shows("you are now identified as bob (registered)")
            term.child.send("after")
            term.child.send("\r")
            await term.shows("<bob> after")
            term.child.send("\x1b[A")  # Up: the last line typed, not the /register one
            await term.until(lambda ls: any(line.endswith("> after") for line in ls))
            term.child.send("\x1b[A")  # and nothing before it
            await term.until(lambda ls: any(line.endswith("> after") for line in ls))
            term.child.sendcontrol("u")
            term.child.sendcontrol("d")
            assert await term.close() == 0
        assert SECRET.encode() not in term.raw
        assert not any(SECRET in line for line in term.lines())
        history = (tmp_path / "chat" / "history").read_text()
        assert "after" in history and SECRET not in history and "/register" not in history
    finally:
        await server.stop()
    assert not any(SECRET in str(entry) for entry in server.logs)
