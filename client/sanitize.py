"""What the client shows is stripped of terminal control first (the server does it too, but a
terminal should not have to trust the server). No I/O.

The server's own rule (`chat.protocol.sanitize.clean`: whole ANSI sequences, then every C0
control but TAB, DEL, every C1 control and the bidi controls), plus one thing only a display
needs: a lone surrogate (a JSON `\\ud800` escape from a server that let one through) becomes
U+FFFD, as it could not be written to the terminal. prompt_toolkit itself only neutralises ESC.
"""

from __future__ import annotations

import re

from chat.protocol import sanitize

_SURROGATES = re.compile("[\ud800-\udfff]")


def clean(text: str) -> str:
    """`text` without escape sequences or control characters (TAB is kept)."""
    if not text.isascii():
        text = _SURROGATES.sub("\ufffd", text)
    return sanitize.clean(text)
