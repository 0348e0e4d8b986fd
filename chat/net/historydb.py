"""History that survives a restart: SQLite behind the in-memory store (`--history-db PATH`).

Reads never touch the database: every resume and page is served from the `MemoryHistory` the
hub already uses, which this module fills from the database at start-up (each room's epoch,
its last offset, its newest `--history-size` messages). Writes never block the event loop:
every appended message is queued (`_pending`), and one writer task hands each batch to a
single database thread, which inserts it in one transaction (WAL, `synchronous=NORMAL`) and
trims every room it touched back to `--history-size`. So a restart keeps epochs and offsets,
and a client that resumes across it recovers everything that was written.

Bounds: at most `MAX_PENDING` messages wait for the disk; past that (a disk slower than the
chat) the oldest waiting ones are dropped and counted (`dropped`), never the loop stalled.
What was queued but not yet written when the process is killed is lost (at most one batch
interval); a clean shutdown writes everything first.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import structlog

from chat.core.history import Entry, MemoryHistory, Stream

log = structlog.get_logger("chat.historydb")

MAX_PENDING = 200_000
"""Messages waiting for the disk at most; past it the oldest waiting are dropped (counted)."""
BATCH = 5_000
"""Messages written in one transaction at most."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rooms (
    key TEXT PRIMARY KEY, epoch TEXT NOT NULL, last INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
    room TEXT NOT NULL, offset INTEGER NOT NULL, nick TEXT NOT NULL, text TEXT NOT NULL,
    ts REAL NOT NULL, action INTEGER NOT NULL, PRIMARY KEY (room, offset)
) WITHOUT ROWID;
"""

Row = tuple[str, str, int, str, str, float, int]  # room, epoch, offset, nick, text, ts, action
Batch = tuple[list[Row], list[tuple[str, str, int]], list[tuple[str, int]]]
"""One transaction: the messages, each touched room's (key, epoch, last offset), the trims."""


class HistoryDB:
    def __init__(self, path: str, memory: MemoryHistory) -> None:
        self.path = path
        self.memory = memory
        self.written = 0
        self.dropped = 0
        self._pending: deque[Row] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="historydb")
        self._db: sqlite3.Connection | None = None
        self._writer: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, path: str, memory: MemoryHistory) -> HistoryDB:
        """Open (or create) the database, load it into `memory`, start writing."""
        db = cls(path, memory)
        loop = asyncio.get_running_loop()
        rooms = await loop.run_in_executor(db._thread, db._load)
        for key, epoch, last, entries in rooms:
            memory.restore(key, epoch, last, entries)
        memory.sink = db._queue
        db._writer = asyncio.create_task(db._write_forever(), name="historydb-writer")
        log.info("history.opened", path=path, rooms=len(rooms), messages=memory.stored)
        return db

    # --- the database thread ------------------------------------------------------------------
    def _load(self) -> list[tuple[str, str, int, list[Entry]]]:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = self._db = sqlite3.connect(self.path, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        size = self.memory.size
        rooms = []
        for key, epoch, last in db.execute("SELECT key, epoch, last FROM rooms").fetchall():
            rows = db.execute(
                "SELECT offset, nick, text, ts, action FROM messages"
                " WHERE room = ? AND offset > ? ORDER BY offset",
                (key, last - size),
            ).fetchall()
            entries = [Entry(o, n, t, ts, bool(a)) for o, n, t, ts, a in rows]
            rooms.append((key, epoch, last, entries))
        return rooms

    def _store(self, batch: Batch) -> None:
        """In the database thread: one transaction. Everything it writes was shaped on the loop
        (`_take`), so this thread runs almost no Python, only SQLite (which lets go of the GIL
        while it works): a writer that held the GIL for its own loops would make the event loop
        wait for it, up to the interpreter's switch interval (5 ms) each time."""
        db = self._db
        assert db is not None
        messages, rooms, trims = batch
        with db:  # one transaction
            db.executemany(  # ?2, the epoch, is the room's (below)
                "INSERT OR REPLACE INTO messages VALUES (?1, ?3, ?4, ?5, ?6, ?7)", messages
            )
            db.executemany(
                "INSERT INTO rooms VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE"
                " SET epoch = excluded.epoch, last = excluded.last",
                rooms,
            )
            db.executemany("DELETE FROM messages WHERE room = ? AND offset <= ?", trims)

    # --- the event loop -----------------------------------------------------------------------
    def _queue(self, stream: Stream, entry: Entry) -> None:
        """`MemoryHistory.sink`: called for every appended message. MUST NOT block."""
        if len(self._pending) >= MAX_PENDING:
            self._pending.popleft()
            self.dropped += 1
            if self.dropped % 10_000 == 1:
                log.warning("history.behind", dropped=self.dropped, pending=MAX_PENDING)
        self._pending.append(
            (stream.key, stream.epoch, entry.offset, entry.nick, entry.text, entry.ts, entry.action)
        )
        if len(self._pending) == 1:
            self._idle.clear()
            self._wake.set()

    async def _write_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = self._take()
                try:
                    await loop.run_in_executor(self._thread, self._store, batch)
                    self.written += len(batch[0])
                except sqlite3.Error as err:
                    self.dropped += len(batch[0])
                    log.error("history.write_failed", error=str(err), lost=len(batch[0]))
            self._idle.set()

    def _take(self) -> Batch:
        """The next transaction's rows, shaped here on the loop (see `_store`)."""
        pending = self._pending
        popleft = pending.popleft
        messages = [popleft() for _ in range(min(BATCH, len(pending)))]
        last = {row[0]: (row[1], row[2]) for row in messages}  # each room's newest in the batch
        size = self.memory.size
        rooms = [(room, epoch, offset) for room, (epoch, offset) in last.items()]
        trims = [(room, offset - size) for room, (_, offset) in last.items()]
        return messages, rooms, trims

    async def flush(self) -> None:
        """Wait until everything queued so far is on disk."""
        await self._idle.wait()

    async def close(self) -> None:
        """Write what is queued, then close (the server's shutdown calls this)."""
        self.memory.sink = None
        if self._pending:
            self._wake.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.flush(), 10.0)
        if self._writer is not None:
            self._writer.cancel()
        loop = asyncio.get_running_loop()
        if self._db is not None:
            await loop.run_in_executor(self._thread, self._db.close)
        self._thread.shutdown(wait=False)
        log.info("history.closed", written=self.written, dropped=self.dropped)
