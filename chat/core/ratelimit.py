"""A token bucket per client, with an injected clock (no asyncio, no sleeping in tests).

Each line a client sends costs one token; tokens refill at `rate` per second up to `burst`.
A line that finds the bucket empty is dropped: the first such line gets a warning, and a client
that keeps going until `burst` lines have been dropped without a pause is cut (reason `flood`).
A line that gets through forgives the earlier drops.

`charge(n)` takes `n` more tokens after the fact (a reply that weighs several lines); the bucket
may go down to `-burst`, so a heavy reply delays the client's next lines instead of being free.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

from chat.protocol.errors import RATE_LIMITED, ProtocolError

if TYPE_CHECKING:
    from chat.core.session import Session


class Verdict(Enum):
    OK = "ok"
    WARN = "warn"  # dropped; tell the client to slow down
    DROP = "drop"  # dropped; already warned
    CUT = "cut"  # dropped too many in a row: disconnect


class TokenBucket:
    __slots__ = ("_dropped", "_stamp", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._stamp = now
        self._dropped = 0

    def take(self, now: float) -> Verdict:
        tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            self._dropped = 0
            return Verdict.OK
        self._tokens = tokens
        self._dropped += 1
        if self._dropped == 1:
            return Verdict.WARN
        return Verdict.CUT if self._dropped >= self.burst else Verdict.DROP

    def charge(self, tokens: int, now: float) -> None:
        """Take `tokens` more (the weight of a reply), down to at most `-burst`."""
        current = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        self._tokens = max(-float(self.burst), current - tokens)

    def rested(self, now: float) -> bool:
        """Full again: forgetting this bucket would change nothing."""
        return self._tokens + (now - self._stamp) * self.rate >= self.burst


MAX_ADDRESSES = 4096
"""Addresses whose room-creation budget is kept; past it, rested budgets are forgotten."""


class CreationBudget:
    """Creating a room costs a token of the client's budget (`rate`/s, bursts of `burst`) and,
    with `per_address`, of its address's (4x both): rooms are cheap to ask for and cost the
    server an index entry each, so nobody may make thousands of them."""

    __slots__ = ("_by_address", "burst", "per_address", "rate")

    def __init__(self, rate: float, burst: int, per_address: bool = True) -> None:
        self.rate, self.burst, self.per_address = rate, burst, per_address
        self._by_address: dict[str, TokenBucket] = {}

    def charge(self, session: Session, now: float) -> None:
        """Take a token for a new room, or raise `rate-limited`."""
        if not self.rate:
            return
        if session.creating is None:
            session.creating = TokenBucket(self.rate, self.burst, now)
        ok = session.creating.take(now) is Verdict.OK
        if ok and self.per_address:
            bucket = self._by_address.get(session.ip)
            if bucket is None:
                if len(self._by_address) >= MAX_ADDRESSES:
                    kept = {a: b for a, b in self._by_address.items() if not b.rested(now)}
                    self._by_address = kept
                bucket = TokenBucket(self.rate * 4, self.burst * 4, now)
                self._by_address[session.ip] = bucket
            ok = bucket.take(now) is Verdict.OK
        if not ok:
            every = f"one per {1 / self.rate:g}s"
            message = f"you are creating rooms too fast ({every}); join an existing one"
            raise ProtocolError(RATE_LIMITED, message)
