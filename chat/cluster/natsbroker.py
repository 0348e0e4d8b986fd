"""The NATS broker: this node's link to the others (`--nats nats://host:4222`).

Theory of operation
-------------------
Every node holds its own sessions and rooms (the hub) and a view of everybody else's
(`chat.core.remote`). The hub delivers locally, then `publish`es a note (`chat.cluster.wire`);
notes leave through one ordered queue and one NATS connection, so the other nodes see each
node's notes in the order they happened. NATS keeps per-publisher order to each subscriber,
and every node receives all of `chat.ev.>` through a single subscription, handled one message
at a time: a sender's messages reach every member on every node in the order they were sent.
`no_echo` keeps a node's own notes from coming back to it, so nothing is delivered twice.

Subjects: `chat.ev.room.<hex room>` (said, joined, parted, topic), `chat.ev.nick` (online,
offline, renamed), `chat.ev.node` (hello, state, beat, bye), `chat.pm.<node>` (private
messages for that node's users), `chat.nick.<node>` (does that node still hold a nick?),
`chat.core.stats.<node>` (its stats, `chat.cluster.reporter`).

Faults: NATS unreachable at start-up raises `ClusterUnavailable` (the server exits 1). A link
lost while running flips `link_up`: local users are told, keep chatting locally, and nick
claims answer `cluster-down`; nats-py reconnects forever, waiting from `RECONNECT_WAIT` seconds
doubling up to `RECONNECT_MAX` between attempts; once back, the node re-asserts its nicks and
both sides re-send their state.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import deque
from functools import partial
from typing import TYPE_CHECKING

import nats
import structlog
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.kv import KeyValue

from chat.cluster import inbound
from chat.cluster import wire as w
from chat.cluster.histstream import HistoryStream
from chat.cluster.nicks import (
    NICKS_BUCKET,
    NODES_BUCKET,
    NickClaims,
    answer,
    bucket,
    holds,
    node_id,
)
from chat.cluster.reporter import StatsReporter
from chat.core.broker import InProcess
from chat.core.rooms import deliver
from chat.protocol import events as e
from chat.protocol.errors import CLUSTER_DOWN, INTERNAL_ERROR, NICK_TAKEN

if TYPE_CHECKING:
    from chat.core.hub import Hub
    from chat.core.rooms import Room
    from chat.core.session import Session

log = structlog.get_logger("chat.cluster")

CONNECT_TIMEOUT = 2
START_TIMEOUT = 6.0
"""Seconds `start` tries to reach NATS before giving up (`--nats-connect-timeout`)."""
RECONNECT_WAIT = 0.25
RECONNECT_MAX = 5.0
"""Seconds between reconnection attempts once running: doubling from RECONNECT_WAIT up to
RECONNECT_MAX while NATS stays away (nats-py adds up to 0.1 s of jitter)."""
KV_TIMEOUT = 5.0
"""Seconds one JetStream KV operation may take (a claim may need three): generous, because a
login burst queues thousands of them (2 s was measured too short in a 1,000 logins/s ramp)."""
MAX_OUTBOX = 50_000
"""Notes queued for the broker link at most; past it a note is dropped (and counted)."""
MAX_RELEASES = 100_000
SUB_PENDING_MSGS = 200_000
SUB_PENDING_BYTES = 128 * 1024 * 1024
"""Bounds of the inbound subscription's buffer (nats-py drops past them: slow consumer)."""
ERRORS = (nats.errors.Error, OSError, asyncio.TimeoutError)
BAD_NOTES_LOGGED = 100
"""Undecodable notes logged one by one; past that every 1,000th (all are counted)."""

LINK_DOWN_NOTICE = (
    "the cluster link is down: you are chatting with this node's users only until it is back"
)
LINK_UP_NOTICE = "the cluster link is back: rooms span every node again"


class ClusterUnavailable(OSError):
    """NATS (or its JetStream) could not be reached at start-up."""


class NatsBroker(InProcess):
    clustered = True

    def __init__(
        self, servers: str, name: str = "", node_ttl: float = 10.0, history: int = 0,
        history_bytes: int = 64 * 1024 * 1024, start_timeout: float = START_TIMEOUT,
    ) -> None:  # fmt: skip
        super().__init__()
        self.start_timeout = start_timeout
        self.numbers = history > 0  # room history on: the stream numbers every line
        self._history = (history, history_bytes)
        self.history: HistoryStream | None = None
        self.servers = [s.strip() for s in servers.split(",") if s.strip()]
        self.name = name or socket.gethostname()
        self.node = node_id(name)
        self.ttl = node_ttl
        self.hub: Hub
        self.link_up = False
        self.dropped = 0
        self.bad_notes = 0
        self.nc = NatsClient()
        self.claims: NickClaims
        self.reporter: StatsReporter | None = None
        self.reserved: set[str] = set()  # folded nicks this node owns in KV
        self._out: deque[tuple[str, bytes]] = deque()
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()  # set whenever the pump has emptied the queue
        self._releases: deque[str] = deque(maxlen=MAX_RELEASES)
        self._release_wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._stopped = False
        self._resync: asyncio.Task[None] | None = None

    # --- start and stop ----------------------------------------------------------------------
    async def start(self, hub: Hub) -> None:
        self.hub = hub
        try:
            await asyncio.wait_for(self._connect(), self.start_timeout)
            nicks, nodes = await self._buckets()
            if self.numbers:  # loaded before the server listens: resumes are exact anywhere
                self.history = HistoryStream(self.nc, hub, self.node, *self._history)
                await self.history.start()
        except (*ERRORS, nats.js.errors.Error) as err:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.nc.close(), 1.0)
            where = ",".join(self.servers)
            why = f"cannot use NATS at {where}: {type(err).__name__} {err}"
            raise ClusterUnavailable(why) from err
        self.claims = NickClaims(nicks, nodes, self.node, partial(holds, self.nc))
        for subject in ("chat.ev.>", f"chat.pm.{self.node}"):
            await self.nc.subscribe(
                subject,
                cb=self._on_note,
                pending_msgs_limit=SUB_PENDING_MSGS,
                pending_bytes_limit=SUB_PENDING_BYTES,
            )
        await self.nc.subscribe(f"chat.nick.{self.node}", cb=partial(answer, self.reserved))
        await self.claims.beat(self.name)
        self.reporter = StatsReporter(self.nc, self.node, hub)
        await self.reporter.start()
        self.link_up = True
        self._tasks = [
            asyncio.create_task(self._pump(), name="cluster-pump"),
            asyncio.create_task(self._heartbeat(), name="cluster-heartbeat"),
            asyncio.create_task(self._release_worker(), name="cluster-releases"),
        ]
        self._announce()
        log.info("cluster.connected", node=self.node, servers=self.servers, node_ttl=self.ttl)

    async def _connect(self) -> None:
        await self.nc.connect(
            servers=self.servers,
            name=f"chat-server {self.node}",
            no_echo=True,
            connect_timeout=CONNECT_TIMEOUT,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
            error_cb=self._on_error,
        )
        self.nc.options["reconnect_time_wait"] = RECONNECT_WAIT

    async def _buckets(self) -> tuple[KeyValue, KeyValue]:
        """The two KV buckets, created if missing (by the first node, or after a broker lost
        its store)."""
        js = self.nc.jetstream(timeout=KV_TIMEOUT)
        return await bucket(js, NICKS_BUCKET, None), await bucket(js, NODES_BUCKET, self.ttl)

    def leave(self) -> None:
        """Shutdown began: one `bye` tells every node that all our users are going (instead
        of a note and a KV delete per user), and nothing more is published or released."""
        if self._stopping:
            return
        if self.link_up:
            self.publish(w.Bye(self.node))
        self._stopping = True

    async def stop(self) -> None:
        """After the clients are gone: flush the `bye`, free our nicks at once, close."""
        if self._stopped:
            return
        self._stopped = True
        self.leave()
        if self.link_up:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), 2.0)
            with contextlib.suppress(*ERRORS):
                await asyncio.wait_for(self.claims.leave(), KV_TIMEOUT)
        if self.reporter is not None:
            await self.reporter.stop()
        if self.history is not None:
            await self.history.stop()
        for task in [*self._tasks, *([self._resync] if self._resync else [])]:
            task.cancel()
        with contextlib.suppress(*ERRORS):
            await asyncio.wait_for(self.nc.close(), 2.0)  # flushes what is buffered first
        log.info("cluster.left", node=self.node, dropped=self.dropped)

    # --- the hub's side (synchronous) ---------------------------------------------------------
    def publish(self, note: w.Note) -> bool:
        if not self.link_up or self._stopping:
            self.dropped += 1
            return False
        if len(self._out) >= MAX_OUTBOX:
            self.dropped += 1
            if self.dropped % 1000 == 1:
                log.warning("cluster.outbox_full", dropped=self.dropped, limit=MAX_OUTBOX)
            return False
        subject = self._subject(note)
        if subject is None:
            return False
        self._out.append((subject, w.encode(note)))
        if len(self._out) == 1:
            self._drained.clear()
            self._wake.set()
        return True

    def _subject(self, note: w.Note) -> str | None:
        match note:
            case w.Said() | w.Joined() | w.Parted() | w.Topic():
                return "chat.ev.room." + note.room.encode().hex()
            case w.Online() | w.Offline() | w.Renamed():
                return "chat.ev.nick"
            case w.Private():
                found = self.view.locate(note.to)
                return None if found is None else f"chat.pm.{found[0]}"
        return "chat.ev.node"

    def may_take(self, folded: str) -> bool:
        return folded in self.reserved

    def sequence(self, sender: Session, room: Room, text: str, ts: float, action: bool) -> bool:
        if self.history is None or not self.link_up or self._stopping:
            return False
        return self.history.take(sender, room, text, ts, action)

    @property
    def history_current(self) -> bool:  # type: ignore[override]
        return self.history is None or self.history.current

    def release(self, folded: str) -> None:
        if folded in self.hub.nicks or folded not in self.reserved:
            return  # still held here (a second local claimant lost to the first), or never ours
        self.reserved.discard(folded)
        if not self._stopping:
            self._releases.append(folded)
            self._release_wake.set()

    async def reserve(self, folded: str) -> str | None:
        if not self.link_up:
            return CLUSTER_DOWN
        try:
            taken = await asyncio.wait_for(self.claims.claim(folded), 2 * KV_TIMEOUT)
        except ERRORS as err:
            log.warning("cluster.claim_failed", error=f"{type(err).__name__} {err}")
            return CLUSTER_DOWN
        if not taken:
            return NICK_TAKEN
        self.reserved.add(folded)
        return None

    # --- the link's side ----------------------------------------------------------------------
    async def _pump(self) -> None:
        """The one writer of notes: in order, batched by nats-py into few socket writes."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._out:
                subject, data = self._out.popleft()
                try:
                    await self.nc.publish(subject, data)
                except ERRORS as err:
                    self.dropped += 1
                    log.warning("cluster.publish_failed", error=f"{type(err).__name__} {err}")
            self._drained.set()

    async def _on_note(self, msg: Msg) -> None:
        """One note from another node. Raises nothing: a note that does not decode is dropped
        and counted (`bad-note`); one that fails while applied is a bug, dropped, counted
        (`internal-error`) and logged with its traceback (`cluster.note_failed`)."""
        try:
            note = w.decode(msg.data)
        except ValueError as err:
            self.bad_notes += 1
            self.hub.stats.errors[w.BAD_NOTE] += 1
            if self.bad_notes <= BAD_NOTES_LOGGED or self.bad_notes % 1000 == 0:
                subject = msg.subject[:100]
                log.warning(
                    "cluster.bad_note", subject=subject, error=str(err), count=self.bad_notes
                )
            return
        except Exception:  # a bug in decode: same as one in apply
            self.hub.stats.errors[INTERNAL_ERROR] += 1
            log.exception("cluster.note_failed", subject=msg.subject[:100])
            return
        if note.node == self.node:
            return
        if isinstance(note, w.Hello):
            try:
                self._send_state()
            except Exception:
                self.hub.stats.errors[INTERNAL_ERROR] += 1
                log.exception("cluster.note_failed", kind=note.kind, node=note.node)
        inbound.apply(self.hub, note, asyncio.get_running_loop().time())  # raises nothing

    async def _heartbeat(self) -> None:
        """Refresh our `chat_nodes` key; forget nodes silent for longer than the TTL."""
        loop = asyncio.get_running_loop()
        every = max(0.25, self.ttl / 4)
        while True:
            await asyncio.sleep(every)
            if not self.link_up:
                continue  # can't tell a dead node from our own lost link: judge nobody
            try:
                await asyncio.wait_for(self.claims.beat(self.name), KV_TIMEOUT)
                if self.history is not None:  # is the stream still the one we read?
                    await asyncio.wait_for(self.history.check(), KV_TIMEOUT)
            except ERRORS as err:
                log.warning("cluster.beat_failed", error=f"{type(err).__name__} {err}")
            self.publish(w.Beat(self.node))
            for node in self.view.silent(loop.time(), self.ttl):
                log.warning("cluster.node_lost", lost=node, after=self.ttl)
                inbound.lost(self.hub, self.view.drop(node), "node lost")

    async def _release_worker(self) -> None:
        while True:
            await self._release_wake.wait()
            self._release_wake.clear()
            while self._releases and self.link_up:
                folded = self._releases.popleft()
                if folded in self.reserved:
                    continue  # claimed again meanwhile
                with contextlib.suppress(*ERRORS):
                    await asyncio.wait_for(self.claims.release(folded), KV_TIMEOUT)

    def _announce(self) -> None:
        """Ask every node for its state, and send ours."""
        self.publish(w.Hello(self.node))
        self._send_state()

    def _send_state(self) -> None:
        for note in inbound.state(self.hub, self.node):
            self.publish(note)
        for mod in self.hub.moderation.state(self.node):  # room modes, server bans
            self.publish(mod)

    # --- link events (nats-py callbacks) ------------------------------------------------------
    async def _on_disconnected(self) -> None:
        if self._stopping or not self.link_up:
            return
        self.link_up = False
        if self.history is not None:
            self.history.link_lost()
        log.warning("cluster.link_down", node=self.node)
        deliver(self.hub.nicks.values(), e.Notice(LINK_DOWN_NOTICE, "cluster-down"))

    async def _on_reconnected(self) -> None:
        log.info("cluster.link_reconnected", node=self.node)
        self.nc.options["reconnect_time_wait"] = RECONNECT_WAIT
        if self._resync is None or self._resync.done():
            self._resync = asyncio.create_task(self._rejoin(), name="cluster-rejoin")

    async def _rejoin(self) -> None:
        """Back on the broker: prove we are alive, re-assert our nicks, exchange state."""
        delay = 0.2
        while not self._stopping:
            try:
                self.claims.nicks, self.claims.nodes = await self._buckets()
                await asyncio.wait_for(self.claims.beat(self.name), KV_TIMEOUT)
                await self.claims.reassert(self.hub.nicks, self.reserved)
                if self.history is not None:
                    await asyncio.wait_for(self.history.resync(), KV_TIMEOUT)
                break
            except ERRORS as err:  # JetStream may need a moment after a restart
                log.info("cluster.rejoin_retry", error=f"{type(err).__name__} {err}", delay=delay)
                await asyncio.sleep(delay)  # backoff between attempts, not a wait for an event
                delay = min(delay * 2, 5.0)
        loop = asyncio.get_running_loop()
        for state in self.view.nodes.values():
            state.seen = loop.time()  # a fresh grace period: they were unheard, not silent
        self.link_up = True
        self._announce()
        log.info("cluster.link_up", node=self.node, nicks=len(self.hub.nicks))
        deliver(self.hub.nicks.values(), e.Notice(LINK_UP_NOTICE, "cluster-up"))

    async def _on_error(self, err: Exception) -> None:
        """nats-py reports each failed (re)connection attempt here: back off exponentially."""
        wait = self.nc.options["reconnect_time_wait"]
        if not self.link_up and isinstance(err, OSError | asyncio.TimeoutError):
            self.nc.options["reconnect_time_wait"] = min(wait * 2, RECONNECT_MAX)
        log.info("cluster.link_error", error=f"{type(err).__name__} {err}", retry_in=wait)
