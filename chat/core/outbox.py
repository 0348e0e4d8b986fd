"""A client's bounded outbound queue: a list of ready-to-send byte strings.

It is bounded in messages and in bytes. `push` never blocks and never grows past the bounds
on its own: a push that would pass either bound goes to the `full` hook, which decides. The
transport's `full` first hands what is queued to the kernel, and only a client whose bytes the
kernel would not take is a slow consumer (docs/protocol.md, "Slow consumers"): a client is
judged by whether it reads, never by how much others sent it in one loop pass. The transport
takes everything queued in one go (`take`) and writes it with a single `write()`, so a client
costs one system call per event-loop pass however many messages arrived for it.

A room message reaches its members through `fan_out`, the innermost loop of the server: one
combined bound check and an append per member, no method call, and the `wake` hook only when an
outbox goes from empty to non-empty. `push` is the same for one outbox.

A server batches a room's messages of one loop pass (`Batch`): the messages wait, encoded, and
reach each member's outbox together, as one chunk, in a single `fan_out` when anything else is
queued for anyone, when a room's membership changes, or when the pass's writes begin. So a
busy room costs one append per member per pass instead of one per member per message, and
every client still gets its bytes in exactly the order the hub produced them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable


class Outbox:
    __slots__ = ("_chunks", "max_bytes", "max_messages", "nbytes")

    def __init__(self, max_messages: int, max_bytes: int) -> None:
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self._chunks: list[bytes] = []
        self.nbytes = 0

    def __len__(self) -> int:
        return len(self._chunks)

    def push(self, data: bytes) -> None:
        """Queue `data`, or call `full()` (queueing nothing) if that would pass a bound."""
        fan_out((self,), data)

    def take(self) -> bytes:
        """Everything queued, joined, leaving the outbox empty."""
        if BATCH.owner is not None:
            BATCH.settle()
        chunks = self._chunks
        self._chunks = []
        self.nbytes = 0
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def seal(self) -> None:
        """Accept nothing more: every later push calls `full()` (a waiting batch goes first)."""
        if BATCH.owner is not None:
            BATCH.settle()
        self.max_messages = 0

    def append(self, data: bytes) -> None:
        """Queue `data` past the bounds (for `full`, once it has made room or decided to)."""
        if BATCH.owner is not None:
            BATCH.settle()
        self._chunks.append(data)
        self.nbytes += len(data)
        if len(self._chunks) == 1:
            self.wake()

    # --- hooks ------------------------------------------------------------------------------
    def wake(self) -> None:
        """The outbox went from empty to non-empty: arrange for it to be written."""

    def full(self, data: bytes) -> bool:
        """A push of `data` would pass a bound (or the outbox is sealed): take it (True) or
        refuse it (False). Refusing by default."""
        return False


def fan_out(boxes: Iterable[Outbox], data: bytes, skip: Outbox | None = None) -> int:
    """Queue the same `data` in every outbox but `skip`; return how many took it.

    An outbox that would pass a bound has `full(data)` called, which takes it or not.
    MUST NOT block. A waiting batch is queued first, so it stays ahead of `data`.
    """
    if BATCH.owner is not None:
        BATCH.settle()
    return _fan_out(boxes, data, skip)


def _fan_out(boxes: Iterable[Outbox], data: bytes, skip: Outbox | None) -> int:
    size = len(data)
    taken = 0
    for box in boxes:
        if box is skip:
            continue
        chunks = box._chunks
        total = box.nbytes + size
        if total > box.max_bytes or len(chunks) >= box.max_messages:
            taken += box.full(data)
            continue
        chunks.append(data)
        box.nbytes = total
        taken += 1
        if len(chunks) == 1:
            box.wake()
    return taken


BATCH_BYTES = 64 * 1024
"""Bytes a batch holds at most: past it, it is queued at once (a new one starts)."""

Run = tuple[Collection[Outbox], Outbox | None, list[bytes]]
"""Consecutive messages for one group of outboxes with the same one skipped (or none)."""


class Batch:
    """One room's messages of this loop pass, waiting to be queued together (`add`).

    At most one room's batch waits at a time, process-wide (`BATCH`): a message for another
    room, any other push (a reply, a private message), a room's membership changing (`Room.add`,
    `remove`, `regroup`), an outbox being sealed or taken, and the flusher starting its writes
    all `settle` it first. Between two of those, only this room's messages were produced, so
    queueing them later, together, leaves every client's output in the same order. A settle
    queues each run with one `fan_out`: the bound checks, slow-consumer cuts and `wake`s happen
    there, on the real sizes, as for a single message.
    """

    __slots__ = ("owner", "runs", "size")

    def __init__(self) -> None:
        self.owner: object | None = None  # the room whose messages wait (None: nothing waits)
        self.runs: list[Run] = []
        self.size = 0

    def add(
        self,
        owner: object,
        boxes: Collection[Outbox],
        data: bytes,
        skip: Outbox | None,
        soon: Callable[[], None],
    ) -> None:
        """Queue `data` for every outbox of `boxes` but `skip` at the next `settle`; `soon`
        arranges one (the flusher's next pass) when this starts a batch. `boxes` must not
        change before then (the room settles first when its members do)."""
        if owner is not self.owner:
            if self.owner is not None:
                self.settle()
            self.owner = owner
            soon()
        last = next((run for run in reversed(self.runs) if run[0] is boxes), None)
        if last is not None and last[1] is skip:  # the same group, the same one skipped
            last[2].append(data)
        else:
            self.runs.append((boxes, skip, [data]))
        self.size += len(data)
        if self.size >= BATCH_BYTES:
            self.settle()

    def settle(self) -> None:
        """Queue everything waiting, each run as one chunk, in the order it came."""
        runs = self.runs
        self.owner, self.runs, self.size = None, [], 0
        for boxes, skip, parts in runs:
            _fan_out(boxes, parts[0] if len(parts) == 1 else b"".join(parts), skip)


BATCH = Batch()
"""The one batch of this process (one event loop; a server turns batching on per hub)."""
