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

from chat.core import moderation as m


class Keeper:
    def __init__(self) -> None:
        self.kept: dict[str, m.Stored] = {}
        """Each room's kept state by folded name, least recently changed first."""
        self.persist: Callable[[str, m.Stored | None], None] | None = None
        """Told when a room's kept state changes (None: delete it); None without a store."""

    def load(self, rooms: dict[str, m.Stored]) -> None:
        """What the store held at start-up."""
        self.kept.update(rooms)
        while len(self.kept) > m.MAX_STORED_ROOMS:
            del self.kept[next(iter(self.kept))]

    def restore(self, key: str, now: float) -> m.RoomModes | None:
        kept = self.kept.get(key)
        return None if kept is None else m.restored(kept, now)

    def save(self, key: str, name: str, modes: m.RoomModes | None, now: float) -> None:
        """Room `key`'s moderation state changed: tell the store if what it keeps changed."""
        if self.persist is None:
            return
        new = m.stored(modes, name, now) if modes is not None else None
        old = self.kept.pop(key, None)
        if new is not None:
            self.kept[key] = new  # the most recently changed last
            while len(self.kept) > m.MAX_STORED_ROOMS:
                oldest = next(iter(self.kept))
                del self.kept[oldest]
                self.persist(oldest, None)
        if new != old:
            self.persist(key, new)
