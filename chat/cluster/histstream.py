"""The cluster's room history: one JetStream stream that numbers every room line.

Theory of operation
-------------------
The stream `CHAT_HISTORY` holds every room's lines on `chat.hist.<hex room>` (file storage,
`--history-size` messages per subject, `--history-bytes` in all, the oldest discarded first).
JetStream is the sequencer, so offsets and live order are the same on every node:

- **Publishing.** A line said here waits in its room's queue (`take`); one task per busy room
  (`_drain`) publishes what waits as one `Batch` (`chat.cluster.histwire`), numbered from the
  room's tip as this node knows it (`tips`: the stream sequence, epoch and offset of the
  room's newest message), with the header `Nats-Expected-Last-Subject-Sequence` = that
  sequence. JetStream stores it only if nobody published to the room in between (optimistic
  concurrency); else it answers "wrong last sequence" (10071), the task reads the room's
  real tip (a direct get of the subject's last message) and publishes again, renumbered. A
  room with no message retained starts a new random epoch (expected sequence 0: race-free).
  While one batch of a room is in flight, more lines of that room queue up and go in the
  next batch, so a room costs one round trip per batch, not per line.
- **Delivering.** Every node, this one included, runs one ordered consumer over the whole
  stream and delivers each batch in stream order (`chat.cluster.inbound.sequenced`): into
  its history (a `MemoryHistory` cache: resume, paging and IRC chathistory read it as on a
  single node) and to its local members. The origin delivers its own lines from the consumer
  too, not from the publish's ack: the ack may come before the consumer has delivered an
  earlier line of another node, and the origin's members would see the two in another order
  than everybody else. It recognises its batch (node id, batch number) to hand the senders'
  sessions to the fan-out (dialects without echo skip their sender). A room's next batch is
  published once the previous one was delivered here, so at most one batch per room is in
  flight.
- **Start-up.** The consumer starts at the stream's first message; `start` returns (and the
  server listens) once it has delivered everything the stream held when it started, so a
  client resuming on any node gets exact offsets.

Bounds: `MAX_WAITING_ROOM` lines wait per room and `MAX_WAITING` in all; past either, the
line is refused with `room-busy` (the sender is told; nothing is dropped silently).

Faults: when the link drops (`link_lost`), every line waiting or in flight is delivered to
this node's members unnumbered (as lines said while the link is down are: the node keeps
serving its users), and `current` is False until the consumer has caught up with the stream
again after the reconnection, so a resume meanwhile says `recovered: false`. A batch given up
that JetStream stored all the same is stored here when it arrives, not delivered twice. A
broker that lost its store gets the stream created again (`resync`); offsets restart with new
epochs, and resumes from the old ones say `recovered: false`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import nats
import structlog
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import (
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    Header,
    StorageType,
    StreamConfig,
)
from nats.js.errors import APIError, NoStreamResponseError, NotFoundError

from chat.cluster import histwire, inbound
from chat.cluster.histwire import Batch, Line
from chat.cluster.wire import BAD_NOTE
from chat.protocol.errors import ROOM_BUSY, ProtocolError

if TYPE_CHECKING:
    from chat.core.hub import Hub
    from chat.core.rooms import Room
    from chat.core.session import Session

log = structlog.get_logger("chat.cluster")

STREAM = "CHAT_HISTORY"
SUBJECTS = "chat.hist.>"
MAX_WAITING_ROOM = 1_000
"""Lines of one room waiting to be numbered at most; past it a line is refused (`room-busy`)."""
MAX_WAITING = 50_000
"""Lines of all rooms waiting to be numbered at most (same refusal)."""
TIMEOUT = 2.0
"""Seconds one JetStream request (a publish, a direct get) may take."""
ATTEMPTS = 20
"""Publishes of one batch before it is given up (each lost race or timeout is one)."""
DELIVERED_TIMEOUT = 5.0
"""Seconds a room's next batch waits for the previous one to come back from the consumer."""
LOAD_TIMEOUT = 60.0
"""Seconds `start` waits for the retained history; past it the node serves anyway, and
resumes say `recovered: false` until the consumer has caught up."""
HEARTBEAT = 1.0
"""The consumer's idle heartbeat: nats-py recreates it after two missed (a restarted broker)."""
GIVEN_UP_KEPT = 10_000
WRONG_LAST = 10071
"""JetStream's error code for a failed `Nats-Expected-Last-Subject-Sequence`."""
ERRORS = (nats.errors.Error, OSError, asyncio.TimeoutError)


class Tip(NamedTuple):
    """A room's newest message in the stream, as far as this node knows."""

    seq: int = 0  # its stream sequence (0: the room has none)
    epoch: str = ""
    last: int = 0  # its last line's offset
    node: str = ""
    batch: int = 0


Waiting = tuple["Session", Line]


class HistoryStream:
    def __init__(
        self,
        nc: NatsClient,
        hub: Hub,
        node: str,
        size: int,
        max_bytes: int,
        new_epoch: Callable[[], str] = lambda: secrets.token_hex(6),
    ) -> None:
        self.js = nc.jetstream(timeout=TIMEOUT)
        self.hub = hub
        self.node = node
        self.size = size
        self.max_bytes = max_bytes
        self.new_epoch = new_epoch
        self.link_up = False
        self.tips: dict[str, Tip] = {}
        self.waiting: dict[str, deque[Waiting]] = {}
        self.count = 0  # lines waiting in all rooms
        self.flight: dict[int, tuple[str, str, list[Waiting]]] = {}  # batch -> room, name, lines
        self.given_up: set[int] = set()
        self._given_up_order: deque[int] = deque()
        self.applied = 0  # the stream sequence of the last message the consumer delivered
        self.target = 0  # caught up once `applied` reaches it
        self.retries = 0  # publishes that lost a race or timed out
        self.gave_up = 0  # lines delivered unnumbered because the stream could not take them
        self.refused = 0  # lines refused with room-busy
        self._ids = itertools.count(1)
        self._drainers: dict[str, asyncio.Task[None]] = {}
        self._delivered: dict[int, asyncio.Future[None]] = {}
        self._caught_up = asyncio.Event()
        self._sub: Any = None
        self._created: Any = None  # when the stream this node reads was created

    @property
    def current(self) -> bool:
        """May this node's copy of the history be trusted to be the cluster's?"""
        return self.link_up and self.applied >= self.target

    # --- start, stop, the link ---------------------------------------------------------------
    async def start(self) -> None:
        """Create (or update) the stream, then load what it holds before the server listens."""
        await self.ensure()
        info = await self.js.stream_info(STREAM)
        self.target = info.state.last_seq
        self._created = info.created
        if self.applied >= self.target:
            self._caught_up.set()
        await self._subscribe()
        try:
            await asyncio.wait_for(self._caught_up.wait(), LOAD_TIMEOUT)
        except TimeoutError:
            log.warning("history.load_slow", applied=self.applied, target=self.target)
        self.link_up = True
        held = self.hub.history.stored if self.hub.history is not None else 0
        log.info("history.loaded", stream=STREAM, seq=self.applied, messages=held)

    async def ensure(self) -> None:
        """The stream, created by the first node (or after a broker lost its store); a node
        with other bounds updates it (the last one started wins: use the same everywhere)."""
        config = StreamConfig(
            name=STREAM,
            subjects=[SUBJECTS],
            storage=StorageType.FILE,
            max_msgs_per_subject=self.size,
            max_bytes=max(self.max_bytes, 4 * 1024 * 1024),
            max_msg_size=1024 * 1024,
            discard=DiscardPolicy.OLD,
            allow_direct=True,
        )
        try:
            await self.js.add_stream(config)
        except APIError as err:  # it exists with another configuration
            if err.err_code != 10058:
                raise
            await self.js.update_stream(config)

    async def _subscribe(self) -> None:
        """The ordered consumer, from the first message this node has not applied."""
        start = ConsumerConfig(opt_start_seq=self.applied + 1) if self.applied else None
        self._sub = await self.js.subscribe(
            SUBJECTS,
            stream=STREAM,
            cb=self._on_msg,
            config=start,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE if start else DeliverPolicy.ALL,
            idle_heartbeat=HEARTBEAT,
        )

    def link_lost(self) -> None:
        """The link dropped: deliver what waits here, unnumbered, rather than hold it back."""
        self.link_up = False
        for task in self._drainers.values():
            task.cancel()
        self._drainers.clear()
        for batch in list(self.flight):
            self._give_up(batch)
        for room, queue in self.waiting.items():
            self._unnumbered(room, queue)
        self.waiting.clear()
        self.count = 0

    async def resync(self) -> None:
        """Back on the broker: the stream again (a broker may have lost it), and catch up.
        The consumer is made anew: a restarted broker has forgotten it (ordered consumers are
        ephemeral), and nats-py would notice only after two missed heartbeats (2-4 s)."""
        await self.ensure()
        info = await self.js.stream_info(STREAM)
        if info.created == self._created and info.state.last_seq >= self.applied:
            await self._unsubscribe()
            await self._subscribe()
        await self._follow(info)
        self.link_up = True

    async def check(self) -> None:
        """Is the stream still the one this node reads? (Every few seconds: one deleted and
        created again, by another node or an operator, is read anew from its start.)"""
        if self.link_up:
            try:
                info = await self.js.stream_info(STREAM)
            except NotFoundError:
                await self.ensure()
                info = await self.js.stream_info(STREAM)
            await self._follow(info)

    async def _follow(self, info: Any) -> None:
        if info.created != self._created or info.state.last_seq < self.applied:
            log.warning("history.stream_lost", had=self.applied, now=info.state.last_seq)
            await self._unsubscribe()
            self.tips.clear()
            self.applied = 0
            self._created = info.created
            await self._subscribe()
        self.target = info.state.last_seq

    async def stop(self) -> None:
        self.link_up = False
        for task in self._drainers.values():
            task.cancel()
        await self._unsubscribe()

    async def _unsubscribe(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(*ERRORS):
                await self._sub.unsubscribe()
            self._sub = None

    # --- the hub's side (synchronous) ---------------------------------------------------------
    def take(self, sender: Session, room: Room, text: str, ts: float, action: bool) -> bool:
        """Queue a line to be numbered and delivered; False when the link is down."""
        if not self.link_up:
            return False
        queue = self.waiting.setdefault(room.folded, deque())
        if len(queue) >= MAX_WAITING_ROOM or self.count >= MAX_WAITING:
            self.refused += 1
            if self.refused % 1000 == 1:
                log.warning("history.busy", room=room.name, waiting=self.count)
            raise ProtocolError(
                ROOM_BUSY, f"too many lines wait to be sent to {room.name}; try again shortly"
            )
        queue.append((sender, Line(sender.nick or "", text, ts, action)))
        self.count += 1
        if room.folded not in self._drainers:
            task = asyncio.create_task(self._drain(room.folded, room.name), name="history-room")
            self._drainers[room.folded] = task
        return True

    # --- publishing ---------------------------------------------------------------------------
    async def _drain(self, room: str, name: str) -> None:
        """Publish a room's waiting lines, one batch at a time, until none waits."""
        queue = self.waiting[room]
        me = asyncio.current_task()
        try:
            while queue:
                lines = self._cut(queue)
                batch = next(self._ids)
                self.flight[batch] = (room, name, lines)
                delivered = self._delivered[batch] = asyncio.get_running_loop().create_future()
                try:
                    stored = await self._publish(room, name, batch, [line for _, line in lines])
                    if not stored:
                        self._give_up(batch)
                        continue
                    with contextlib.suppress(TimeoutError):  # stored: it will come
                        await asyncio.wait_for(asyncio.shield(delivered), DELIVERED_TIMEOUT)
                finally:
                    self._delivered.pop(batch, None)
        finally:
            if self._drainers.get(room) is me:
                del self._drainers[room]
            if self.waiting.get(room) is queue and not queue:
                del self.waiting[room]

    def _cut(self, queue: deque[Waiting]) -> list[Waiting]:
        """The next batch: the oldest waiting lines, within `histwire.MAX_LINES` and
        `MAX_BYTES` (in characters: JSON escapes stay under NATS's 1 MiB)."""
        lines: list[Waiting] = []
        size = 0
        while queue and len(lines) < histwire.MAX_LINES:
            weight = len(queue[0][1].text) + 64
            if lines and size + weight > histwire.MAX_BYTES // 2:
                break
            lines.append(queue.popleft())
            size += weight
        self.count -= len(lines)
        return lines

    async def _publish(self, room: str, name: str, batch: int, lines: list[Line]) -> bool:
        """Publish one batch until JetStream stores it (True) or `ATTEMPTS` fail (False)."""
        subject = histwire.subject(room)
        tip = self.tips.get(room, Tip())
        for attempt in range(ATTEMPTS):
            if batch not in self.flight:
                return True  # the consumer delivered it: an earlier try was stored
            epoch = tip.epoch or self.new_epoch()
            first = tip.last + 1 if tip.epoch else 1
            data = histwire.encode(Batch(self.node, batch, room, name, epoch, first, tuple(lines)))
            headers = {Header.EXPECTED_LAST_SUBJECT_SEQUENCE.value: str(tip.seq)}
            try:
                ack = await self.js.publish(subject, data, TIMEOUT, STREAM, headers)
            except APIError as err:
                self._retried()
                if err.err_code != WRONG_LAST:
                    log.warning("history.publish_failed", error=str(err), attempt=attempt)
                    await asyncio.sleep(min(0.05 * 2**attempt, 1.0))  # backoff, not a wait
            except ERRORS as err:  # a timeout, no stream: the ack may be lost, not the batch
                self._retried()
                log.info("history.publish_retry", error=f"{type(err).__name__}", attempt=attempt)
                await asyncio.sleep(min(0.05 * 2**attempt, 1.0))  # backoff, not a wait
                if isinstance(err, NoStreamResponseError):  # deleted under us: create it again
                    with contextlib.suppress(*ERRORS):
                        await self.resync()
            else:
                self._advance(room, Tip(ack.seq, epoch, first + len(lines) - 1, self.node, batch))
                return True
            with contextlib.suppress(*ERRORS):
                tip = await self._tip(room)
            if tip.node == self.node and tip.batch == batch:
                return True  # a try whose answer was lost was stored
        log.warning("history.gave_up", room=name, lines=len(lines), attempts=ATTEMPTS)
        return False

    async def _tip(self, room: str) -> Tip:
        """The room's newest message in the stream, read from the stream itself."""
        try:
            raw = await self.js.get_last_msg(STREAM, histwire.subject(room), direct=True)
        except NotFoundError:
            return Tip()
        try:
            b = histwire.decode(raw.data or b"")
        except ValueError:  # not ours to read: the next batch starts a new epoch after it
            return Tip(raw.seq or 0)
        tip = Tip(raw.seq or 0, b.epoch, b.last, b.node, b.batch)
        self._advance(room, tip)
        return tip

    def _retried(self) -> None:
        self.retries += 1
        if self.hub.history is not None:
            self.hub.history.retries += 1

    def _unnumbered(self, room: str, lines: list[Waiting] | deque[Waiting]) -> None:
        self.gave_up += len(lines)
        if self.hub.history is not None:
            self.hub.history.unnumbered += len(lines)
        inbound.unnumbered(self.hub, room, lines)

    def _advance(self, room: str, tip: Tip) -> None:
        if tip.seq > self.tips.get(room, Tip()).seq:
            self.tips[room] = tip

    def _give_up(self, batch: int) -> None:
        """Deliver a batch's lines here unnumbered; should the stream have it after all, it is
        stored when it comes, not delivered again."""
        flight = self.flight.pop(batch, None)
        if flight is None:
            return  # delivered meanwhile
        room, _, lines = flight
        self.given_up.add(batch)
        self._given_up_order.append(batch)
        if len(self._given_up_order) > GIVEN_UP_KEPT:
            self.given_up.discard(self._given_up_order.popleft())
        self._unnumbered(room, lines)

    # --- delivering ---------------------------------------------------------------------------
    async def _on_msg(self, msg: Msg) -> None:
        """One batch from the stream, in stream order. Raises nothing."""
        seq = msg.metadata.sequence.stream
        try:
            batch = histwire.decode(msg.data)
            if msg.subject != histwire.subject(batch.room):
                raise ValueError("not on its room's subject")
        except ValueError as err:
            self.hub.stats.errors[BAD_NOTE] += 1
            log.warning("history.bad_batch", subject=msg.subject[:100], error=str(err)[:200])
            self._applied(seq)
            return
        senders = None
        local = True
        if batch.node == self.node:
            flight = self.flight.pop(batch.batch, None)
            if flight is not None:
                senders = [sender for sender, _ in flight[2]]
            local = batch.batch not in self.given_up
        inbound.sequenced(self.hub, batch, senders, local)
        self._advance(batch.room, Tip(seq, batch.epoch, batch.last, batch.node, batch.batch))
        self._applied(seq)
        delivered = self._delivered.get(batch.batch) if batch.node == self.node else None
        if delivered is not None and not delivered.done():
            delivered.set_result(None)

    def _applied(self, seq: int) -> None:
        self.applied = max(self.applied, seq)
        if self.applied >= self.target:
            self._caught_up.set()
