"""Strip terminal control characters from text that will be shown to other people.

Whole ANSI sequences (CSI ``ESC [ ... final`` and OSC ``ESC ] ... BEL``) are removed first, then
every remaining C0 control except TAB, DEL, every C1 control, and the Unicode bidi embedding,
override and isolate controls. Nobody can move another user's cursor, recolour or retitle their
terminal, ring their bell, or reverse the visual order of a line.

`is_text` is the other half of the boundary: every string that enters the core must be valid
Unicode scalar values. Strict UTF-8 decoding guarantees that for raw bytes, but a JSON
``\\ud800`` escape yields a lone surrogate, which Python stores happily and which then fails
every later `.encode()`: stored in a topic it would break the room for everyone. The codecs
refuse such strings at decode time, so nothing stored can fail to encode later.
"""

from __future__ import annotations

import re

_SEQUENCES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?")
_CONTROLS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]+")
_SURROGATES = re.compile("[\ud800-\udfff]")


def clean(text: str) -> str:
    """Return `text` without escape sequences or control characters (TAB is kept)."""
    if text.isascii() and text.isprintable():  # the common case: nothing to remove (fast, in C)
        return text
    if "\x1b" in text:
        text = _SEQUENCES.sub("", text)
    return _CONTROLS.sub("", text)


def has_controls(text: str) -> bool:
    return _CONTROLS.search(text) is not None


def is_text(text: str) -> bool:
    """True if `text` is only Unicode scalar values (no lone surrogates): it can be encoded."""
    return text.isascii() or _SURROGATES.search(text) is None
