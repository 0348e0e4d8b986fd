"""Nick and room name rules: what is valid, and the folded key that makes them unique.

Nicks: 1-`MAX_NICK` characters of ASCII letters, digits and ``_-[]{}|^``, not starting with a
digit or ``-``. Room names: ``#`` then 1-`MAX_ROOM` characters of ASCII letters, digits and
``_-.``; a name typed without ``#`` gets one. Both are unique case-insensitively (folded to lower
case), and shown as first written.

Look-alikes: a name is first normalised to Unicode NFKC, which turns compatibility forms into
their plain letters (fullwidth letters U+FF21-FF5A and ligatures such as U+FB01 become ASCII),
and the result must then be plain ASCII. So "alice" typed in fullwidth letters *is* ``alice``
(and is refused with nick-taken while alice is online), and names mixing in other scripts
(Cyrillic U+0430, Greek U+03BF), zero-width or combining characters are refused. Within ASCII,
names differing only in case are the same name.
"""

from __future__ import annotations

import re
import unicodedata

from chat.protocol.errors import BAD_NICK, BAD_ROOM, ProtocolError

MAX_NICK = 24
MAX_ROOM = 32
_NICK = re.compile(rf"[A-Za-z_\[\]{{}}|^][A-Za-z0-9_\-\[\]{{}}|^]{{0,{MAX_NICK - 1}}}")
_ROOM = re.compile(rf"#[A-Za-z0-9_\-.]{{1,{MAX_ROOM}}}")


def fold(name: str) -> str:
    """The case-insensitive key of a nick or room name."""
    return name.lower()


def check_nick(nick: str) -> str:
    nick = unicodedata.normalize("NFKC", nick).strip()
    if not _NICK.fullmatch(nick):
        raise ProtocolError(
            BAD_NICK,
            f"nicks are 1-{MAX_NICK} of A-Z a-z 0-9 _ - [ ] {{ }} | ^,"
            " not starting with a digit or -",
        )
    return nick


def check_room(name: str) -> str:
    name = unicodedata.normalize("NFKC", name).strip()
    if not name.startswith("#"):
        name = "#" + name
    if not _ROOM.fullmatch(name):
        raise ProtocolError(BAD_ROOM, f"room names are # then 1-{MAX_ROOM} of A-Z a-z 0-9 _ - .")
    return name
