"""Nicks: the local syntax check and the fallbacks tried when a nick is taken. No I/O.

The server has the last word on a nick (docs/protocol.md, "Names"); the check here only spares
a round trip for what can never work, and its wording matches the server's rule.
"""

from __future__ import annotations

import re

from chat.protocol.names import MAX_NICK as MAX_NICK  # one rule for server and client

RULE = f"1-{MAX_NICK} of A-Z a-z 0-9 _ - [ ] {{ }} | ^, not starting with a digit or -"
_NICK = re.compile(rf"[A-Za-z_\[\]{{}}|^][A-Za-z0-9_\-\[\]{{}}|^]{{0,{MAX_NICK - 1}}}")
MAX_FALLBACKS = 3
"""Automatic `nick_` tries per registration; after that the user is asked for a nick."""


def valid(nick: str) -> bool:
    return _NICK.fullmatch(nick) is not None


def fallback(wanted: str, tried: set[str]) -> str | None:
    """The next nick to try after `wanted` was taken: wanted_, wanted__, ... cut to 24
    characters, never one already in `tried` (folded); None when there is no new one.

    A 24-character nick has no room for a `_`: the tail is replaced instead, so the candidate
    still differs from everything tried (a fallback equal to the nick itself would loop)."""
    for k in range(1, MAX_NICK + 1):
        keep = min(len(wanted), MAX_NICK - k)
        candidate = wanted[:keep] + "_" * k
        if candidate.lower() not in tried and valid(candidate):
            return candidate
    return None
