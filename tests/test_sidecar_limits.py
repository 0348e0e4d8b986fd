"""The sidecar's HTTP limits over real sockets on 127.0.0.1: the connection cap (the oldest idle
connection makes room, 503 when none is idle), one deadline per connection (request head,
keep-alive idle, a reader that stopped reading), the fd reserve, and both programs' options.

Nothing sleeps to wait: a close is awaited as EOF on the socket with a generous bound, and
counters are polled with a deadline. No assertion is about speed: where "closed by the cap, not
by the timeout" matters, the timeout is far longer than the bound the test waits.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import Response

from chat.bench.procfs import free_port
from chat.sidecar.embed import running_sidecar
from chat.sidecar.http import FD_BASE, MAX_CONNECTIONS, MAX_HEAD_BYTES, HttpServer, fd_reserve
from chat.sidecar.standalone import StatsSettings
from tests.helpers import TIMEOUT, JsonClient, ServerProcess, running_server
from tests.natsd import running_nats

CHAT_STATS = Path(sys.executable).parent / "chat-stats"
SHORT = 0.5
"""The deadline in tests that wait for it."""
LONG = 120.0
"""The deadline in tests where it must not fire."""
CLOSE_BOUND = TIMEOUT + 10 * SHORT
"""How long a test waits for a close it expects (generous: a busy machine is slow)."""

Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def connect(port: int) -> Conn:
    return await asyncio.open_connection("127.0.0.1", port)


async def closed(conn: Conn, timeout: float = CLOSE_BOUND) -> bytes:
    """Wait until the server closes `conn`; what it sent before closing."""
    reader, writer = conn
    got = bytearray()
    try:
        async with asyncio.timeout(timeout):
            while chunk := await reader.read(65536):
                got += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        raise AssertionError(f"still open after {timeout} s; got {bytes(got)!r}") from None
    finally:
        writer.close()
        with suppress(OSError):
            await writer.wait_closed()
    return bytes(got)


async def request(conn: Conn, path: str) -> tuple[int, bytes]:
    """One keep-alive GET on `conn`: its status and body."""
    reader, writer = conn
    writer.write(f"GET {path} HTTP/1.1\r\nhost: test\r\n\r\n".encode())
    await writer.drain()
    async with asyncio.timeout(TIMEOUT):
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:] if line)
        body = await reader.readexactly(int(headers["content-length"]))
    return int(lines[0].split()[1]), body


async def until(check: Callable[[], bool], what: str, timeout: float = CLOSE_BOUND) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}")
        await asyncio.sleep(0.01)  # poll pacing


def hold_app() -> tuple[FastAPI, asyncio.Event, list[int]]:
    """An app whose /hold answers once `gate` is set (`entered` counts requests in hand), and
    whose /big answers 32 MiB."""
    app = FastAPI()
    gate = asyncio.Event()
    entered: list[int] = []

    @app.get("/hold")
    async def hold() -> dict[str, bool]:
        entered.append(1)
        await gate.wait()
        return {"ok": True}

    @app.get("/big")
    async def big() -> Response:
        return Response(b"x" * (32 << 20), media_type="application/octet-stream")

    @app.get("/small")
    async def small() -> dict[str, bool]:
        return {"ok": True}

    return app, gate, entered


@asynccontextmanager
async def serving(
    app: FastAPI,
    timeout: float,
    max_connections: int = MAX_CONNECTIONS,
    in_use: Callable[[], int] | None = None,
) -> AsyncIterator[HttpServer]:
    http = HttpServer(
        app, "127.0.0.1", 0, max_connections=max_connections, timeout=timeout, in_use=in_use
    )
    await http.start()
    try:
        yield http
    finally:
        await http.stop()


# --- the cap --------------------------------------------------------------------------------


async def test_at_the_cap_the_oldest_silent_connections_make_room_and_stats_still_answer() -> None:
    cap, extra = 4, 3
    async with (
        running_server() as server,
        running_sidecar(server, max_connections=cap, timeout=LONG) as sidecar,
    ):
        http = sidecar.http
        assert http is not None
        first = [await connect(sidecar.port) for _ in range(cap)]
        await until(lambda: http.connections == cap, f"{cap} connections held")
        later = [await connect(sidecar.port) for _ in range(extra)]
        await until(lambda: http.evicted.total() == extra, f"{extra} evicted")
        for conn in first[:extra]:  # the oldest go, without a word, long before the deadline
            assert await closed(conn) == b""
        assert http.connections == cap
        async with httpx.AsyncClient(base_url=sidecar.url, trust_env=False) as client:
            r = await client.get("/stats", timeout=TIMEOUT)
            assert r.status_code == 200 and "connections" in r.json()
            assert await closed(first[-1]) == b""  # the last of the first made room for it
        assert http.evicted == {"max-connections": extra + 1}
        assert http.refused.total() == 0 and http.timed_out.total() == 0
        assert http.connections <= cap
        for _, writer in later:
            writer.close()


async def test_at_the_cap_with_every_request_in_hand_a_new_connection_gets_503() -> None:
    app, gate, entered = hold_app()
    async with serving(app, max_connections=2, timeout=LONG) as http:
        busy = [await connect(http.port) for _ in range(2)]
        for _, writer in busy:
            writer.write(b"GET /hold HTTP/1.1\r\nhost: test\r\n\r\n")
        await until(lambda: len(entered) == 2, "two requests in hand")
        refused = await closed(await connect(http.port))
        assert refused.startswith(b"HTTP/1.1 503 ")
        assert http.refused == {"max-connections": 1}
        gate.set()
        for reader, _ in busy:
            async with asyncio.timeout(TIMEOUT):
                assert (await reader.readuntil(b"\r\n")).startswith(b"HTTP/1.1 200")
        assert await request(await connect(http.port), "/small") == (200, b'{"ok":true}')


# --- the deadline ---------------------------------------------------------------------------


async def test_silent_slow_and_idle_connections_are_closed_after_the_timeout() -> None:
    async with (
        running_server() as server,
        running_sidecar(server, timeout=SHORT) as sidecar,
    ):
        http = sidecar.http
        assert http is not None
        silent = [await connect(sidecar.port) for _ in range(5)]
        slowloris = await connect(sidecar.port)
        slowloris[1].write(b"GET /stats HTTP/1.1\r\nhost: te")  # a head never finished
        idle = await connect(sidecar.port)
        assert (await request(idle, "/stats"))[0] == 200
        # uvicorn's own keep-alive timer is cancelled by the first byte of a next request and
        # never re-armed: this one was held forever before the deadline covered it
        one_byte = await connect(sidecar.port)
        assert (await request(one_byte, "/health"))[0] == 200
        one_byte[1].write(b"G")
        for conn in [*silent, slowloris, idle, one_byte]:
            assert await closed(conn) == b""
        await until(lambda: http.connections == 0, "no connection left")
        assert http.timed_out == {"header": 7, "idle": 1}
        assert http.refused.total() == 0 and http.evicted.total() == 0
        assert (await request(await connect(sidecar.port), "/health"))[0] == 200


async def test_a_reader_that_stops_reading_a_response_is_cut_after_the_timeout() -> None:
    app, _, _ = hold_app()
    async with serving(app, timeout=SHORT) as http:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", http.port))
        _, writer = await asyncio.open_connection(sock=sock)
        writer.write(b"GET /big HTTP/1.1\r\nhost: test\r\n\r\n")  # 32 MiB, and never read
        await until(lambda: http.timed_out["write"] == 1, "the stalled reader cut")
        await until(lambda: http.connections == 0, "no connection left")
        writer.close()


async def test_a_request_head_past_the_bound_is_answered_400_and_closed() -> None:
    app, _, _ = hold_app()
    async with serving(app, timeout=LONG) as http:
        conn = await connect(http.port)
        writer = conn[1]
        writer.write(b"GET /small HTTP/1.1\r\nx-pad: " + b"a" * MAX_HEAD_BYTES)
        assert (await closed(conn)).startswith(b"HTTP/1.1 400 ")


# --- the fd reserve -------------------------------------------------------------------------


async def test_near_the_open_file_limit_http_is_refused_and_the_reserve_kept() -> None:
    held = [0]
    app, _, _ = hold_app()
    async with serving(app, timeout=LONG, in_use=lambda: held[0]) as http:
        limit, reserve = http.guard.fd_limit, http.guard.fd_reserve
        if limit is None:
            pytest.skip("no open-file limit here")
        assert reserve == fd_reserve(limit) >= max(64, limit // 20)
        held[0] = limit - reserve  # one more descriptor would eat into the reserve
        assert (await closed(await connect(http.port))).startswith(b"HTTP/1.1 503 ")
        assert http.refused == {"fd-reserve": 1}
        held[0] = limit - reserve - 1  # room for exactly one HTTP connection
        one = await connect(http.port)
        assert await request(one, "/small") == (200, b'{"ok":true}')
        assert (await closed(await connect(http.port))).startswith(b"HTTP/1.1 503 ")
        assert http.refused == {"fd-reserve": 2}
        assert await request(one, "/small") == (200, b'{"ok":true}')  # the held one carries on


async def test_the_embedded_sidecar_counts_chat_connections_as_descriptors_in_use() -> None:
    async with running_server() as server, running_sidecar(server) as sidecar:
        assert sidecar.fds_in_use() == FD_BASE
        alice = await JsonClient.login(server.port, "alice")
        assert sidecar.fds_in_use() == FD_BASE + 1
        await alice.close()


# --- the programs' options ------------------------------------------------------------------


async def test_chat_server_passes_its_stats_limits_to_the_sidecar() -> None:
    port = free_port()
    proc = await ServerProcess.start(
        "--stats-port", str(port), "--stats-max-connections", "2", "--stats-timeout", "2"
    )
    try:
        await proc.log_event("stats.started")
        first, second, third = [await connect(port) for _ in range(3)]
        assert await closed(first) == b""  # the cap of 2 (from the flag) made room for third
        await proc.log_event("stats.http_evicted")
        assert await closed(second) == b"" and await closed(third) == b""  # --stats-timeout
        await proc.log_event("stats.http_timeout", lambda e: e["phase"] == "header")
    finally:
        assert await proc.stop() == 0


def test_chat_stats_reads_its_own_environment_variables() -> None:
    env = {
        "CHAT_PORT": "7000",  # chat-server's chat port: not chat-stats' business
        "CHAT_NATS": "nats://chat-server-only:4222",
        "CHAT_STATS_NATS": "nats://a:4222",
        "CHAT_STATS_PORT": "9090",
        "CHAT_STATS_MAX_CONNECTIONS": "5",
        "CHAT_STATS_TIMEOUT": "2.5",
    }
    settings = StatsSettings.from_args([], environ=env)
    assert (settings.urls, settings.port) == (["nats://a:4222"], 9090)
    assert (settings.max_connections, settings.timeout) == (5, 2.5)
    with pytest.raises(SystemExit):  # CHAT_NATS alone is chat-server's, not chat-stats'
        StatsSettings.from_args([], environ={"CHAT_NATS": "nats://a:4222"})
    for bad in ({"CHAT_STATS_MAX_CONNECTIONS": "0"}, {"CHAT_STATS_TIMEOUT": "0"}):
        with pytest.raises(SystemExit):
            StatsSettings.from_args(["--nats", "nats://a:4222"], environ=bad)


async def test_chat_stats_serves_on_chat_stats_port_with_its_limits(tmp_path: Path) -> None:
    port, chat_port = free_port(), free_port()
    async with running_nats(tmp_path) as broker:
        env = {
            **os.environ,
            "CHAT_PORT": str(chat_port),
            "CHAT_STATS_PORT": str(port),
            "CHAT_STATS_NATS": broker.url,
            "CHAT_STATS_LOG_FORMAT": "json",
            "CHAT_STATS_TIMEOUT": str(SHORT),
        }
        proc = await asyncio.create_subprocess_exec(
            str(CHAT_STATS), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        stats = ServerProcess(proc)
        try:
            started = await stats.log_event("stats.started", timeout=15)
            assert started["port"] == port
            health = await connect(port)
            assert (await request(health, "/health"))[0] == 200
            health[1].close()
            assert await closed(await connect(port)) == b""  # CHAT_STATS_TIMEOUT applies
            await stats.log_event("stats.http_timeout", lambda e: e["phase"] == "header")
        finally:
            assert await stats.stop() == 0
