"""Accounts off the event loop: argon2id in a bounded pool, and the SQLite store.

The core (`chat.core.accounts`) decides whether an attempt may be made and parks a `Job` on
the session; `AccountService.run(job)` does the work and returns an `Outcome`:

- **Hashing** (`Hasher`): argon2id (`argon2-cffi`, which releases the GIL while it hashes) in
  a pool of `HASH_WORKERS` threads. At most `MAX_HASHING` jobs may be hashing or waiting for a
  thread at once; past that a job is refused at once (`Outcome.BUSY`, `auth-busy` to the
  client) rather than queued: an attacker cannot pile up unbounded argon2 work, and the memory
  argon2 takes is bounded by `HASH_WORKERS` x `MEMORY_KIB`. Parameters below, and why, in
  docs/protocol.md ("Accounts").
- **The store** (`SqliteAccounts`): one table in `<--data-dir>/accounts.db` (WAL), used from one
  thread of its own, so a slow disk never stalls the loop. In a cluster the store is
  JetStream KV instead (`chat.cluster.accountkv`), behind the same interface.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from chat.core.accountjobs import AccountStore, Create, Job, Outcome, Verify

log = structlog.get_logger("chat.accounts")
T = TypeVar("T")

TIME_COST = 2
MEMORY_KIB = 19 * 1024
PARALLELISM = 1
"""argon2id at OWASP's baseline (m=19 MiB, t=2, p=1): ~20-40 ms a hash here, 19 MiB each."""
HASH_WORKERS = 2
"""Threads hashing at once (this machine has two cores; more would only queue in the CPU)."""
MAX_HASHING = 16
"""Jobs hashing or waiting for a thread at once; past it, `auth-busy`."""
DB_NAME = "accounts.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    name TEXT PRIMARY KEY, nick TEXT NOT NULL, hash TEXT NOT NULL, created REAL NOT NULL
) WITHOUT ROWID;
"""


class Hasher:
    def __init__(self, workers: int = HASH_WORKERS, limit: int = MAX_HASHING) -> None:
        self.hasher = PasswordHasher(
            time_cost=TIME_COST, memory_cost=MEMORY_KIB, parallelism=PARALLELISM
        )
        self.limit = limit
        self.busy = 0  # jobs hashing or waiting for a thread
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")

    @property
    def full(self) -> bool:
        return self.busy >= self.limit

    async def hash(self, password: str) -> str:
        return await self._run(self.hasher.hash, password)

    async def verify(self, hashed: str, password: str) -> bool:
        return await self._run(self._verify, hashed, password)

    def _verify(self, hashed: str, password: str) -> bool:
        try:
            return self.hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        self.busy += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        finally:
            self.busy -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class SqliteAccounts:
    """`AccountStore` in SQLite, one thread of its own."""

    def __init__(self, data_dir: str) -> None:
        self.path = str(Path(data_dir) / DB_NAME)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="accountdb")
        self._db: sqlite3.Connection | None = None

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    async def open(self, known: Callable[[str], None]) -> None:
        names = await self._call(self._open)
        for name in names:
            known(name)
        log.info("accounts.opened", path=self.path, accounts=len(names))

    def _open(self) -> list[str]:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = self._db = sqlite3.connect(self.path, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        return [name for (name,) in db.execute("SELECT name FROM accounts")]

    async def get(self, account: str) -> str | None:
        return await self._call(self._get, account)

    def _get(self, account: str) -> str | None:
        assert self._db is not None
        row = self._db.execute("SELECT hash FROM accounts WHERE name = ?", (account,)).fetchone()
        return None if row is None else str(row[0])

    async def create(self, account: str, nick: str, hashed: str, created: float) -> bool:
        return await self._call(self._create, account, nick, hashed, created)

    def _create(self, account: str, nick: str, hashed: str, created: float) -> bool:
        assert self._db is not None
        try:
            with self._db:
                self._db.execute(
                    "INSERT INTO accounts VALUES (?, ?, ?, ?)", (account, nick, hashed, created)
                )
        except sqlite3.IntegrityError:
            return False
        return True

    async def close(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                await self._call(self._db.close)
        self._thread.shutdown(wait=False)


class AccountService:
    """Runs the core's account jobs: the store and the hasher, never on the loop."""

    def __init__(self, store: AccountStore, hasher: Hasher | None = None) -> None:
        self.store = store
        self.hasher = hasher or Hasher()

    async def run(self, job: Job) -> Outcome:
        if self.hasher.full:
            return Outcome.BUSY
        try:
            if isinstance(job, Create):
                hashed = await self.hasher.hash(job.password)
                created = await self.store.create(job.account, job.nick, hashed, time.time())
                return Outcome.OK if created else Outcome.EXISTS
            assert isinstance(job, Verify)
            stored = await self.store.get(job.account)
            if stored is None:
                return Outcome.WRONG
            ok = await self.hasher.verify(stored, job.password)
            return Outcome.OK if ok else Outcome.WRONG
        except asyncio.CancelledError:
            raise
        except Exception as err:  # the disk, the cluster link: the client is told to retry
            log.error("accounts.store_failed", error=f"{type(err).__name__}: {err}")
            return Outcome.DOWN

    async def close(self) -> None:
        await self.store.close()
        self.hasher.close()
