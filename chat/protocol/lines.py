"""Bounded line splitting: bytes in, complete lines out, never more than `max_line` buffered.

`StreamReader.readline()` raises `LimitOverrunError` past its limit and leaves the stream in an
awkward state, so the transport hands raw chunks to this class, which enforces the limit: an
over-long line is reported once as `TOO_LONG`, the rest of it is discarded up to its end, and
the next line is parsed normally.

A line ends at LF, CR LF or a lone CR (old terminals and some telnet clients send CR alone, and
a line that never ends would never be processed). A CR LF split across two reads still counts
as one line end.
"""

from __future__ import annotations

from typing import Final


class _TooLong:
    __slots__ = ()

    def __repr__(self) -> str:
        return "TOO_LONG"


TOO_LONG: Final = _TooLong()
"""Marker yielded in place of a line that exceeded the limit."""

Line = bytes | _TooLong


class LineSplitter:
    """Split a byte stream on LF, CR LF or CR, with a hard length limit."""

    __slots__ = ("_after_cr", "_discarding", "_partial", "max_line")

    def __init__(self, max_line: int) -> None:
        self.max_line = max_line
        self._partial = b""
        self._discarding = False
        self._after_cr = False  # the last chunk ended with CR: an LF first in the next is its pair

    @property
    def buffered(self) -> int:
        """Bytes held back waiting for a line end (always <= max_line)."""
        return len(self._partial)

    def feed(self, data: bytes) -> list[Line]:
        """Consume `data`; return the complete lines (without their ends) and TOO_LONG markers."""
        if not data:
            return []
        if self._after_cr and data[0] == 0x0A:
            data = data[1:]
        if b"\r" in data:
            self._after_cr = data[-1] == 0x0D
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        else:
            self._after_cr = False
        out: list[Line] = []
        pieces = data.split(b"\n")
        tail = pieces.pop()  # bytes after the last line end (b"" if data ended with one)
        limit = self.max_line
        if pieces:
            first = pieces[0]
            if self._discarding:  # the end of an over-long line: already reported
                self._discarding = False
                del pieces[0]
            elif self._partial:
                pieces[0] = self._partial + first
            self._partial = b""
            for line in pieces:
                out.append(TOO_LONG if len(line) > limit else line)
        if self._discarding or not tail:
            return out
        partial = self._partial + tail if self._partial else tail
        if len(partial) > limit:
            out.append(TOO_LONG)
            self._partial = b""
            self._discarding = True
        else:
            self._partial = partial
        return out
