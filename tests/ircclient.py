"""An IRC test client over a real socket, parsing with irctokens. Every read has a timeout."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import suppress

from irctokens.line import Line, build, tokenise

from tests.helpers import TIMEOUT


class IrcClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int) -> IrcClient:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    @classmethod
    async def login(cls, port: int, nick: str, caps: tuple[str, ...] = ()) -> IrcClient:
        """Register as `nick` (requesting `caps`), read up to the end of the MOTD and the
        default room's NAMES."""
        client = await cls.connect(port)
        await client.register(nick, caps)
        await client.expect("366")
        return client

    async def register(self, nick: str, caps: tuple[str, ...] = ()) -> list[Line]:
        """CAP LS 302 / REQ / END (when `caps`), NICK, USER; return the lines up to 376."""
        if caps:
            await self.send("CAP", "LS", "302")
        await self.send("NICK", nick)
        await self.send("USER", nick.lower(), "0", "*", f"{nick} the tester")
        if caps:
            await self.expect("CAP", lambda m: m.params[1] == "LS")
            await self.send("CAP", "REQ", " ".join(caps))
            ack = await self.expect("CAP")
            assert ack.params[1] == "ACK", ack.format()
            await self.send("CAP", "END")
        return await self.until("376")

    async def raw(self, data: str | bytes) -> None:
        payload = data.encode() if isinstance(data, str) else data
        self.writer.write(payload if payload.endswith(b"\n") else payload + b"\r\n")
        await self.writer.drain()

    async def send(self, command: str, *params: str) -> None:
        await self.raw(build(command, list(params)).format())

    async def message(self, timeout: float = TIMEOUT) -> Line:
        raw = await asyncio.wait_for(self.reader.readline(), timeout)
        if not raw:
            raise EOFError("server closed the connection")
        assert raw.endswith(b"\r\n"), raw
        return tokenise(raw.decode().rstrip("\r\n"))

    async def expect(
        self,
        command: str,
        where: Callable[[Line], bool] | None = None,
        timeout: float = TIMEOUT,
    ) -> Line:
        """Read until a line of `command` (matching `where`) arrives; return it."""
        seen: list[str] = []

        async def scan() -> Line:
            while True:
                msg = await self.message(timeout)
                if msg.command == command and (where is None or where(msg)):
                    return msg
                seen.append(msg.format())

        try:
            return await asyncio.wait_for(scan(), timeout)
        except (TimeoutError, EOFError) as err:
            raise AssertionError(f"no {command} arrived; saw {seen!r}") from err

    async def until(self, command: str, timeout: float = TIMEOUT) -> list[Line]:
        """Every line up to and including the first `command`."""
        lines: list[Line] = []

        async def scan() -> None:
            while True:
                msg = await self.message(timeout)
                lines.append(msg)
                if msg.command == command:
                    return

        try:
            await asyncio.wait_for(scan(), timeout)
        except (TimeoutError, EOFError) as err:
            seen = [m.format() for m in lines]
            raise AssertionError(f"no {command} arrived; saw {seen!r}") from err
        return lines

    async def closed(self, timeout: float = TIMEOUT) -> list[Line]:
        """Read until the server closes; return the lines on the way."""
        lines: list[Line] = []

        async def drain() -> None:
            while raw := await self.reader.readline():
                lines.append(tokenise(raw.decode().rstrip("\r\n")))

        await asyncio.wait_for(drain(), timeout)
        return lines

    async def close(self) -> None:
        self.writer.close()
        with suppress(ConnectionError, OSError):
            await self.writer.wait_closed()
