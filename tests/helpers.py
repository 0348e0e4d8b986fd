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
from typing import Any, Self

from chat.net.server import ChatServer
from chat.settings import Settings

TIMEOUT = 15.0  # a bound on waiting for something that must come: generous on a busy machine


# Every test client comes from 127.0.0.1 and many tests send fast on purpose, so the per-IP
# and per-client rate limits are off unless a test turns them on (tests/test_hostile.py and
# tests/test_attacks.py do).
TEST_DEFAULTS: dict[str, Any] = {"max_per_ip": 0, "msg_rate": 0.0, "room_create_rate": 0.0}
TEST_FLAGS = ("--max-per-ip", "0", "--msg-rate", "0", "--room-create-rate", "0")


@asynccontextmanager
async def running_server(**overrides: Any) -> AsyncIterator[ChatServer]:
    options = {"host": "127.0.0.1", "port": 0, **TEST_DEFAULTS, **overrides}
    settings = replace(Settings(), **options)
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
    async def connect(cls, port: int) -> Self:
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


class ServerProcess:
    """`chat-server` as a real child process; its JSON log lines are collected as they come."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.logs: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._collect())
        self.port = 0

    @classmethod
    async def start(cls, *args: str, env: dict[str, str] | None = None) -> ServerProcess:
        import os
        import sys

        full_env = {**os.environ, **(env or {})}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "chat", "--port", "0", "--log-format", "json", *TEST_FLAGS, *args,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, env=full_env,
        )  # fmt: skip
        server = cls(proc)
        try:
            started = await server.log_event("server.started")
        except BaseException:
            if proc.returncode is None:
                proc.kill()  # never leave a child behind: it would outlive the test run
            await proc.wait()
            raise
        server.port = int(started["port"])
        return server

    async def _collect(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            try:
                self.logs.append(json.loads(raw))
            except ValueError:
                self.logs.append({"event": "raw", "line": raw.decode(errors="replace")})
            self._changed.set()
        self._changed.set()

    async def log_event(
        self,
        name: str,
        where: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = TIMEOUT,
    ) -> dict[str, Any]:
        """Wait until the server has logged event `name` (matching `where`)."""
        return await self.wait_logs(
            lambda entry: entry.get("event") == name and (where is None or where(entry)), timeout
        )

    async def wait_logs(
        self, match: Callable[[dict[str, Any]], bool], timeout: float = TIMEOUT
    ) -> dict[str, Any]:
        """Wait for the first log entry `match` accepts; `match` sees each entry once."""
        seen = 0
        async with asyncio.timeout(timeout):
            while True:
                for entry in self.logs[seen:]:
                    seen += 1
                    if match(entry):
                        return entry
                if self._reader.done():
                    raise AssertionError(f"server exited while waiting: {self.logs[-5:]}")
                self._changed.clear()
                await self._changed.wait()

    def rss_kib(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    async def stop(self, timeout: float = 10.0) -> int:
        if self.proc.returncode is None:
            self.proc.terminate()
        try:
            code = await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            self.proc.kill()  # never leave a child behind; the caller still sees the failure
            await self.proc.wait()
            raise
        finally:
            with suppress(Exception):
                await asyncio.wait_for(self._reader, 5)
        return code
