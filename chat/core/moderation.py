"""Moderation rules: room modes and who may do what. Pure: no I/O, no hub, no sessions;
`chat.core.modstate` and `chat.core.modcommands` apply these to the hub. Ban masks are
`chat.core.masks`, server bans `chat.core.serverbans` (both re-exported here, where the rules
are read).

Theory of operation
-------------------
A room's moderation state (`RoomModes`) is keyed by the room's folded name and lives while the
room exists anywhere in the cluster: invite-only (`i`), moderated (`m`), topic locked to
operators (`t`), no messages from outside (`n`, always on: only members speak), a member limit
(`l`), a key (`k`), and the lists: operators and voiced members (folded nicks), bans (masks),
invitations (folded nicks) and mutes (folded nick -> when the mute ends). Operators and voice
belong to a membership: leaving the room (part, quit, kick) loses them, as on IRC.

Every permission question is a function of that state and an `Identity` (nick, user, host,
account), answering None (allowed) or the `ProtocolError` to raise:

    may_join     bans (unless invited), invite-only, key, member limit
    may_speak    bans (a banned member still in the room cannot speak), mutes, moderated
    may_topic    topic lock
    may_moderate only operators (and server operators) change modes, kick, ban, invite, mute

Ban masks and whom they match: `chat.core.masks`.

Bounds (docs/protocol.md "Moderation"): `MAX_BANS` masks per room, `MAX_MODES` mode changes
per command, `MAX_INVITES` pending invitations per room, `MAX_MUTE` seconds of mute,
`MAX_SERVER_BANS` server bans, `MAX_MASK` characters of a mask.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from chat.core.masks import MAX_MASK as MAX_MASK
from chat.core.masks import PRINTABLE
from chat.core.masks import Identity as Identity
from chat.core.masks import glob_matches as glob_matches
from chat.core.masks import mask_matches as mask_matches
from chat.core.masks import normalize_mask as normalize_mask
from chat.core.serverbans import MAX_SERVER_BAN_TIME as MAX_SERVER_BAN_TIME
from chat.core.serverbans import MAX_SERVER_BANS as MAX_SERVER_BANS
from chat.core.serverbans import ServerBan as ServerBan
from chat.core.serverbans import address_banned as address_banned
from chat.core.serverbans import parse_network as parse_network
from chat.core.serverbans import prune as prune
from chat.protocol.errors import (
    BAD_COMMAND,
    BAD_KEY,
    BANNED,
    CANNOT_SEND,
    INVITE_ONLY,
    MUTED,
    NOT_OPERATOR,
    ROOM_FULL,
    UNKNOWN_MODE,
    ProtocolError,
)
from chat.protocol.names import fold

MAX_BANS = 100
"""Ban masks one room holds (IRC 478 past it; ISUPPORT `MAXLIST=b:100`)."""
MAX_MODES = 6
"""Mode changes one MODE command may make (ISUPPORT `MODES=6`); the rest are ignored."""
MAX_INVITES = 100
"""Pending invitations per room; the oldest is forgotten past it."""
MAX_OP_ACCOUNTS = 32
"""Accounts a room remembers as its operators' at most (the oldest claim goes first)."""
MAX_MUTE = 7 * 24 * 3600
"""Longest mute, in seconds."""
MAX_KEY = 23
"""Characters in a room key (IRC's usual limit)."""

FLAG_MODES = "imnt"
"""Modes without a parameter, in the order they are shown."""
ROOM_MODES = "beiklmnotv"
"""Every room mode letter known here (`CHANMODES=b,k,l,imnt` plus the prefixes `ov`)."""


@dataclass(slots=True)
class RoomModes:
    """One room's moderation state (see the module docstring)."""

    invite_only: bool = False
    moderated: bool = False
    topic_lock: bool = False
    limit: int = 0  # 0: none
    key: str = ""  # "": none
    ops: set[str] = field(default_factory=set)  # folded nicks
    voiced: set[str] = field(default_factory=set)
    bans: dict[str, None] = field(default_factory=dict)  # masks, oldest first
    invites: dict[str, None] = field(default_factory=dict)  # folded nicks, oldest first
    mutes: dict[str, float] = field(default_factory=dict)  # folded nick -> until (wall clock)
    op_accounts: dict[str, None] = field(default_factory=dict)
    """Accounts (folded) whose holder was made operator while identified, oldest first: such
    a holder is an operator again on joining or identifying, whatever its nick (`claim`)."""

    def flags(self, show_key: bool = True) -> str:
        """The modes as IRC's 324 shows them: `+intlk 10 key` (the key only to members)."""
        letters = "".join(
            letter
            for letter, on in zip(
                FLAG_MODES, (self.invite_only, self.moderated, True, self.topic_lock), strict=True
            )
            if on
        )
        params = []
        if self.limit:
            letters += "l"
            params.append(str(self.limit))
        if self.key:
            letters += "k"
            params.append(self.key if show_key else "*")
        return " ".join(["+" + letters, *params])

    def letters(self) -> str:
        """The flags `i`, `m`, `t` that are on, as notes and stores carry them: `it`."""
        on = (self.invite_only, self.moderated, self.topic_lock)
        return "".join(f for f, set_ in zip("imt", on, strict=True) if set_)

    def prefix(self, folded: str) -> str:
        """`@` for an operator, `+` for a voiced member, `@+` for both, "" otherwise."""
        return ("@" if folded in self.ops else "") + ("+" if folded in self.voiced else "")

    def forget_member(self, folded: str) -> None:
        """A member left the room: its operator and voice status go with it."""
        self.ops.discard(folded)
        self.voiced.discard(folded)

    def renamed(self, old: str, new: str) -> None:
        """A member changed nick (folded names): status, invitation and mute follow it."""
        for group in (self.ops, self.voiced):
            if old in group:
                group.discard(old)
                group.add(new)
        if old in self.invites:
            del self.invites[old]
            self.invites[new] = None
        if old in self.mutes:
            self.mutes[new] = self.mutes.pop(old)

    def claim(self, account: str) -> bool:
        """`account`'s holder is an operator: remember it (True if that is new)."""
        if account in self.op_accounts:
            return False
        self.op_accounts[account] = None
        while len(self.op_accounts) > MAX_OP_ACCOUNTS:
            del self.op_accounts[next(iter(self.op_accounts))]
        return True

    def invite(self, folded: str) -> None:
        self.invites.pop(folded, None)
        self.invites[folded] = None
        while len(self.invites) > MAX_INVITES:
            del self.invites[next(iter(self.invites))]

    def banned(self, who: Identity) -> str | None:
        """The first ban mask matching `who`, or None."""
        for mask in self.bans:
            if mask_matches(mask, who):
                return mask
        return None

    def muted_for(self, folded: str, now: float) -> float:
        """Seconds of mute left for `folded` (0: not muted; an expired mute is forgotten)."""
        until = self.mutes.get(folded)
        if until is None:
            return 0.0
        if until <= now:
            del self.mutes[folded]
            return 0.0
        return until - now


# --- permissions ----------------------------------------------------------------------------


def may_join(
    modes: RoomModes, who: Identity, room: str, key: str | None, size: int, oper: bool = False
) -> ProtocolError | None:
    """May `who` join `room` (which has `size` members on every node)? An invitation lets a
    user past a ban, invite-only and the key (as an IRC invite exception does), never past
    the limit; so does being a server operator (`oper`: the way into an invite-only room
    re-created empty from a store, where nobody is left to invite)."""
    invited = oper or fold(who.nick) in modes.invites
    if not invited:
        if modes.banned(who) is not None:
            return ProtocolError(BANNED, f"you are banned from {room}")
        if modes.invite_only:
            return ProtocolError(INVITE_ONLY, f"{room} is invite-only; ask an operator for /invite")
        # Bytes: `compare_digest` raises TypeError on a str with non-ASCII characters.
        given = (key or "").encode("utf-8", "replace")
        if modes.key and not (key is not None and hmac.compare_digest(given, modes.key.encode())):
            return ProtocolError(BAD_KEY, f"{room} needs a key: /join {room} <key>")
    if modes.limit and size >= modes.limit:
        return ProtocolError(ROOM_FULL, f"{room} is full ({modes.limit} members at most)")
    return None


def may_speak(modes: RoomModes, who: Identity, room: str, now: float) -> ProtocolError | None:
    """May member `who` post in `room`? Operators always may."""
    folded = fold(who.nick)
    if folded in modes.ops:
        return None
    left = modes.muted_for(folded, now)
    if left:
        return ProtocolError(MUTED, f"you are muted in {room} for {left:.0f} more seconds")
    if modes.banned(who) is not None:
        return ProtocolError(CANNOT_SEND, f"you are banned from {room}: you cannot speak there")
    if modes.moderated and folded not in modes.voiced:
        return ProtocolError(CANNOT_SEND, f"{room} is moderated: only voiced members speak")
    return None


def may_topic(modes: RoomModes, folded: str, room: str, oper: bool) -> ProtocolError | None:
    if modes.topic_lock and folded not in modes.ops and not oper:
        return ProtocolError(NOT_OPERATOR, f"the topic of {room} is locked to its operators")
    return None


def may_moderate(modes: RoomModes, folded: str, room: str, oper: bool) -> ProtocolError | None:
    """Only a room operator (or a server operator) changes modes, kicks, bans, invites or
    mutes."""
    if folded in modes.ops or oper:
        return None
    return ProtocolError(NOT_OPERATOR, f"you are not an operator of {room}")


# --- mode changes ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Change:
    """One mode change: `+o bob`, `-k`, `+l 10`, `+b *!*@10.0.0.*`."""

    on: bool
    letter: str
    arg: str = ""

    def __str__(self) -> str:
        sign = "+" if self.on else "-"
        return f"{sign}{self.letter} {self.arg}" if self.arg else f"{sign}{self.letter}"


_TAKES_ARG_ON = frozenset("bklov")
_TAKES_ARG_OFF = frozenset("bov")


def parse_modes(spec: str, args: list[str]) -> list[Change]:
    """`+im-t`, `+o bob`, `+lk 10 key`, ... as changes (at most `MAX_MODES`; the rest are
    ignored). Unknown letters raise `unknown-mode`; a missing parameter `bad-command`.
    `b` with no parameter is a query, not a change: the caller lists the bans."""
    changes: list[Change] = []
    on = True
    args = list(args)
    for ch in spec:
        if ch in "+-":
            on = ch == "+"
            continue
        if ch not in ROOM_MODES or ch == "e":
            raise ProtocolError(UNKNOWN_MODE, f"{ch[:1]!a} is not a room mode here")
        arg = ""
        if ch == "b" and not args:
            pass  # `b` alone asks for the list (the caller sends it)
        elif ch in (_TAKES_ARG_ON if on else _TAKES_ARG_OFF):
            if not args:
                raise ProtocolError(BAD_COMMAND, f"mode {'+' if on else '-'}{ch} needs a value")
            arg = args.pop(0)
        elif ch == "k" and args:  # `-k key` (IRC clients send the key back): ignored
            args.pop(0)
        changes.append(Change(on, ch, arg))
        if len(changes) >= MAX_MODES:
            break
    return changes


def merge(changes: list[str]) -> str:
    """`+o bob`, `+i`, `-k` as one IRC mode string: `+oi-k bob`."""
    letters, params, sign = [], [], ""
    for change in changes:
        head, _, arg = change.partition(" ")
        if head[0] != sign:
            sign = head[0]
            letters.append(sign)
        letters.append(head[1:])
        if arg:
            params.append(arg)
    return " ".join(["".join(letters), *params])


def apply_change(modes: RoomModes, change: Change) -> Change | None:
    """Apply one checked change (`o`/`v` arguments are folded nicks of members, `b` masks are
    normalised); the change as shown to the room, or None if it changed nothing."""
    on, letter, arg = change.on, change.letter, change.arg
    if letter == "i":
        changed, modes.invite_only = modes.invite_only != on, on
    elif letter == "m":
        changed, modes.moderated = modes.moderated != on, on
    elif letter == "t":
        changed, modes.topic_lock = modes.topic_lock != on, on
    elif letter == "n":
        changed = False  # always on
    elif letter == "l":
        limit = parse_limit(arg) if on else 0
        changed, modes.limit = modes.limit != limit, limit
    elif letter == "k":
        key = check_key(arg) if on else ""
        changed, modes.key = modes.key != key, key
        return (Change(on, "k", "*") if on else Change(False, "k")) if changed else None
    elif letter in "ov":
        group = modes.ops if letter == "o" else modes.voiced
        changed = (arg in group) != on
        if on:
            group.add(arg)
        else:
            group.discard(arg)
    elif letter == "b":
        if on:
            if arg in modes.bans:
                return None
            if len(modes.bans) >= MAX_BANS:
                raise ProtocolError(
                    BAD_COMMAND, f"the ban list is full ({MAX_BANS} masks); /unban one first"
                )
            modes.bans[arg] = None
            return change
        changed = modes.bans.pop(arg, "") is None
    else:
        raise ProtocolError(UNKNOWN_MODE, f"{letter!a} is not a room mode here")
    return change if changed else None


def parse_limit(text: str) -> int:
    """`+l N`: 1 to 1,000,000. Leading zeros are read past before the size is judged
    (`0000000010000000000` once slipped through as 10^10, which other nodes' notes refuse and
    SQLite cannot hold)."""
    digits = text.lstrip("0") if text.isascii() and text.isdigit() else ""
    if not digits or len(digits) > 7 or not 1 <= int(digits) <= 1_000_000:
        raise ProtocolError(BAD_COMMAND, "a member limit is a whole number 1-1000000")
    return int(digits)


def check_key(text: str) -> str:
    if not PRINTABLE.fullmatch(text) or len(text) > MAX_KEY or "," in text:
        raise ProtocolError(
            BAD_COMMAND, f"a key is 1-{MAX_KEY} printable ASCII characters, no space or comma"
        )
    return text
