"""What this node knows of the others: their nicks, which rooms those are in, room topics.

Pure bookkeeping, no I/O: the NATS broker feeds it the notes it receives (`chat.cluster.wire`)
and the hub reads it synchronously for `/who`, `/rooms`, room sizes and private messages. It
is eventually consistent: a change on another node shows here one broker hop later.

Two indexes are kept in step: per node (so a node that vanishes is dropped in one go) and per
room (so `/who #room` and a room's size cost nothing to compute). A nick is unique in the
cluster, so a room's remote members are keyed by folded nick.

Every change is total: given what `chat.cluster.wire.decode` lets through (valid, canonical
names; valid text), it applies in full and raises nothing, so a note is never half applied.
That also holds when the notes contradict each other (a part for a room never joined, two
nodes holding one nick for a moment after a partition): a room's members are exactly the union
of what each node says it has there, so one node leaving never takes another's member along.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chat.core.notes import RoomChunk
from chat.protocol.names import fold


@dataclass(slots=True)
class RemoteRoom:
    name: str
    topic: str = ""
    members: dict[str, str] = field(default_factory=dict)  # folded nick -> nick


@dataclass(slots=True)
class NodeState:
    seen: float
    nicks: dict[str, str] = field(default_factory=dict)  # folded -> nick
    rooms: dict[str, set[str]] = field(default_factory=dict)  # folded room -> folded nicks


@dataclass(frozen=True, slots=True)
class Gone:
    """A remote nick that left: the display nick and the rooms (folded) it was in."""

    nick: str
    rooms: tuple[str, ...]


class RemoteView:
    def __init__(self) -> None:
        self.nodes: dict[str, NodeState] = {}
        self.rooms: dict[str, RemoteRoom] = {}
        self.nicks: dict[str, tuple[str, str]] = {}  # folded nick -> (node, nick)

    # --- queries (the hub's) ---------------------------------------------------------------
    def room(self, folded: str) -> RemoteRoom | None:
        return self.rooms.get(folded)

    def count(self, folded: str) -> int:
        room = self.rooms.get(folded)
        return len(room.members) if room is not None else 0

    def locate(self, folded_nick: str) -> tuple[str, str] | None:
        """`(node, nick)` of a remote nick, or None."""
        return self.nicks.get(folded_nick)

    def topic(self, folded: str) -> str:
        room = self.rooms.get(folded)
        return room.topic if room is not None else ""

    # --- changes (the broker's) ---------------------------------------------------------------
    def touch(self, node: str, now: float) -> NodeState:
        state = self.nodes.get(node)
        if state is None:
            state = self.nodes[node] = NodeState(now)
        state.seen = now
        return state

    def online(self, node: str, nick: str, now: float) -> None:
        folded = fold(nick)
        self.touch(node, now).nicks[folded] = nick
        self.nicks[folded] = (node, nick)

    def offline(self, node: str, nick: str, now: float) -> Gone:
        state = self.touch(node, now)
        folded = fold(nick)
        state.nicks.pop(folded, None)
        if self.nicks.get(folded, ("", ""))[0] == node:
            del self.nicks[folded]
        left = [room for room, members in state.rooms.items() if folded in members]
        for room in left:
            self._leave(state, room, folded)
        return Gone(nick, tuple(left))

    def joined(self, node: str, room: str, name: str, nick: str, now: float) -> None:
        state = self.touch(node, now)
        folded = fold(nick)
        state.rooms.setdefault(room, set()).add(folded)
        self.rooms.setdefault(room, RemoteRoom(name)).members[folded] = nick

    def parted(self, node: str, room: str, nick: str, now: float) -> bool:
        """Forget `nick` in `room`; False if it was not known to be there."""
        state = self.touch(node, now)
        folded = fold(nick)
        if folded not in state.rooms.get(room, ()):
            return False
        self._leave(state, room, folded)
        return True

    def renamed(self, node: str, old: str, new: str, now: float) -> tuple[str, ...]:
        """Rename a remote nick everywhere; returns the rooms (folded) it is in."""
        state = self.touch(node, now)
        old_f, new_f = fold(old), fold(new)
        rooms = tuple(room for room, members in state.rooms.items() if old_f in members)
        state.nicks.pop(old_f, None)
        state.nicks[new_f] = new
        if self.nicks.get(old_f, ("", ""))[0] == node:
            del self.nicks[old_f]
        self.nicks[new_f] = (node, new)
        for room in rooms:
            state.rooms[room].discard(old_f)
            state.rooms[room].add(new_f)
            remote = self.rooms.get(room)
            if remote is None:  # can't be (the node is in it), but never a KeyError here
                remote = self.rooms[room] = RemoteRoom(room)
            if not self._shared(room, old_f, state):
                remote.members.pop(old_f, None)
            remote.members[new_f] = new
        return rooms

    def set_topic(self, room: str, name: str, text: str) -> None:
        remote = self.rooms.get(room)
        if remote is not None:
            remote.topic = text

    def replace(self, node: str, now: float) -> None:
        """Forget everything known of `node` (a fresh `State` follows), keeping it alive."""
        self.drop(node)
        self.touch(node, now)

    def extend(
        self, node: str, nicks: list[str], rooms: list[RoomChunk], now: float, first: bool = False
    ) -> None:
        """Add one chunk of a node's `State`; a `first` chunk replaces what was known of it."""
        if first:
            self.replace(node, now)
        for nick in nicks:
            self.online(node, nick, now)
        for key, name, topic, members in rooms:
            for nick in members:
                self.joined(node, key, name, nick, now)
            remote = self.rooms.get(key)  # None when no member came with it
            if topic and remote is not None:
                remote.topic = topic

    def drop(self, node: str) -> list[Gone]:
        """Forget a node that left or went silent; returns whom it took with it."""
        state = self.nodes.pop(node, None)
        if state is None:
            return []
        gone = []
        for folded, nick in state.nicks.items():
            rooms = tuple(r for r, members in state.rooms.items() if folded in members)
            gone.append(Gone(nick, rooms))
            if self.nicks.get(folded, ("", ""))[0] == node:
                del self.nicks[folded]
        for room, members in state.rooms.items():
            remote = self.rooms.get(room)
            if remote is None:
                continue
            others = [s.rooms[room] for s in self.nodes.values() if room in s.rooms]
            for folded in members:
                if not any(folded in other for other in others):
                    remote.members.pop(folded, None)
            if not remote.members:
                del self.rooms[room]
        return gone

    def silent(self, now: float, ttl: float) -> list[str]:
        """Nodes not heard from for more than `ttl` seconds."""
        return [node for node, state in self.nodes.items() if now - state.seen > ttl]

    def _leave(self, state: NodeState, room: str, folded: str) -> None:
        members = state.rooms[room]
        members.discard(folded)
        if not members:
            del state.rooms[room]
        remote = self.rooms.get(room)
        if remote is not None and not self._shared(room, folded, state):
            remote.members.pop(folded, None)
            if not remote.members:
                del self.rooms[room]

    def _shared(self, room: str, folded: str, state: NodeState) -> bool:
        """Does a node other than `state`'s also have `folded` in `room`? (Only while two
        nodes hold one nick, after a partition; the cost is one lookup per node.)"""
        return any(
            other is not state and folded in other.rooms.get(room, ())
            for other in self.nodes.values()
        )
