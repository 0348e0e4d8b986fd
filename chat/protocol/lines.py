"""Bounded line splitting: bytes in, complete lines out, never more than `max_line` buffered.

`StreamReader.readline()` raises `LimitOverrunError` past its limit and leaves the stream in an
awkward state, so the transport reads raw chunks and lets this class enforce the limit: an
over-long line is reported once as `TOO_LONG`, the rest of it is discarded up to its newline, and
the next line is parsed normally.
"""

from __future__ import annotations

from typing import Final


class _TooLong:
    __slots__ = ()

    def __repr__(self) -> str:
        return "TOO_LONG"


TOO_LONG: Final = _TooLong()
"""Marker yielded in place of a line that exceeded the limit."""


class LineSplitter:
    """Split a byte stream on ``\\n`` (a trailing ``\\r`` is dropped) with a hard length limit."""

    __slots__ = ("_discarding", "_partial", "max_line")

    def __init__(self, max_line: int) -> None:
        self.max_line = max_line
        self._partial = b""
        self._discarding = False

    @property
    def buffered(self) -> int:
        """Bytes held back waiting for a newline (always <= max_line)."""
        return len(self._partial)

    def feed(self, data: bytes) -> list[bytes | _TooLong]:
        """Consume `data`; return the complete lines (without ``\\r\\n``) and TOO_LONG markers."""
        out: list[bytes | _TooLong] = []
        pieces = data.split(b"\n")
        tail = pieces.pop()  # bytes after the last newline (b"" if data ended with one)
        limit = self.max_line
        if pieces:
            first = pieces[0]
            if self._discarding:
                self._discarding = False
                pieces[0] = b""
                skip_first = True
            else:
                pieces[0] = self._partial + first if self._partial else first
                skip_first = False
            self._partial = b""
            for i, line in enumerate(pieces):
                if i == 0 and skip_first:
                    continue
                if line.endswith(b"\r"):
                    line = line[:-1]
                if len(line) > limit:
                    out.append(TOO_LONG)
                else:
                    out.append(line)
        if self._discarding:
            return out
        if tail:
            partial = self._partial + tail if self._partial else tail
            # A pending "\r" may belong to a "\r\n" split across reads, so allow one extra byte.
            if len(partial) > limit + 1 or (len(partial) == limit + 1 and partial[-1:] != b"\r"):
                out.append(TOO_LONG)
                self._partial = b""
                self._discarding = True
            else:
                self._partial = partial
        return out
