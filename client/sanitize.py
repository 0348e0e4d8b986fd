"""What the client shows is stripped of terminal control first (the server does it too, but a
terminal should not have to trust the server). No I/O.

Whole ANSI sequences (CSI, OSC) go first, then every C0 control but TAB, DEL, every C1
control and the bidi controls; a lone surrogate (a JSON `\\ud800` escape) becomes U+FFFD, as it
could not be written to the terminal. prompt_toolkit itself only neutralises ESC.
"""

from __future__ import annotations

import re

_SEQUENCES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?")
_CONTROLS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]+")
_SURROGATES = re.compile("[\ud800-\udfff]")


def clean(text: str) -> str:
    """`text` without escape sequences or control characters (TAB is kept)."""
    if "\x1b" in text:
        text = _SEQUENCES.sub("", text)
    if not text.isascii():
        text = _SURROGATES.sub("\ufffd", text)
    return _CONTROLS.sub("", text)
