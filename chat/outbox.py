"""A client's bounded outbound queue: a list of ready-to-send byte strings.

It is bounded in messages and in bytes. `push` never blocks and never grows past the bounds:
a push that would pass either bound is refused and the `full` hook is called instead (the
session treats that client as a slow consumer). The transport takes everything queued in one go
(`take`) and writes it with a single `write()`, so a client costs one system call per event-loop
pass however many messages arrived for it.

`push` is the innermost step of every fan-out (one call per delivery), so it is one method with
one combined bound check; the `wake` hook runs only when the outbox goes from empty to non-empty.
"""

from __future__ import annotations


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
        chunks = self._chunks
        size = self.nbytes + len(data)
        if size > self.max_bytes or len(chunks) >= self.max_messages:
            self.full()
            return
        chunks.append(data)
        self.nbytes = size
        if len(chunks) == 1:
            self.wake()

    def take(self) -> bytes:
        """Everything queued, joined, leaving the outbox empty."""
        chunks = self._chunks
        self._chunks = []
        self.nbytes = 0
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def seal(self) -> None:
        """Accept nothing more: every later push calls `full()`."""
        self.max_messages = 0

    # --- hooks ------------------------------------------------------------------------------
    def wake(self) -> None:
        """The outbox went from empty to non-empty: arrange for it to be written."""

    def full(self) -> None:
        """A push was refused because it would pass a bound (or the outbox is sealed)."""
