"""The core's limits, in one frozen object (from `chat.settings.Settings`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """The core's limits; each is documented in docs/protocol.md."""

    default_room: str = "#lobby"
    max_rooms_per_client: int = 20
    max_rooms: int = 10_000
    max_room_members: int = 10_000
    max_topic: int = 300
    list_limit: int = 100  # names in a /who reply, rooms in a /rooms reply
    room_create_rate: float = 0.5  # new rooms per second per client (0: no limit) ...
    room_create_burst: int = 10  # ... in bursts of this many; an address gets 4x both ...
    room_create_per_address: bool = True  # ... unless per-address limits are off (a NAT)
    history_size: int = 500  # messages kept per room (0: no history)
    history_bytes: int = 64 * 1024 * 1024  # text kept in all rooms together
    history_on_join: int = 10  # lines a text-dialect client is shown when it joins a room
    oper: tuple[str, ...] = ()  # server operators, NAME:HASH (`chat.core.operhash`)
