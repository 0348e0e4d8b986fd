"""The broker seam: how the hub reaches users on other nodes.

The hub always delivers to its own sessions itself (`Room.broadcast`), then tells the broker
what happened (`publish`), and asks it about users elsewhere (`view`, `may_take`). Two
implementations, one interface:

- `InProcess` (the default): there are no other nodes. `publish` does nothing, the view is
  always empty, and every nick the hub finds free is free.
- `chat.cluster.natsbroker.NatsBroker`: other nodes exist behind a NATS server. `publish` queues the
  note for the broker link, the view is kept up to date from the other nodes' notes, and a nick
  is only given out once it has been reserved cluster-wide (an atomic create in JetStream KV),
  which the transport awaits before the hub sees the command (`reserve`).

With cluster history (`numbers`), a room message is not the hub's to number: `sequence` takes
it, the cluster's stream gives it its offset, and it comes back to every node, this one too,
through `chat.cluster.inbound.sequenced` (the one place it is stored and delivered).

Every method the hub calls is synchronous and MUST NOT block: the hub is pure logic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chat.core import notes as wire
from chat.core.remote import RemoteView

if TYPE_CHECKING:
    from chat.core.hub import Hub
    from chat.core.rooms import Room
    from chat.core.session import Session


class InProcess:
    """One process, no other nodes: the embedded default."""

    node = "local"
    clustered = False
    """True when nicks must be reserved with the cluster (`reserve`) before the hub sees them."""
    link_up = True
    numbers = False
    """True when the broker gives room messages their offsets (`sequence`)."""
    history_current = True
    """False while this node's copy of the history may lag the cluster's (a resume then says
    `recovered: false`)."""

    def __init__(self) -> None:
        self.view = RemoteView()  # stays empty: nobody else exists

    async def start(self, hub: Hub) -> None:
        """Join the cluster (before the server listens); raise OSError if that fails."""

    def leave(self) -> None:
        """Shutdown began: tell the other nodes once, rather than once per departing user."""

    async def stop(self) -> None:
        """Leave the cluster (after the clients are gone)."""

    def publish(self, note: wire.Note) -> bool:
        """Tell the other nodes; False when that can't happen now (the cluster link is down)."""
        return True

    def sequence(self, sender: Session, room: Room, text: str, ts: float, action: bool) -> bool:
        """Take a room message to number and deliver later; False when it can't now (the link
        is down: the hub delivers it to this node's members, unnumbered). Raises
        ProtocolError when too many wait."""
        return False

    def may_take(self, folded: str) -> bool:
        """May the hub give this nick (folded) to one of its sessions?"""
        return True

    def release(self, folded: str) -> None:
        """A local session let go of this nick (folded)."""

    async def reserve(self, folded: str) -> str | None:
        """Reserve a nick cluster-wide; None when done, else the error code to answer."""
        return None


Broker = InProcess
"""The interface (structural: `NatsBroker` subclasses it and overrides every method)."""
