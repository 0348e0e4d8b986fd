"""Accounts' seam with the transport: the jobs it runs off the event loop, their outcomes,
and where accounts live. Pure: no I/O here.

A handler of `chat.core.accounts` that accepts an attempt parks a `Job` on the session
(`session.waiting`): `Verify` (check a password against the stored hash) or `Create` (hash a
password and store a new account). The transport runs it against an `AccountStore`
(`chat.net.accountdb`: SQLite and argon2id in a bounded pool; `chat.cluster.accountkv`:
JetStream KV) and hands the `Outcome` back to `Accounts.finish`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Verify:
    """Check `password` against the account's stored hash."""

    account: str  # folded
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Create:
    """Hash `password` and store a new account (atomically: it may exist by now)."""

    account: str  # folded
    nick: str  # as it was registered
    password: str = field(repr=False)


Job = Verify | Create


class Outcome(enum.Enum):
    OK = "ok"
    WRONG = "wrong"  # no such account, or the wrong password
    EXISTS = "exists"  # Create: someone registered the name first
    BUSY = "busy"  # the hashing pool is full
    DOWN = "down"  # the store failed (disk, cluster link)


class AccountStore(Protocol):
    """Where accounts live: SQLite (`chat.net.accountdb`) or JetStream KV
    (`chat.cluster.accountkv`). Implementations do their I/O off the event loop."""

    async def open(self, known: Callable[[str], None]) -> None:
        """Start; call `known(folded name)` for every account, now and as others register."""
        ...

    async def get(self, account: str) -> str | None:
        """The stored hash of an account (folded name), or None."""
        ...

    async def create(self, account: str, nick: str, hashed: str, created: float) -> bool:
        """Store a new account; False if it exists."""
        ...

    async def close(self) -> None: ...
