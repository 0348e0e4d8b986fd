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
