"""Password-attempt throttles for accounts (`chat.core.accounts`). Pure: no I/O.

`Throttle` holds token buckets on the hub's injected monotonic clock: every failed password
costs a token of the address's bucket and of the account's (charged when the attempt is made,
refunded when the password was right, so attempts in flight count); a register costs one of
the address's. An empty bucket refuses attempts (`auth-throttled`, with the wait) before any
hashing. The account's bucket does not stop an address that identified to that account before
(the owner at home is not locked out by someone failing elsewhere); every other address waits.
So a wrong password costs its sender, and the account's own owner keeps their way in.

Memory is bounded: at most `MAX_TRACKED` addresses and accounts each, and
`TRUSTED_PER_ACCOUNT` trusted addresses per account.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chat.core.accounts import AccountPolicy

MAX_TRACKED = 4096
"""Addresses, and accounts, whose throttle is kept; past it rested ones are forgotten first,
then the oldest."""
TRUSTED_PER_ACCOUNT = 4
"""Addresses remembered per account as having identified to it (they pass its bucket)."""


class _Bucket:
    """Tokens refilling at `rate` per second up to `burst`; a failure spends one."""

    __slots__ = ("_stamp", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate, self.burst = rate, burst
        self._tokens, self._stamp = float(burst), now

    def level(self, now: float) -> float:
        return min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)

    def wait(self, now: float) -> float:
        """Seconds until a token is there (0: one is)."""
        level = self.level(now)
        return 0.0 if level >= 1.0 else (1.0 - level) / self.rate

    def spend(self, now: float, tokens: float = 1.0) -> None:
        level = self.level(now) - tokens
        self._tokens, self._stamp = max(-float(self.burst), min(float(self.burst), level)), now


class Throttle:
    """Password attempts, per address and per account (see the module's docstring)."""

    def __init__(self, policy: AccountPolicy) -> None:
        self.policy = policy
        self._addresses: dict[str, _Bucket] = {}
        self._accounts: dict[str, _Bucket] = {}
        self._trusted: dict[str, tuple[str, ...]] = {}

    def wait(self, ip: str, account: str | None, now: float) -> float:
        """Seconds before an attempt from `ip` (on `account`) may be made; 0: now."""
        waits = [0.0]
        bucket = self._addresses.get(ip)
        if bucket is not None:
            waits.append(bucket.wait(now))
        if account is not None and ip not in self._trusted.get(account, ()):
            bucket = self._accounts.get(account)
            if bucket is not None:
                waits.append(bucket.wait(now))
        return max(waits)

    def failed(self, ip: str, account: str | None, now: float) -> None:
        """A wrong password (or a registration): costs the address, and the account."""
        p = self.policy
        self._bucket(self._addresses, ip, p.address_rate, p.address_burst, now).spend(now)
        if account is not None:
            self._bucket(self._accounts, account, p.account_rate, p.account_burst, now).spend(now)

    def refund(self, ip: str, account: str | None, now: float) -> None:
        """An attempt charged up front (`failed`) was not a wrong password after all."""
        for table, key in ((self._addresses, ip), (self._accounts, account)):
            bucket = table.get(key) if key is not None else None
            if bucket is not None:
                bucket.spend(now, -1.0)

    def succeeded(self, ip: str, account: str) -> None:
        trusted = self._trusted.pop(account, ())
        if len(self._trusted) >= MAX_TRACKED:
            del self._trusted[next(iter(self._trusted))]
        self._trusted[account] = (ip, *(a for a in trusted if a != ip))[:TRUSTED_PER_ACCOUNT]

    @staticmethod
    def _bucket(
        table: dict[str, _Bucket], key: str, rate: float, burst: int, now: float
    ) -> _Bucket:
        bucket = table.get(key)
        if bucket is None:
            if len(table) >= MAX_TRACKED:
                for stale in [k for k, b in table.items() if b.level(now) >= b.burst]:
                    del table[stale]
                if len(table) >= MAX_TRACKED:
                    del table[next(iter(table))]  # the oldest: bounded memory wins
            bucket = table[key] = _Bucket(rate, burst, now)
        return bucket
