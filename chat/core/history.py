"""Room history: offsets, epochs, and a bounded in-memory store. Pure: no I/O, no asyncio.

Every room message (and action) gets the room's next `offset` (1, 2, 3, ... with no holes) and
carries the room's `epoch`, a token that changes only when the room's history is lost (here: a
restart, or a room whose whole stream was evicted and forgotten). A client that knows
`(epoch, offset)` of the last message it saw asks for what came after (`since`) and learns
whether it got everything (`recovered`): never a silent gap, never a duplicate.

Bounds (docs/protocol.md): at most `size` messages per room, and at most `max_bytes` of text
in all rooms together; past the latter the oldest messages of the whole server go first (the
oldest tails). A room that vanishes (its last member left) keeps its stream while any of its
messages is held, so a client that comes back still resumes; once the last one is evicted the
stream is forgotten, so rooms that came and went cost nothing. Counters (`stored`,
`nbytes`, `evicted`, `recovered`, `not_recovered`) feed the stats.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

FIRST_EPOCH = "0"
"""The epoch a room shows before it has any message, when its epochs are chosen elsewhere (a
cluster: the first message's publisher picks one). A client that saw nothing of such a room
(`since` = FIRST_EPOCH, 0) resumes from offset 1 of whatever epoch the room has since."""
ENTRY_OVERHEAD = 64
"""Bytes a stored message costs beyond its text and nick (for the `max_bytes` bound)."""


@dataclass(frozen=True, slots=True)
class Entry:
    offset: int
    nick: str
    text: str
    ts: float
    action: bool

    @property
    def weight(self) -> int:
        return len(self.text) + len(self.nick) + ENTRY_OVERHEAD


class Stream:
    """One room's retained messages and its next offset."""

    __slots__ = ("entries", "epoch", "key", "last", "orphan")

    def __init__(self, key: str, epoch: str) -> None:
        self.key = key
        self.epoch = epoch
        self.orphan = False  # its room is gone: forget it once it holds nothing
        self.last = 0  # the offset of the newest message ever appended
        self.entries: deque[Entry] = deque()

    @property
    def first(self) -> int:
        """Offset of the oldest message still held (last + 1 when none is)."""
        return self.entries[0].offset if self.entries else self.last + 1


class MemoryHistory:
    def __init__(
        self,
        size: int = 500,
        max_bytes: int = 64 * 1024 * 1024,
        new_epoch: Callable[[], str] = lambda: secrets.token_hex(6),
    ) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self.new_epoch = new_epoch
        self.streams: dict[str, Stream] = {}
        self._order: deque[tuple[Stream, int]] = deque()  # (stream, offset), oldest first
        self.stored = 0
        self.nbytes = 0
        self.evicted = 0
        self.recovered = 0
        self.not_recovered = 0
        self.retries = 0
        """Cluster mode (`chat.cluster.histstream` counts them here): publishes tried again,
        after losing a race for a room's next offset to another node, or a timeout."""
        self.unnumbered = 0
        """Cluster mode: lines the stream could not take (link down), delivered here only."""
        self.sink: Callable[[Stream, Entry], None] | None = None
        """Told of every appended message (a persistent store keeps it: `chat.net.historydb`)."""

    # --- writing ------------------------------------------------------------------------------
    def append(self, room: str, nick: str, text: str, ts: float, action: bool) -> tuple[str, int]:
        """Store a message of `room` (folded name); returns its `(epoch, offset)`."""
        stream = self._stream(room)
        stream.orphan = False
        entry = Entry(stream.last + 1, nick, text, ts, action)
        self._keep(stream, entry)
        if self.sink is not None:
            self.sink(stream, entry)
        return stream.epoch, entry.offset

    def put(self, room: str, epoch: str, entry: Entry) -> bool:
        """Store a message numbered elsewhere (the cluster's stream, `chat.cluster.histstream`);
        False if it is one already held (a duplicate). A new epoch replaces what was held; a
        hole (offsets missed) drops what was held before it, so held offsets stay contiguous
        and a resume from before the hole says `recovered: false`."""
        old = self.streams.get(room)
        if old is None or epoch != old.epoch:  # a new stream object: no stale age records
            stream = self.streams[room] = Stream(room, epoch)
            stream.orphan = True if old is None else old.orphan  # no room here (yet)?
            if old is not None:
                old.orphan = False
                self._clear(old)
        elif entry.offset > (stream := old).last + 1:
            self._clear(stream)
        elif entry.offset <= stream.last:
            return False
        self._keep(stream, entry)
        return True

    def _keep(self, stream: Stream, entry: Entry) -> None:
        stream.last = entry.offset
        stream.entries.append(entry)
        self._order.append((stream, entry.offset))
        self.stored += 1
        self.nbytes += entry.weight
        if len(stream.entries) > self.size:
            self._drop_oldest(stream)
            if len(self._order) > 2 * self.stored + 1024:
                self._compact()
        while self.nbytes > self.max_bytes and self._order:
            self._evict_oldest()

    def _clear(self, stream: Stream) -> None:
        while stream.entries:
            self._drop_oldest(stream)

    def restore(self, room: str, epoch: str, last: int, entries: list[Entry]) -> None:
        """Load a room's stream as a persistent store kept it (before serving anyone)."""
        stream = self.streams[room] = Stream(room, epoch)
        stream.last = last
        stream.orphan = True  # its room does not exist (yet): forgotten once empty
        for entry in entries[-self.size :] if self.size else []:
            stream.entries.append(entry)
            self._order.append((stream, entry.offset))
            self.stored += 1
            self.nbytes += entry.weight
        while self.nbytes > self.max_bytes and self._order:
            self._evict_oldest()

    def _stream(self, room: str) -> Stream:
        stream = self.streams.get(room)
        if stream is None:
            stream = self.streams[room] = Stream(room, self.new_epoch())
        return stream

    def _drop_oldest(self, stream: Stream) -> None:
        entry = stream.entries.popleft()
        self.stored -= 1
        self.nbytes -= entry.weight
        self.evicted += 1

    def _evict_oldest(self) -> None:
        """Drop the oldest message of the whole server (unless its room already dropped it)."""
        stream, offset = self._order.popleft()
        if stream.entries and stream.entries[0].offset == offset:
            self._drop_oldest(stream)
        if stream.orphan and not stream.entries:
            self.streams.pop(stream.key, None)

    def _compact(self) -> None:
        """Drop the age records of messages a room already dropped (amortised O(1))."""
        self._order = deque(
            (stream, offset)
            for stream, offset in self._order
            if stream.entries and offset >= stream.entries[0].offset
        )

    def orphan(self, room: str) -> None:
        """`room` vanished: forget its stream now if empty, else once its messages are gone."""
        stream = self.streams.get(room)
        if stream is None:
            return
        if stream.entries:
            stream.orphan = True
        else:
            del self.streams[room]

    # --- reading ------------------------------------------------------------------------------
    def position(self, room: str) -> tuple[str, int]:
        """`(epoch, offset of the newest message)` of a room (0 when it has none yet). Asked
        about a room that exists, so an orphaned stream of it is live again."""
        stream = self._stream(room)
        stream.orphan = False
        return stream.epoch, stream.last

    def since(self, room: str, epoch: str, offset: int, limit: int) -> tuple[list[Entry], bool]:
        """Messages after `offset` (at most `limit`, the newest), and whether that is all that
        came after it: False when the epoch changed or messages after it were evicted."""
        stream = self._stream(room)
        if epoch == FIRST_EPOCH and offset == 0:  # saw nothing before the first message
            epoch = stream.epoch
        if epoch != stream.epoch or offset > stream.last:
            entries = list(stream.entries)[-limit:] if limit else []
            self.not_recovered += 1
            return entries, False
        start = max(offset + 1, stream.first)
        skip = start - stream.first
        entries = [stream.entries[i] for i in range(skip, len(stream.entries))]
        complete = start == offset + 1 and len(entries) <= limit
        entries = entries[-limit:] if limit else []
        if complete:
            self.recovered += 1
        else:
            self.not_recovered += 1
        return entries, complete

    def page(
        self, room: str, *, before: int | None = None, after: int | None = None, limit: int
    ) -> list[Entry]:
        """Up to `limit` messages: the newest ones before `before`, the oldest ones after
        `after`, or (neither) the latest."""
        stream = self.streams.get(room)
        if stream is None or not stream.entries or limit <= 0:
            return []
        first = stream.first
        held = stream.entries
        if after is not None:
            start = max(after + 1 - first, 0)
            return [held[i] for i in range(start, min(start + limit, len(held)))]
        end = len(held) if before is None else max(min(before - first, len(held)), 0)
        return [held[i] for i in range(max(end - limit, 0), end)]
