"""Server bans that survive a restart: a table in the `--history-db` SQLite file.

Server bans (`/sban`) change rarely (an operator's command) and are few (at most
`chat.core.moderation.MAX_SERVER_BANS`), so each change rewrites the whole table in one
transaction, in a database thread of its own: the event loop never waits for the disk. At
start-up the bans not yet expired are loaded back into the hub (`ServerOperators.server_bans`).
Room modes and room bans are not stored: a room's moderation state lives while the room has
members (as on IRC without channel registration), and a restart empties every room.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import structlog

from chat.core.moderation import ServerBan
from chat.core.opercommands import ServerOperators

log = structlog.get_logger("chat.bandb")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS server_bans (
    net TEXT PRIMARY KEY, until REAL NOT NULL, reason TEXT NOT NULL, by TEXT NOT NULL
) WITHOUT ROWID;
"""


class BanStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bandb")
        self._db: sqlite3.Connection | None = None
        self._writes: set[asyncio.Future[None]] = set()

    @classmethod
    async def open(cls, path: str, operators: ServerOperators) -> BanStore:
        """Open (or create) the table, load the live bans into `operators`, and save every
        change from now on."""
        store = cls(path)
        loop = asyncio.get_running_loop()
        bans = await loop.run_in_executor(store._thread, store._load, time.time())
        for ban in bans:
            operators.server_bans[ban.net] = ban
        operators.persist = store.save
        log.info("bans.opened", path=path, server_bans=len(bans))
        return store

    def _load(self, now: float) -> list[ServerBan]:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=5.0)
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(_SCHEMA)
        rows = db.execute("SELECT net, until, reason, by FROM server_bans WHERE until > ?", (now,))
        return [ServerBan(net, until, reason, by) for net, until, reason, by in rows.fetchall()]

    def save(self, bans: dict[str, ServerBan]) -> None:
        """The bans changed: write them all (a copy, taken now), off the loop."""
        rows = [(b.net, b.until, b.reason, b.by) for b in bans.values()]
        future = asyncio.get_running_loop().run_in_executor(self._thread, self._write, rows)
        self._writes.add(future)
        future.add_done_callback(self._written)

    def _written(self, future: asyncio.Future[None]) -> None:
        self._writes.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log.error("bans.write_failed", error=str(future.exception()))

    def _write(self, rows: list[tuple[str, float, str, str]]) -> None:
        db = self._db
        assert db is not None
        with db:
            db.execute("DELETE FROM server_bans")
            db.executemany("INSERT INTO server_bans VALUES (?, ?, ?, ?)", rows)

    async def close(self) -> None:
        """Wait for the writes in flight, then close."""
        if self._writes:
            await asyncio.wait(set(self._writes), timeout=5.0)
        loop = asyncio.get_running_loop()
        if self._db is not None:
            await loop.run_in_executor(self._thread, self._db.close)
        self._thread.shutdown(wait=True)
