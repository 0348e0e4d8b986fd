"""Test helpers: a real server on 127.0.0.1 port 0 and line-oriented clients over real sockets.

Nothing here sleeps to wait: every read awaits the bytes with a timeout.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import replace
from typing import Any

from chat.server import ChatServer
from chat.settings import Settings

TIMEOUT = 5.0


@asynccontextmanager
async def running_server(**overrides: Any) -> AsyncIterator[ChatServer]:
    settings = replace(Settings(), host="127.0.0.1", port=0, **overrides)
    server = ChatServer(settings)
    await server.start()
    try:
        yield server
    finally:
        await server.shutdown()


class LineClient:
    """A raw-socket client that speaks lines, as netcat does."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int) -> LineClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, line: str | bytes) -> None:
        data = line.encode() if isinstance(line, str) else line
        self.writer.write(data if data.endswith(b"\n") else data + b"\n")
        await self.writer.drain()

    async def line(self, timeout: float = TIMEOUT) -> str:
        raw = await asyncio.wait_for(self.reader.readline(), timeout)
        if not raw:
            raise EOFError("server closed the connection")
        return raw.decode().rstrip("\n")

    async def expect(self, pattern: str, timeout: float = TIMEOUT) -> str:
        """Read lines until one matches `pattern` (a regex searched in the line); return it."""
        return (await self.expect_match(pattern, timeout)).string

    async def expect_match(self, pattern: str, timeout: float = TIMEOUT) -> re.Match[str]:
        regex = re.compile(pattern)
        seen: list[str] = []

        async def scan() -> re.Match[str]:
            while True:
                line = await self.line(timeout)
                m = regex.search(line)
                if m:
                    return m
                seen.append(line)

        try:
            return await asyncio.wait_for(scan(), timeout)
        except (TimeoutError, EOFError) as err:
            raise AssertionError(f"no line matched {pattern!r}; saw {seen!r}") from err

    async def closed(self, timeout: float = TIMEOUT) -> list[str]:
        """Read until EOF; return the lines seen on the way."""
        lines: list[str] = []

        async def drain() -> None:
            while raw := await self.reader.readline():
                lines.append(raw.decode(errors="replace").rstrip("\n"))

        await asyncio.wait_for(drain(), timeout)
        return lines

    async def close(self) -> None:
        self.writer.close()
        with suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


class TextClient(LineClient):
    @classmethod
    async def login(cls, port: int, nick: str) -> TextClient:
        client = cls(*await asyncio.open_connection("127.0.0.1", port))
        await client.expect("pick a nick")
        await client.send(nick)
        await client.expect(rf"^\* welcome, {re.escape(nick)}!")
        await client.expect(r"^\* #lobby \(")
        return client


class JsonClient(LineClient):
    @classmethod
    async def login(cls, port: int, nick: str) -> JsonClient:
        client = cls(*await asyncio.open_connection("127.0.0.1", port))
        await client.send_json(type="hello", version=1, nick=nick)
        await client.event("welcome")
        await client.event("who")
        return client

    async def send_json(self, **fields: Any) -> None:
        await self.send(json.dumps(fields))

    async def next_event(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next JSON line, skipping the text lines sent before the dialect is known."""
        while True:
            line = await self.line(timeout)
            if line.startswith("{"):
                event: dict[str, Any] = json.loads(line)
                return event

    async def event(
        self,
        kind: str,
        where: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = TIMEOUT,
    ) -> dict[str, Any]:
        """Read events until one of type `kind` (and matching `where`) arrives."""
        seen: list[dict[str, Any]] = []

        async def scan() -> dict[str, Any]:
            while True:
                ev = await self.next_event(timeout)
                if ev["type"] == kind and (where is None or where(ev)):
                    return ev
                seen.append(ev)

        try:
            return await asyncio.wait_for(scan(), timeout)
        except (TimeoutError, EOFError) as err:
            raise AssertionError(f"no {kind!r} event; saw {seen!r}") from err
