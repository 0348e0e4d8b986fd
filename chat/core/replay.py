"""What a client is sent from a room's history: a resume after `since`, or a page.

Pure functions over `chat.core.history.MemoryHistory` that build events; the hub sends them.
Everything sent in one go must fit the asker's send queue (a resume or a page is generated in
one loop pass, before the client can read any of it), so each is cut to `budget` bytes:
a resume then says `recovered: false`, a page holds fewer messages than asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from chat.core.history import Entry, MemoryHistory
from chat.protocol import commands as c
from chat.protocol import events as e


def resume(
    history: MemoryHistory,
    room: str,
    key: str,
    since: tuple[str, int],
    joined: e.Joined,
    budget: int,
    size: Callable[[e.Message], int] | None = None,
    *,
    current: bool = True,
) -> list[e.Event]:
    """Every message after `since` (each `replay`), then `joined` with `recovered`. `size`
    says what a message weighs once encoded for the asker (else: its text, roughly).
    `current` is False when this copy of the history may lag (a cluster node cut off from
    the cluster's stream): then nothing is promised, `recovered` is False."""
    entries, recovered = history.since(key, *since, history.size)
    kept = fit(entries, budget, newest=True, size=_measure(room, joined.epoch, size))
    if recovered and (len(kept) < len(entries) or not current):
        recovered = False  # more was missed than one go holds (the client pages), or a lag
        history.recovered -= 1
        history.not_recovered += 1
    events: list[e.Event] = [_message(room, m, joined.epoch) for m in kept]
    events.append(replace(joined, recovered=recovered))
    return events


def latest(history: MemoryHistory, room: str, key: str, count: int) -> e.HistoryPage | None:
    """The room's last `count` messages as one page (None when it has none)."""
    entries = history.page(key, limit=count)
    return page(history, room, key, entries) if entries else None


def asked(
    history: MemoryHistory,
    room: str,
    key: str,
    cmd: c.History,
    encode: Callable[[e.Event], bytes],
    max_bytes: int,
) -> e.HistoryPage:
    """The page a `history` command asks for. One page is one line: it must fit the asker's
    send queue (`max_bytes`) with room to spare, weighed as its codec (`encode`) writes it."""
    entries = history.page(key, before=cmd.before, after=cmd.after, limit=cmd.limit)
    epoch, _ = history.position(key)
    size = sized(room, epoch, encode)
    entries = fit(entries, max_bytes // 2, newest=cmd.after is None, size=size)
    return page(history, room, key, entries)


def page(history: MemoryHistory, room: str, key: str, entries: list[Entry]) -> e.HistoryPage:
    epoch, _ = history.position(key)
    return e.HistoryPage(room, epoch, tuple(_message(room, m, epoch) for m in entries))


def fit(
    entries: list[Entry],
    budget: int,
    *,
    newest: bool,
    size: Callable[[Entry], int] | None = None,
) -> list[Entry]:
    """The longest run of `entries` (from the newest end, or the oldest) within `budget`
    bytes, each weighing `size(entry)` (default: `Entry.weight`, its characters)."""
    keep = 0
    for m in reversed(entries) if newest else entries:
        weight = m.weight if size is None else size(m)
        if budget < weight:
            break
        budget -= weight
        keep += 1
    return entries[len(entries) - keep :] if newest else entries[:keep]


def sized(room: str, epoch: str, encode: Callable[[e.Event], bytes]) -> Callable[[Entry], int]:
    """An entry's weight as the bytes `encode` makes of it (UTF-8 and escaping included)."""
    return lambda m: len(encode(_message(room, m, epoch)))


def _measure(
    room: str, epoch: str, size: Callable[[e.Message], int] | None
) -> Callable[[Entry], int] | None:
    return None if size is None else (lambda m: size(_message(room, m, epoch)))


def _message(room: str, m: Entry, epoch: str) -> e.Message:
    return e.Message(room, m.nick, m.text, m.ts, m.action, m.offset, epoch, True)


def first_at(history: MemoryHistory, key: str, ms: int, *, strict: bool) -> int:
    """Where a time falls in a room's history: the offset of the oldest held message stamped
    at or after `ms` (strictly after, with `strict`), in whole milliseconds as IRC's `time`
    tag shows them; the room's next offset when there is none. A binary search over
    `page` (times grow with offsets: the hub stamps messages as it numbers them)."""
    _, last = history.position(key)
    oldest = history.page(key, after=0, limit=1)
    lo, hi = (oldest[0].offset if oldest else last + 1), last + 1
    while lo < hi:
        mid = (lo + hi) // 2
        found = history.page(key, after=mid - 1, limit=1)
        stamp = int(found[0].ts * 1000) if found else ms + 1
        if stamp > ms or (stamp == ms and not strict):
            hi = mid
        else:
            lo = mid + 1
    return lo
