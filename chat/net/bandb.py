"""Moderation that survives a restart: two tables in the `--history-db` SQLite file.

Server bans (`/sban`) change rarely (an operator's command) and are few (at most
`chat.core.moderation.MAX_SERVER_BANS`), so each change rewrites the whole `server_bans` table
in one transaction. Rooms' kept state (`chat.core.modstore`: modes, bans, live mutes; nothing
for a room with none of them) is one row per room in `room_modes`: changes are queued by room
(a burst of changes to one room is one write) and the queue is written in one transaction.
Both run in one database thread of this store's own, in the order they were asked for: the
event loop never waits for the disk. At start-up the server bans not yet expired go back into
the hub (`ServerOperators.server_bans`) and the rooms' kept state into `Moderation.keeper`,
restored when each room is made again.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import structlog

from chat.core.moderation import MAX_BANS, MAX_OP_ACCOUNTS, ServerBan
from chat.core.modstate import Moderation
from chat.core.modstore import Stored
from chat.core.opercommands import ServerOperators

log = structlog.get_logger("chat.bandb")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS server_bans (
    net TEXT PRIMARY KEY, until REAL NOT NULL, reason TEXT NOT NULL, by TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS room_modes (
    key TEXT PRIMARY KEY, name TEXT NOT NULL, flags TEXT NOT NULL, lim INTEGER NOT NULL,
    rkey TEXT NOT NULL, bans TEXT NOT NULL, mutes TEXT NOT NULL, changed INTEGER NOT NULL,
    ops TEXT NOT NULL DEFAULT '[]'
) WITHOUT ROWID;
"""
_ROOM_COLUMNS = "key, name, flags, lim, rkey, bans, mutes, changed, ops"

RoomRow = tuple[str, str, str, int, str, str, str, int, str]


class BanStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bandb")
        self._db: sqlite3.Connection | None = None
        self._writes: set[asyncio.Future[None]] = set()
        self._rooms: dict[str, Stored | None] = {}  # rooms changed since the last write
        self._changes = 0  # orders the rows: the least recently changed is loaded first

    @classmethod
    async def open(cls, path: str, operators: ServerOperators, moderation: Moderation) -> BanStore:
        """Open (or create) the tables, load the live server bans and the rooms' kept state
        into the hub, and save every change from now on."""
        store = cls(path)
        loop = asyncio.get_running_loop()
        bans, rooms = await loop.run_in_executor(store._thread, store._load, time.time())
        for ban in bans:
            operators.server_bans[ban.net] = ban
        operators.persist = store.save
        moderation.keeper.load(rooms)
        moderation.keeper.persist = store.save_room
        store._changes = len(rooms)
        log.info("bans.opened", path=path, server_bans=len(bans), rooms=len(rooms))
        return store

    def _load(self, now: float) -> tuple[list[ServerBan], dict[str, Stored]]:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=5.0)
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(_SCHEMA)
        columns = {row[1] for row in db.execute("PRAGMA table_info(room_modes)")}
        if "ops" not in columns:  # a file from before operators' accounts were kept
            db.execute("ALTER TABLE room_modes ADD COLUMN ops TEXT NOT NULL DEFAULT '[]'")
        rows = db.execute("SELECT net, until, reason, by FROM server_bans WHERE until > ?", (now,))
        bans = [ServerBan(net, until, reason, by) for net, until, reason, by in rows.fetchall()]
        rooms: dict[str, Stored] = {}
        for key, name, flags, limit, rkey, ban_list, mutes, _, ops in db.execute(
            f"SELECT {_ROOM_COLUMNS} FROM room_modes ORDER BY changed"
        ).fetchall():
            rooms[key] = Stored(
                name, flags, limit, rkey, tuple(json.loads(ban_list))[:MAX_BANS],
                tuple((n, t) for n, t in json.loads(mutes) if t > now),
                tuple(json.loads(ops))[-MAX_OP_ACCOUNTS:],
            )  # fmt: skip
        return bans, rooms

    def save(self, bans: dict[str, ServerBan]) -> None:
        """The bans changed: write them all (a copy, taken now), off the loop."""
        rows = [(b.net, b.until, b.reason, b.by) for b in bans.values()]
        future = asyncio.get_running_loop().run_in_executor(self._thread, self._write, rows)
        self._writes.add(future)
        future.add_done_callback(self._written)

    def save_room(self, key: str, kept: Stored | None) -> None:
        """`Keeper.persist`: room `key`'s kept state changed (None: nothing left to keep).
        MUST NOT block: queued by room, written on the next loop pass in the database thread."""
        self._rooms[key] = kept
        if len(self._rooms) == 1:  # nothing was queued: write on the next pass
            asyncio.get_running_loop().call_soon(self._write_rooms_soon)

    def _write_rooms_soon(self) -> None:
        if not self._rooms:
            return
        rows: list[RoomRow] = []
        gone: list[str] = []
        for key, kept in self._rooms.items():
            if kept is None:
                gone.append(key)
                continue
            self._changes += 1
            rows.append((
                key, kept.name, kept.flags, kept.limit, kept.key, json.dumps(kept.bans),
                json.dumps(kept.mutes), self._changes, json.dumps(kept.op_accounts),
            ))  # fmt: skip
        self._rooms = {}
        future = asyncio.get_running_loop().run_in_executor(
            self._thread, self._write_rooms, rows, gone
        )
        self._writes.add(future)
        future.add_done_callback(self._written)

    def _write_rooms(self, rows: list[RoomRow], gone: list[str]) -> None:
        db = self._db
        assert db is not None
        with db:
            db.executemany("DELETE FROM room_modes WHERE key = ?", [(key,) for key in gone])
            db.executemany(
                f"INSERT OR REPLACE INTO room_modes ({_ROOM_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

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
        """Write what is queued, wait for the writes in flight, then close."""
        self._write_rooms_soon()
        if self._writes:
            await asyncio.wait(set(self._writes), timeout=5.0)
        loop = asyncio.get_running_loop()
        if self._db is not None:
            await loop.run_in_executor(self._thread, self._db.close)
        self._thread.shutdown(wait=True)
