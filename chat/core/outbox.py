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
"""

from __future__ import annotations

from collections.abc import Iterable


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
        chunks = self._chunks
        self._chunks = []
        self.nbytes = 0
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def seal(self) -> None:
        """Accept nothing more: every later push calls `full()`."""
        self.max_messages = 0

    def append(self, data: bytes) -> None:
        """Queue `data` past the bounds (for `full`, once it has made room or decided to)."""
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
    MUST NOT block.
    """
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
