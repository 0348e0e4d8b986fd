"""The interface every wire dialect implements, and how the first line picks one."""

from __future__ import annotations

from typing import Protocol

from chat.protocol.commands import Command
from chat.protocol.events import Event


class Codec(Protocol):
    """One wire dialect. Pure: no I/O, no state; one shared instance per dialect."""

    name: str
    echo: bool
    """Whether a sender is sent its own room and private messages back."""

    def decode(self, line: bytes) -> Command | None:
        """Parse one line (without its newline). None for a blank line; ProtocolError if bad."""
        ...

    def encode(self, event: Event) -> bytes:
        """Serialise one event as one or more complete lines."""
        ...


def is_json_hello(line: bytes) -> bool:
    """The first line picks the dialect: a JSON object means a program, anything else a human."""
    return line.lstrip().startswith(b"{")


_JSON_STARTS = (b"[", b'"')
_JSON_WORDS = (b"null", b"true", b"false")


def is_json_value(line: bytes) -> bool:
    """A line that is some JSON other than an object (`null`, `[...]`, `"bob"`): a program
    speaking the wrong shape, not a human typing a nick."""
    line = line.strip()
    return line.startswith(_JSON_STARTS) or line in _JSON_WORDS
