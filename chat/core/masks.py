"""Ban masks: `nick!user@host` with IRC's globs, or `$a:account`, and who they match. Pure.

A mask is matched case-insensitively against a user's nick, user name (IRC `USER`; the nick
for the other dialects) and real address (the IP, not the `chat` shown in IRC masks); a bare
nick `bob` means `bob!*@*`; `$a:name` matches a user identified to account `name`
(`Session.account`; without --accounts such a ban matches nobody). Matching is linear in the
mask and the address (`glob_matches`): a mask can never stall the server.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from chat.protocol.errors import BAD_COMMAND, ProtocolError
from chat.protocol.names import check_nick, fold

MAX_MASK = 100
"""Characters in a ban mask."""

PRINTABLE = re.compile(r"[!-~]+")
"""Printable ASCII, no space: what a mask (and a room key) may hold."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a user is, as ban masks see them."""

    nick: str
    user: str
    host: str
    account: str | None = None  # `Session.account`: set once a user identifies

    @property
    def mask(self) -> str:
        return f"{self.nick}!{self.user}@{self.host}"


def normalize_mask(text: str) -> str:
    """A ban mask as stored: lower case, `nick!user@host` complete (`bob` is `bob!*@*`,
    `bob!x` is `bob!x@*`, `*@10.0.0.1` is `*!*@10.0.0.1`), or `$a:account`."""
    text = text.strip()
    if not PRINTABLE.fullmatch(text) or len(text) > MAX_MASK:
        raise ProtocolError(
            BAD_COMMAND, f"a ban mask is 1-{MAX_MASK} printable ASCII characters, no space"
        )
    if text.startswith("$a:"):
        account = text[3:]
        if not account:
            raise ProtocolError(BAD_COMMAND, "an account ban is $a:<account>")
        return "$a:" + fold(account)
    if "!" not in text and "@" not in text:
        if "*" not in text and "?" not in text:
            check_nick(text)  # a plain nick: must be one
        return fold(text) + "!*@*"
    nick, _, rest = text.partition("!") if "!" in text else ("*", "", text)
    user, _, host = rest.partition("@") if "@" in rest else (rest, "", "*")
    return fold(f"{nick or '*'}!{user or '*'}@{host or '*'}")


@functools.lru_cache(maxsize=4096)
def _glob(mask: str) -> tuple[re.Pattern[str], ...]:
    """A mask as the patterns of its pieces between `*` runs (`?` is any one character).

    Not one regex for the whole mask: `a*a*a*...b` as `a.*a.*a.*...b` backtracks
    exponentially on a near miss (a 21-character mask took 3.5 s against a 49-character
    address, 25 characters 74 s: a room operator could stall the server with one ban). Each
    piece has no `*`, so finding it is linear, and placing each piece at its leftmost match
    is always right for globs: the whole match is O(len(mask) x len(address)), in C."""
    return tuple(
        re.compile("".join("." if ch == "?" else re.escape(ch) for ch in piece), re.DOTALL)
        for piece in mask.split("*")
    )


def glob_matches(mask: str, text: str) -> bool:
    """Does all of `text` match the glob `mask` (`*` any run, `?` one character)?"""
    pieces = _glob(mask)
    if len(pieces) == 1:
        return pieces[0].fullmatch(text) is not None
    first = pieces[0].match(text)
    if first is None:
        return False
    pos = first.end()
    for piece in pieces[1:-1]:
        found = piece.search(text, pos)
        if found is None:
            return False
        pos = found.end()
    tail = len(text) - len(mask) + mask.rindex("*") + 1  # the last piece ends the text
    return tail >= pos and pieces[-1].fullmatch(text, tail) is not None


def mask_matches(mask: str, who: Identity) -> bool:
    """Does a normalised ban mask match `who`?"""
    if mask.startswith("$a:"):
        return who.account is not None and fold(who.account) == mask[3:]
    return glob_matches(mask, fold(who.mask))
