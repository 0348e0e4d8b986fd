"""Room moderation kept across a restart, on the core's side. Pure: no I/O.

Where a store is configured (`--history-db`: `chat.net.bandb` writes it in a database thread
and sets `Keeper.persist`), a room's modes (`i`, `m`, `t`, `l`, `k`), its bans and its live
mutes are kept from the moment they change, and restored when the room is made again after it
emptied or the server restarted (`Moderation.created`, and the join checks before it).
Operators, voice and invitations belong to memberships and are not kept: the first joiner of a
re-created room (who must pass its kept bans, key, limit and invite-only) is its operator.
Rooms with nothing to keep keep nothing; at most `MAX_STORED_ROOMS` rooms are kept (the least
recently changed is forgotten past it), `MAX_BANS` bans and `MAX_STORED_MUTES` mutes each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chat.core import moderation as m


@dataclass(frozen=True, slots=True)
class Stored:
    """What a store keeps of a room's moderation state across a restart (`--history-db`):
    the flags, limit and key, the bans (at most `m.MAX_BANS`), the live mutes with their end
    (at most `MAX_STORED_MUTES`, those ending last) and the accounts of its operators
    (`RoomModes.op_accounts`). Operators, voice and invitations belong to memberships and are
    not kept: the first joiner of a re-created room is its operator, unless the room remembers
    operators' accounts, when only their holders are (on joining or identifying)."""

    name: str
    flags: str  # "imt" letters that are on
    limit: int
    key: str
    bans: tuple[str, ...]
    mutes: tuple[tuple[str, float], ...]  # (folded nick, until), soonest end first
    op_accounts: tuple[str, ...] = ()  # folded account names, oldest claim first


MAX_STORED_MUTES = 1000
"""Mutes a store keeps per room (those ending last)."""
MAX_STORED_ROOMS = 10_000
"""Rooms whose moderation state a store keeps; past it, the least recently changed is
forgotten."""


def stored(modes: m.RoomModes, name: str, now: float) -> Stored | None:
    """`modes` as a store keeps them, or None when there is nothing to keep."""
    mutes = sorted(((n, t) for n, t in modes.mutes.items() if t > now), key=lambda kv: kv[1])
    flags = modes.letters()
    if not (flags or modes.limit or modes.key or modes.bans or mutes or modes.op_accounts):
        return None
    bans = tuple(modes.bans)[: m.MAX_BANS]
    return Stored(
        name, flags, modes.limit, modes.key, bans, tuple(mutes[-MAX_STORED_MUTES:]),
        tuple(modes.op_accounts)[-m.MAX_OP_ACCOUNTS :],
    )  # fmt: skip


def restored(kept: Stored, now: float) -> m.RoomModes:
    """A re-created room's modes from what a store kept (expired mutes dropped)."""
    return m.RoomModes(
        invite_only="i" in kept.flags,
        moderated="m" in kept.flags,
        topic_lock="t" in kept.flags,
        limit=kept.limit,
        key=kept.key,
        bans=dict.fromkeys(kept.bans[: m.MAX_BANS]),
        mutes={n: t for n, t in kept.mutes if t > now},
        op_accounts=dict.fromkeys(kept.op_accounts[-m.MAX_OP_ACCOUNTS :]),
    )


class Keeper:
    def __init__(self) -> None:
        self.kept: dict[str, Stored] = {}
        """Each room's kept state by folded name, least recently changed first."""
        self.persist: Callable[[str, Stored | None], None] | None = None
        """Told when a room's kept state changes (None: delete it); None without a store."""

    def load(self, rooms: dict[str, Stored]) -> None:
        """What the store held at start-up."""
        self.kept.update(rooms)
        while len(self.kept) > MAX_STORED_ROOMS:
            del self.kept[next(iter(self.kept))]

    def restore(self, key: str, now: float) -> m.RoomModes | None:
        kept = self.kept.get(key)
        return None if kept is None else restored(kept, now)

    def save(self, key: str, name: str, modes: m.RoomModes | None, now: float) -> None:
        """Room `key`'s moderation state changed: tell the store if what it keeps changed."""
        if self.persist is None:
            return
        new = stored(modes, name, now) if modes is not None else None
        old = self.kept.pop(key, None)
        if new is not None:
            self.kept[key] = new  # the most recently changed last
            while len(self.kept) > MAX_STORED_ROOMS:
                oldest = next(iter(self.kept))
                del self.kept[oldest]
                self.persist(oldest, None)
        if new != old:
            self.persist(key, new)
