"""Cluster-wide nick ownership in JetStream key-value.

Two buckets:

- `chat_nicks`: key = the folded nick in hex, value = the id of the node that holds it. No TTL:
  an entry lives until its node lets go of the nick (`release`) or another node takes it over.
- `chat_nodes`: key = node id, value = the node's name; the bucket's TTL is the node TTL
  (`--node-ttl`). Every node re-puts its key every TTL/4, so a node that dies without a word
  (kill -9, a cut cable) has its key expire within the TTL.

A claim is an atomic `create` of the nick's key. If the key exists, its owner is asked whether it
still holds the nick: an owner whose `chat_nodes` key has expired is dead, and an owner that
answers "no" on `chat.nick.<owner>` let go of it without managing to delete the entry (the
release happened while the link was down). Either way the claimant takes the entry over with
a compare-and-set `update` on the revision it read, so of two nodes racing for a dead owner's
nick exactly one wins. Hence the bound: a dead node's nicks are free at most `node_ttl`
seconds (plus JetStream's expiry check, well under a second) after its last heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import nats
import structlog
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from chat.core.session import Session
from chat.protocol import events as e
from chat.protocol.errors import NICK_COLLISION

log = structlog.get_logger("chat.cluster")

NICKS_BUCKET = "chat_nicks"
NODES_BUCKET = "chat_nodes"
HOLDS_TIMEOUT = 1.0
"""Seconds a live owner has to answer whether it still holds a nick."""
ATTEMPTS = 3
"""Create/take-over rounds before a contested claim gives up (each round lost means another
node changed the entry in between)."""


def key_of(folded: str) -> str:
    """KV keys allow `[-/_=.a-zA-Z0-9]`; nicks allow `[]{}|^` too, so keys are hex."""
    return folded.encode().hex()


class NickClaims:
    def __init__(
        self,
        nicks: KeyValue,
        nodes: KeyValue,
        node: str,
        holds: Callable[[str, str], Awaitable[bool]],
    ) -> None:
        self.nicks = nicks
        self.nodes = nodes
        self.node = node
        self._holds = holds  # holds(owner, folded): does that live node still hold the nick?

    async def claim(self, folded: str) -> bool:
        """Make this node the nick's owner; False if a live node holds it."""
        key, me = key_of(folded), self.node.encode()
        for _ in range(ATTEMPTS):
            try:
                await self.nicks.create(key, me)
                return True
            except KeyWrongLastSequenceError:
                pass
            try:
                entry = await self.nicks.get(key)
            except KeyNotFoundError:  # deleted in between: create again
                continue
            owner = (entry.value or b"").decode(errors="replace")
            if owner == self.node:
                return True
            if await self.alive(owner) and await self._holds(owner, folded):
                return False
            try:
                await self.nicks.update(key, me, last=entry.revision)
            except KeyWrongLastSequenceError:
                continue
            log.info("nick.taken_over", nick_key=key, owner=owner)
            return True
        return False

    async def reassert(self, held: dict[str, Session], reserved: set[str]) -> None:
        """Back after a link outage: claim every nick held here again. One another node gave
        out meanwhile is theirs: its holder here is told and cut (`nick-collision`)."""
        nicks = list(held.items())
        results = await wait_all([self.claim(folded) for folded, _ in nicks])
        for (folded, session), ok in zip(nicks, results, strict=True):
            if isinstance(ok, BaseException):
                raise ok
            if not ok:
                reserved.discard(folded)
                log.warning("cluster.nick_collision", conn_id=session.conn_id, nick=session.nick)
                session.send(e.Error(NICK_COLLISION, "your nick was taken on another node"))
                session.close(NICK_COLLISION)

    async def release(self, folded: str) -> None:
        """Delete the nick's entry if this node still owns it."""
        key = key_of(folded)
        try:
            entry = await self.nicks.get(key)
        except KeyNotFoundError:
            return
        if entry.value == self.node.encode():
            with contextlib.suppress(KeyWrongLastSequenceError):  # taken over: theirs now
                await self.nicks.delete(key, last=entry.revision)

    async def alive(self, node: str) -> bool:
        try:
            await self.nodes.get(node)
        except KeyNotFoundError:
            return False
        return True

    async def beat(self, name: str) -> None:
        await self.nodes.put(self.node, name.encode())

    async def leave(self) -> None:
        """Going away on purpose: our nicks are free for the taking at once."""
        await self.nodes.delete(self.node)


def node_id(name: str) -> str:
    """A name unique to this process: a restarted node is a new node."""
    base = re.sub(r"[^A-Za-z0-9_-]", "-", name or socket.gethostname())[:40] or "node"
    return f"{base}-{secrets.token_hex(4)}"


async def holds(nc: NatsClient, owner: str, folded: str) -> bool:
    """Does live node `owner` still hold this nick? (It answers on `chat.nick.<owner>`.)"""
    try:
        reply = await nc.request(f"chat.nick.{owner}", folded.encode(), HOLDS_TIMEOUT)
    except (TimeoutError, nats.errors.Error, OSError):
        return True  # no answer: assume it does (its key says it is alive)
    return reply.data != b"0"


async def answer(reserved: set[str], msg: Msg) -> None:
    """This node's answer to `holds`: 1 if it holds the nick."""
    folded = msg.data.decode(errors="replace")
    await msg.respond(b"1" if folded in reserved else b"0")


async def bucket(js: Any, name: str, ttl: float | None) -> KeyValue:
    try:
        kv: KeyValue = await js.key_value(name)
        return kv
    except BucketNotFoundError:
        config = KeyValueConfig(bucket=name, history=1, ttl=ttl, storage=StorageType.FILE)
        created: KeyValue = await js.create_key_value(config)
        return created


async def wait_all(jobs: list[Awaitable[object]], width: int = 64) -> list[object]:
    """Await many KV operations, at most `width` at a time."""
    gate = asyncio.Semaphore(width)

    async def one(job: Awaitable[object]) -> object:
        async with gate:
            return await job

    return await asyncio.gather(*(one(j) for j in jobs), return_exceptions=True)
