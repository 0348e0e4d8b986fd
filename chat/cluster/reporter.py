"""A node's half of cluster-wide stats: publish this node's numbers, answer member pages.

Runs in every chat node started with `--nats`. Every `interval` seconds it ticks its own
`Sampler` (message rates and event loop lag, as the embedded sidecar's probe does) and
publishes a `Report` on `chat.core.stats.<node>`; `chat-stats` merges the nodes' reports. Reports
are built by a `LocalView`, so each costs what one sidecar request costs: the O(1) counters and
at most `REPORT_ROOMS` rooms (the biggest, O(rooms * log REPORT_ROOMS), when there are more).
Nothing walks the connections.

Member lists are not in reports (a room may have thousands): the cluster sidecar asks for the
one page it shows, by request/reply on `chat.core.stats.members.<node>`.

While the NATS connection is down the reporter publishes nothing (nats-py would buffer stale
reports and flush them in a burst on reconnect); the first tick after the reconnection brings
the cluster view up to date. Imports nothing from fastapi or uvicorn (`chat.core.statsview` does
not either): a node without the `stats` extra still reports.
"""

from __future__ import annotations

import asyncio
import contextlib

import nats.errors
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from chat.cluster.reportwire import (
    REPORT_ROOMS,
    Report,
    check_node,
    decode_members_request,
    encode_members,
    encode_members_error,
    encode_report,
    members_subject,
    report_subject,
)
from chat.core.hub import Hub
from chat.core.statsview import MAX_PAGE, LocalView, Order

log = structlog.get_logger("chat.cluster.reporter")


class StatsReporter:
    def __init__(self, nc: Client, node: str, hub: Hub, interval: float = 1.0) -> None:
        if interval <= 0:
            raise ValueError("the report interval must be positive")
        self.nc = nc
        self.node = check_node(node)
        self.interval = interval
        self.view = LocalView(hub, node=node)
        self.subject = report_subject(node)
        self._sub: Subscription | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._sub = await self.nc.subscribe(members_subject(self.node), cb=self._on_members)
        self.view.sampler.tick(asyncio.get_running_loop().time())
        await self._publish()  # at once: a new node shows up without waiting for a tick
        self._task = asyncio.create_task(self._run(), name="stats-reporter")
        log.info("stats.reporting", node=self.node, subject=self.subject, interval=self.interval)

    async def stop(self) -> None:
        """Publish nothing more and stop answering; the cluster view drops the node once its
        last report is older than the view's staleness bound."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(nats.errors.Error):  # the connection may be closed already
                await sub.unsubscribe()

    def report(self) -> Report:
        """This node's report now. With at most REPORT_ROOMS rooms it carries them all, oldest
        first, so the cluster view can keep their creation order; with more, the biggest."""
        order: Order = "created" if len(self.view.hub.rooms) <= REPORT_ROOMS else "members"
        rooms = self.view.rooms(0, REPORT_ROOMS, order)
        return Report(self.node, self.view.snapshot(), rooms)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        sampler, room_rates = self.view.sampler, self.view.room_rates
        pruned = loop.time()
        while True:
            before = loop.time()
            await asyncio.sleep(self.interval)
            now = loop.time()
            sampler.tick(now, now - before - self.interval)
            if now - pruned > room_rates.FORGET_AFTER:
                room_rates.prune(self.view.clock())
                pruned = now
            await self._publish()

    async def _publish(self) -> None:
        if not self.nc.is_connected:
            return
        try:
            await self.nc.publish(self.subject, encode_report(self.report()))
        except nats.errors.Error as err:  # closed or draining between the check and here
            log.warning("stats.publish_failed", node=self.node, error=str(err))

    async def _on_members(self, msg: Msg) -> None:
        if not msg.reply:
            return
        try:
            folded, offset, limit = decode_members_request(msg.data, MAX_PAGE)
        except ValueError as err:
            reply = encode_members_error(f"bad members request: {err}")
        else:
            members = await self.view.members(folded, offset, limit)
            reply = encode_members([(m.nick, m.dialect) for m in members])
        with contextlib.suppress(nats.errors.Error):
            await msg.respond(reply)
