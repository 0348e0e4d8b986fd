"""chat/core/ratelimit.py: the token bucket, driven by an injected clock (no sleeping)."""

from __future__ import annotations

import pytest

from chat.core.ratelimit import TokenBucket, Verdict


def drain(bucket: TokenBucket, now: float) -> None:
    """Spend every whole token at `now`."""
    for _ in range(bucket.burst):
        assert bucket.take(now) is Verdict.OK


def test_a_burst_goes_through_then_the_first_drop_is_a_warning() -> None:
    bucket = TokenBucket(rate=1.0, burst=3, now=100.0)
    assert [bucket.take(100.0) for _ in range(3)] == [Verdict.OK] * 3
    assert bucket.take(100.0) is Verdict.WARN


def test_drops_after_the_warning_then_a_cut_at_burst_drops_in_a_row() -> None:
    bucket = TokenBucket(rate=1.0, burst=4, now=0.0)
    drain(bucket, 0.0)
    verdicts = [bucket.take(0.0) for _ in range(5)]
    # 1st drop warns, 2nd and 3rd drop quietly, the 4th (= burst) cuts, and so does the 5th.
    assert verdicts == [Verdict.WARN, Verdict.DROP, Verdict.DROP, Verdict.CUT, Verdict.CUT]


def test_a_burst_of_one_warns_and_never_merely_drops() -> None:
    bucket = TokenBucket(rate=1.0, burst=1, now=0.0)
    assert bucket.take(0.0) is Verdict.OK
    assert bucket.take(0.0) is Verdict.WARN  # the first drop warns even when burst is 1
    assert bucket.take(0.0) is Verdict.CUT


def test_a_line_that_gets_through_forgives_the_drops() -> None:
    bucket = TokenBucket(rate=1.0, burst=3, now=0.0)
    drain(bucket, 0.0)
    assert bucket.take(0.0) is Verdict.WARN
    assert bucket.take(0.0) is Verdict.DROP
    assert bucket.take(1.0) is Verdict.OK  # one token refilled: the count starts again
    assert bucket.take(1.0) is Verdict.WARN  # a warning again, not a drop or a cut
    assert bucket.take(1.0) is Verdict.DROP
    assert bucket.take(1.0) is Verdict.CUT


def test_tokens_refill_at_rate_and_no_further_than_burst() -> None:
    bucket = TokenBucket(rate=2.0, burst=5, now=10.0)
    drain(bucket, 10.0)
    assert bucket.take(10.2) is Verdict.WARN  # 0.4 of a token: not enough
    assert bucket.take(10.5) is Verdict.OK  # 1.0 token after 0.5 s at 2/s
    assert bucket.take(10.5) is Verdict.WARN
    # A long rest refills to `burst` only: 5 lines, then a drop.
    assert [bucket.take(1000.0) for _ in range(6)] == [Verdict.OK] * 5 + [Verdict.WARN]


def test_partial_tokens_accumulate_across_drops() -> None:
    bucket = TokenBucket(rate=1.0, burst=2, now=0.0)
    drain(bucket, 0.0)
    assert bucket.take(0.5) is Verdict.WARN  # half a token kept, not thrown away
    assert bucket.take(1.0) is Verdict.OK


def test_charge_takes_extra_tokens_and_delays_the_next_line() -> None:
    bucket = TokenBucket(rate=1.0, burst=4, now=0.0)
    bucket.charge(3, 0.0)  # 4 - 3 = 1 token left
    assert bucket.take(0.0) is Verdict.OK
    assert bucket.take(0.0) is Verdict.WARN


def test_charge_goes_below_zero_but_not_below_minus_burst() -> None:
    bucket = TokenBucket(rate=1.0, burst=3, now=0.0)
    bucket.charge(1000, 0.0)  # clamped at -3, not -997
    # From -3 it takes 4 s to reach one token at 1/s: 3.9 s is still short ...
    assert bucket.take(3.9) is Verdict.WARN
    # ... and 4 s after the charge a line goes through (had it not been clamped, it would
    # take 998 s).
    assert bucket.take(4.0) is Verdict.OK


def test_charge_counts_the_refill_up_to_its_time() -> None:
    bucket = TokenBucket(rate=1.0, burst=3, now=0.0)
    drain(bucket, 0.0)
    bucket.charge(1, 2.0)  # 2 tokens refilled by t=2, one charged: 1 left
    assert bucket.take(2.0) is Verdict.OK
    assert bucket.take(2.0) is Verdict.WARN


def test_rested_only_when_full_again() -> None:
    bucket = TokenBucket(rate=1.0, burst=2, now=0.0)
    assert bucket.rested(0.0)
    assert bucket.take(0.0) is Verdict.OK
    assert not bucket.rested(0.0)
    assert not bucket.rested(0.5)
    assert bucket.rested(1.0)
    bucket.charge(10, 1.0)  # down to -2: four seconds to full
    assert not bucket.rested(4.9)
    assert bucket.rested(5.0)


@pytest.mark.parametrize("burst", [1, 2, 7])
def test_a_steady_client_at_the_rate_is_never_dropped(burst: int) -> None:
    bucket = TokenBucket(rate=4.0, burst=burst, now=0.0)
    assert all(bucket.take(n * 0.25) is Verdict.OK for n in range(200))
