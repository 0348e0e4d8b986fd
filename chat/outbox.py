"""A client's bounded outbound queue: a list of ready-to-send byte strings.

It is bounded in messages and in bytes. `put` never blocks and never grows past the bounds: it
returns False instead, and the owner treats that client as a slow consumer. The transport takes
everything queued in one go (`take`) and writes it with a single `write()`, so a client costs one
system call per event-loop pass however many messages arrived for it.
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

    def put(self, data: bytes) -> bool:
        """Queue `data`; False (and nothing queued) if that would pass either bound."""
        size = self.nbytes + len(data)
        if size > self.max_bytes or len(self._chunks) >= self.max_messages:
            return False
        self._chunks.append(data)
        self.nbytes = size
        return True

    def take(self) -> bytes:
        """Everything queued, joined, leaving the outbox empty."""
        chunks = self._chunks
        self._chunks = []
        self.nbytes = 0
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
