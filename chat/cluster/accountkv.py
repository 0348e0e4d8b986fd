"""Accounts in JetStream key-value, for cluster mode (`--nats` with `--accounts`).

Bucket `chat_accounts` (file storage, history 1, no TTL): key = the folded account name in hex
(KV keys cannot hold `[]{}|^`), value = JSON `{"nick": ..., "hash": ..., "created": ...}`. A
registration is an atomic `create`, so two nodes registering one name at once cannot both win
(the loser answers `account-exists`). Every node watches the bucket, so nick protection on one
node knows of an account registered on another within a broker hop; the watch is restarted
with a backoff if it fails (a NATS restart), and replays every key when it does.

The argon2 hashes travel to NATS and are stored there: the KV bucket must be as private as the
SQLite file of a single node (NATS accounts / TLS; docs/protocol.md, "Accounts").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import structlog
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from chat.cluster.nicks import key_of

if TYPE_CHECKING:
    from chat.cluster.natsbroker import NatsBroker

log = structlog.get_logger("chat.accounts")

ACCOUNTS_BUCKET = "chat_accounts"
KV_TIMEOUT = 5.0
RETRY_MIN, RETRY_MAX = 0.5, 10.0
"""Seconds between attempts to restart the bucket's watch, doubling."""


def name_of(key: str) -> str | None:
    try:
        return bytes.fromhex(key).decode()
    except (ValueError, UnicodeDecodeError):
        return None


class AccountKV:
    """`chat.core.accountjobs.AccountStore` on the broker's NATS connection."""

    def __init__(self, broker: NatsBroker) -> None:
        self.broker = broker
        self.kv: KeyValue | None = None
        self._watch: asyncio.Task[None] | None = None

    async def _bucket(self) -> KeyValue:
        js = self.broker.nc.jetstream(timeout=KV_TIMEOUT)
        try:
            kv: KeyValue = await js.key_value(ACCOUNTS_BUCKET)
        except BucketNotFoundError:
            config = KeyValueConfig(bucket=ACCOUNTS_BUCKET, history=1, storage=StorageType.FILE)
            kv = await js.create_key_value(config)
        return kv

    async def open(self, known: Callable[[str], None]) -> None:
        """After the broker started: the bucket, every account in it, and a watch for more."""
        self.kv = await self._bucket()
        first = asyncio.get_running_loop().create_future()
        self._watch = asyncio.create_task(self._watch_forever(known, first), name="accounts-kv")
        count = await asyncio.wait_for(first, 30.0)
        log.info("accounts.opened", bucket=ACCOUNTS_BUCKET, accounts=count)

    async def _watch_forever(self, known: Callable[[str], None], first: Any) -> None:
        wait = RETRY_MIN
        while True:
            try:
                assert self.kv is not None
                watcher = await self.kv.watchall(ignore_deletes=True)
                count = 0
                while True:
                    entry = await watcher.updates(timeout=None)  # type: ignore[no-untyped-call]
                    if entry is None:  # the keys that existed have all come
                        if not first.done():
                            first.set_result(count)
                        continue
                    name = name_of(entry.key)
                    if name is not None:
                        count += 1
                        known(name)
                        if first.done():  # registered since (here or on another node)
                            log.info("accounts.learned", account=name)
                    wait = RETRY_MIN
            except asyncio.CancelledError:
                raise
            except Exception as err:
                log.warning("accounts.watch_failed", error=f"{type(err).__name__} {err}")
                await asyncio.sleep(wait)
                wait = min(wait * 2, RETRY_MAX)
                with contextlib.suppress(Exception):
                    self.kv = await self._bucket()

    async def get(self, account: str) -> str | None:
        assert self.kv is not None
        try:
            entry = await asyncio.wait_for(self.kv.get(key_of(account)), KV_TIMEOUT)
        except KeyNotFoundError:
            return None
        record = json.loads(entry.value or b"{}")
        hashed = record.get("hash") if isinstance(record, dict) else None
        return hashed if isinstance(hashed, str) else None

    async def create(self, account: str, nick: str, hashed: str, created: float) -> bool:
        assert self.kv is not None
        value = json.dumps({"nick": nick, "hash": hashed, "created": created}).encode()
        try:
            await asyncio.wait_for(self.kv.create(key_of(account), value), KV_TIMEOUT)
        except KeyWrongLastSequenceError:
            return False
        return True

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watch
