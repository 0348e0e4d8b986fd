"""uvicorn serving a FastAPI app on the running event loop, on a socket bound here.

Shared by the embedded sidecar (`chat.sidecar.embed`, inside chat-server) and `chat-stats`
(`chat.sidecar.standalone`). No thread: `uvicorn.Server.serve()` is a coroutine, run as a task.
We bind the listening socket ourselves, so a busy port fails `start()` with an `OSError` and
port 0 is known at once, and uvicorn does not take over SIGINT/SIGTERM: they belong to the
program, which has more to shut down than HTTP.

Every HTTP connection holds one of the process's file descriptors, the same budget the chat
listener accepts from, so the HTTP side is bounded (`_GuardedH11`, uvicorn's h11 protocol with
three additions):

- **A cap.** At most `max_connections` are held at once. At the cap a new connection closes
  the oldest one that is waiting for a request head (new or kept alive, so a flood of silent
  connections cannot lock out a real request); if every one has a request in hand, the new
  one is answered `503` and closed in the loop pass that accepted it.
- **A deadline while we wait for the peer.** A connection has `timeout` seconds to send a
  complete request head from the moment it opens or its last response was handed over (so a
  silent connection, a slowloris and an idle keep-alive all end the same way), and
  `timeout` seconds to resume reading when it stops reading a response. Then it is aborted.
  uvicorn's own keep-alive timer is not enough: it is not armed on a new connection, and the
  first byte of a next request cancels it for good (one byte after a response held a
  connection forever). We cancel it and keep one timer per connection instead.
- **An fd reserve.** A new connection is refused while `in_use()` (what the rest of the
  process holds) plus the HTTP connections would leave fewer than `fd_reserve` descriptors
  under the soft `RLIMIT_NOFILE`: the last ones belong to the chat listener. Counting is O(1)
  (nothing lists /proc per connection); the embedded sidecar counts the chat server's clients.

uvicorn's other bounds are used as they are: a request head larger than `MAX_HEAD_BYTES` is
answered 400 by h11, and the accept backlog is `BACKLOG`, which is also how many connections
asyncio may accept in one loop pass before any of them is counted (the reserve is at least
that). uvicorn's `limit_concurrency` is not used: it answers requests, not connections, and
with every allowed connection open it would answer all of them 503.

Refusals, evictions and timeouts are counted (`HttpServer.refused`, `.evicted`, `.timed_out`)
and logged as `stats.http_refused` / `stats.http_evicted` / `stats.http_timeout`, at most one
line per second each, carrying the total and how many events that line stands for.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import resource
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any, cast

import structlog
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle
from uvicorn.server import ServerState

log = structlog.get_logger("chat.sidecar.http")

STOP_TIMEOUT = 3.0
MAX_CONNECTIONS = 64
"""HTTP connections held at once (`--stats-max-connections`)."""
TIMEOUT = 10.0
"""Seconds to send a request head, to idle between requests, or to resume reading."""
MAX_HEAD_BYTES = 16 * 1024
"""Longest request head (request line and headers); h11 answers 400 past it."""
BACKLOG = 64
"""The listen backlog, and the most connections asyncio accepts in one loop pass."""
FD_RESERVE_MIN = BACKLOG
FD_RESERVE_SHARE = 0.05
FD_BASE = 32
"""Descriptors a process holds besides its connections: stdio, the event loop's selector and
self-pipe, the listeners, a NATS link, log files (an idle chat-server with its sidecar holds
15)."""
LOG_EVERY = 1.0
"""Seconds between two log lines of the same event (refusals and timeouts come in floods)."""

REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 20\r\n"
    b"connection: close\r\n"
    b"\r\n"
    b"Service Unavailable\n"
)


def fd_limit() -> int | None:
    """The soft limit on open files, or None if there is none."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


def fd_reserve(limit: int) -> int:
    """Descriptors kept for the chat listener under a limit of `limit`."""
    return max(FD_RESERVE_MIN, int(limit * FD_RESERVE_SHARE))


class _Rated:
    """A counter per reason, and a structlog event at most once every LOG_EVERY seconds."""

    def __init__(self, event: str, key: str, level: str) -> None:
        self.event, self.key, self.level = event, key, level
        self.counts: collections.Counter[str] = collections.Counter()
        self._unlogged = 0
        self._logged_at = -LOG_EVERY

    def hit(self, reason: str, peer: Any) -> None:
        self.counts[reason] += 1
        self._unlogged += 1
        now = time.monotonic()
        if now - self._logged_at < LOG_EVERY:
            return
        getattr(log, self.level)(
            self.event,
            **{self.key: reason},
            peer=_peer(peer),
            total=self.counts.total(),
            events=self._unlogged,
        )
        self._logged_at, self._unlogged = now, 0


def _peer(peer: Any) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)


class Guard:
    """The limits every HTTP connection of one `HttpServer` passes, and their counters.

    `idle` holds the connections waiting for a request head (new, or kept alive between
    requests, and not stalled on a response), oldest first: at the cap the oldest of them makes
    room for a new connection, so silent connections cannot lock out a real request."""

    def __init__(
        self,
        max_connections: int,
        timeout: float,
        in_use: Callable[[], int] | None = None,
        limit: int | None = None,
    ) -> None:
        self.max_connections, self.timeout = max_connections, timeout
        self.in_use = in_use if in_use is not None else lambda: FD_BASE
        self.fd_limit = limit
        self.fd_reserve = fd_reserve(limit) if limit is not None else 0
        self.idle: dict[_GuardedH11, None] = {}
        self.refused = _Rated("stats.http_refused", "reason", "warning")
        self.evicted = _Rated("stats.http_evicted", "reason", "warning")
        self.timed_out = _Rated("stats.http_timeout", "phase", "info")

    def admit(self, live: int) -> str | None:
        """Make room for one more connection, `live` being held; or say why it is refused."""
        limit = self.fd_limit
        if limit is not None and self.in_use() + live + 1 > limit - self.fd_reserve:
            return "fd-reserve"
        if live < self.max_connections:
            return None
        if not self.idle:
            return "max-connections"  # every connection has a request in hand
        next(iter(self.idle)).evict()
        return None


class _Config(uvicorn.Config):
    """uvicorn's config, carrying our `Guard` to each protocol instance."""

    guard: Guard


class _GuardedH11(H11Protocol):
    """uvicorn's h11 protocol with a connection cap, an fd reserve and one deadline.

    The deadline runs while we wait for the peer: from connection_made, or the end of a
    response, until a request head arrives; and while writing is paused because the peer does
    not read. `_update()` re-evaluates that at each event, arming at most one timer, and keeps
    the connection's place in `Guard.idle`."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.guard = cast(_Config, config).guard
        self._deadline: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        why = self.guard.admit(len(self.connections))
        if why is None:
            super().connection_made(transport)
            self._update()
            return
        self._refused = True
        self.transport = transport
        transport.write(REFUSAL)
        transport.close()  # reading stops now; the fd goes once the 503 is in the kernel
        self.guard.refused.hit(why, transport.get_extra_info("peername"))

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:
            return
        self._forget()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._update()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._unset_keepalive_if_required()  # uvicorn's timer: ours covers it (module doc)
        self._update()

    def pause_writing(self) -> None:
        super().pause_writing()
        self._update()

    def resume_writing(self) -> None:
        super().resume_writing()
        self._update()

    def _update(self) -> None:
        cycle: RequestResponseCycle | None = self.cycle  # None until the first request head
        between_requests = cycle is None or cycle.response_complete
        stalled = self.flow.write_paused
        if between_requests and not stalled and not self.transport.is_closing():
            self.guard.idle.setdefault(self, None)  # keeps its place while a head trickles in
        else:
            self.guard.idle.pop(self, None)
        if between_requests or stalled:
            if self._deadline is None:
                self._deadline = self.loop.call_later(self.guard.timeout, self._expire)
        elif self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _forget(self) -> None:
        """No deadline, no place among the idle: the connection is going."""
        self.guard.idle.pop(self, None)
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def evict(self) -> None:
        """Close now to make room for a new connection (the oldest idle one goes)."""
        self._forget()
        self.connections.discard(self)  # counted out now; connection_lost comes next pass
        self.guard.evicted.hit("max-connections", self.client)
        self.transport.abort()

    def _expire(self) -> None:
        self._deadline = None
        self.guard.idle.pop(self, None)
        if self.flow.write_paused:
            phase = "write"
        elif self.cycle is None or self.conn.trailing_data[0]:
            phase = "header"  # nothing asked yet, or a request head begun and not finished
        else:
            phase = "idle"
        self.guard.timed_out.hit(phase, self.client)
        self.transport.abort()  # close() would wait for a peer that does not read


class _Uvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # SIGINT/SIGTERM belong to the program, which has more than HTTP to stop.
        yield


class HttpServer:
    """`start()` binds and serves; `stop()` shuts down gracefully, then forcibly.

    `in_use()` tells how many file descriptors the rest of the process holds (the HTTP
    connections are added here); None means a process that holds only `FD_BASE`."""

    def __init__(
        self,
        app: FastAPI,
        host: str,
        port: int,
        *,
        max_connections: int = MAX_CONNECTIONS,
        timeout: float = TIMEOUT,
        in_use: Callable[[], int] | None = None,
    ) -> None:
        if max_connections < 1 or timeout <= 0:
            raise ValueError("max_connections must be at least 1 and timeout positive")
        self.app, self.host, self.requested_port = app, host, port
        self.port = 0
        self.guard = Guard(max_connections, timeout, in_use, fd_limit())
        self.serving: asyncio.Task[None] | None = None
        self._uvicorn: _Uvicorn | None = None

    @property
    def connections(self) -> int:
        """HTTP connections held now."""
        return len(self._uvicorn.server_state.connections) if self._uvicorn else 0

    @property
    def refused(self) -> collections.Counter[str]:
        """Connections refused so far, by reason (`max-connections`, `fd-reserve`)."""
        return self.guard.refused.counts

    @property
    def evicted(self) -> collections.Counter[str]:
        """Idle connections closed to make room for a new one, at the cap."""
        return self.guard.evicted.counts

    @property
    def timed_out(self) -> collections.Counter[str]:
        """Connections cut by the deadline so far, by phase (`header`, `idle`, `write`)."""
        return self.guard.timed_out.counts

    async def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.create_server(
            (self.host, self.requested_port), family=family, backlog=BACKLOG
        )
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        config = _Config(
            self.app,
            http=_GuardedH11,
            lifespan="off",
            ws="none",
            log_config=None,
            access_log=False,
            server_header=False,
            backlog=BACKLOG,  # asyncio listens again with it, and accepts up to it per pass
            h11_max_incomplete_event_size=MAX_HEAD_BYTES,
            timeout_graceful_shutdown=int(STOP_TIMEOUT),
        )
        config.guard = self.guard
        self._uvicorn = _Uvicorn(config)
        self.serving = asyncio.create_task(self._uvicorn.serve([sock]), name="stats-http")
        while not self._uvicorn.started:  # a few loop passes; the socket queues meanwhile
            if self.serving.done():
                self.serving.result()  # re-raise why it stopped
                raise RuntimeError("the HTTP server stopped during startup")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._uvicorn is None or self.serving is None:
            return
        self._uvicorn.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self.serving), STOP_TIMEOUT + 1.0)
        except TimeoutError:
            self._uvicorn.force_exit = True
            self.serving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.serving
        self._uvicorn = None
