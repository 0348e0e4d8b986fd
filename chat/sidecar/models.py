"""The sidecar's response bodies. Every field is typed and described, so `/openapi.json` and
`/docs` document the whole API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from chat.core.stats import HistorySnapshot, RoomSnapshot, Snapshot
from chat.core.statsview import NodeSnapshot


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Health(_Model):
    status: Literal["ok"] = Field(description="always `ok` when the server answers")
    uptime_seconds: float = Field(ge=0, description="seconds since the chat server started")


class Rate(_Model):
    total: int = Field(ge=0, description="count since the server started")
    per_second: float = Field(ge=0, description="rate over the last sampling tick (about 1 s)")


class Connections(_Model):
    current: int = Field(ge=0, description="TCP connections held now (registered or not)")
    peak: int = Field(ge=0, description="most connections held at once since start")
    accepted_total: int = Field(ge=0, description="connections accepted since start")
    refused_total: int = Field(ge=0, description="connections refused with server-full")
    registered_total: int = Field(ge=0, description="nicks chosen (clients registered)")


class Messages(_Model):
    received: Rate = Field(description="room messages, actions and private messages sent")
    delivered: Rate = Field(description="copies queued for recipients (one per recipient)")


class Disconnects(_Model):
    slow_consumer: int = Field(ge=0, description="clients cut because their queue overflowed")
    idle: int = Field(ge=0, description="clients cut for silence (--idle-timeout)")
    by_reason: dict[str, int] = Field(
        description="every disconnect by reason: quit, eof, reset, idle, slow-consumer, shutdown"
    )


class EventLoop(_Model):
    lag_seconds: float = Field(ge=0, description="latest measured event loop lag")
    lag_max_seconds: float = Field(ge=0, description="largest lag over the last 10 samples")


class Resumes(_Model):
    recovered: int = Field(
        ge=0, description="resumes (JSON `join` with `since`) sent everything they had missed"
    )
    not_recovered: int = Field(
        ge=0,
        description="resumes that could not be (the room's epoch changed, or missed messages "
        "were evicted): sent the retained tail and `recovered: false`",
    )


class History(_Model):
    messages: int = Field(
        ge=0,
        description="messages held for resume and paging, all rooms (0 when history is off: "
        "--history-size 0; in cluster mode each node's copy of the cluster's history)",
    )
    bytes: int = Field(
        ge=0, description="what they weigh against --history-bytes (text, nick, 64 B each)"
    )
    evicted_total: int = Field(
        ge=0, description="messages dropped to stay within --history-size or --history-bytes"
    )
    resumes: Resumes = Field(description="resumes since start, by result")
    sequence_retries_total: int = Field(
        ge=0,
        description="cluster mode: publishes to the history stream tried again (a race for a "
        "room's next offset lost to another node, or a timeout)",
    )
    unnumbered_total: int = Field(
        ge=0,
        description="cluster mode: room lines delivered on their node only, without an offset "
        "(the link to NATS was down)",
    )

    @classmethod
    def of(cls, h: HistorySnapshot) -> History:
        return cls(
            messages=h.messages,
            bytes=h.bytes,
            evicted_total=h.evicted,
            resumes=Resumes(recovered=h.recovered, not_recovered=h.not_recovered),
            sequence_retries_total=h.retries,
            unnumbered_total=h.unnumbered,
        )


class StatsOut(_Model):
    nodes: int = Field(
        ge=0,
        description="chat server processes these numbers cover (0: a cluster sidecar that "
        "hears from no node yet)",
    )
    started: float = Field(description="server start time, Unix seconds")
    uptime_seconds: float = Field(ge=0, description="seconds since start")
    connections: Connections
    rooms: int = Field(ge=0, description="rooms that exist now")
    messages: Messages
    disconnects: Disconnects
    errors: dict[str, int] = Field(
        description="errors sent to clients by code (bad-nick, line-too-long, ...)"
    )
    event_loop: EventLoop
    history: History = Field(description="the room history store (summed over nodes)")
    moderation: dict[str, int] = Field(
        default_factory=dict,
        description="moderation actions since start, by name: mode, ban, kick, invite, mute,"
        " unmute, oper, oper-failed, kill, server-ban, server-unban, wallops, refused (a"
        " privileged command refused), server-ban-refused (a connection from a banned address),"
        " join-refused-<code> (banned, invite-only, bad-key, room-full)",
    )
    accounts: dict[str, int] = Field(
        default_factory=dict,
        description="account events by kind (registered, identified, failed, throttled, busy,"
        " protected, renamed); empty without --accounts",
    )

    @classmethod
    def of(cls, s: Snapshot) -> StatsOut:
        return cls(
            nodes=s.nodes,
            started=s.started,
            uptime_seconds=s.uptime,
            connections=Connections(
                current=max(0, s.connections),
                peak=s.peak_connections,
                accepted_total=s.accepted,
                refused_total=s.refused,
                registered_total=s.registered,
            ),
            rooms=s.rooms,
            messages=Messages(
                received=Rate(total=s.messages_received, per_second=s.received_per_second),
                delivered=Rate(total=s.deliveries, per_second=s.delivered_per_second),
            ),
            disconnects=Disconnects(
                slow_consumer=s.disconnects.get("slow-consumer", 0),
                idle=s.disconnects.get("idle", 0),
                by_reason=dict(s.disconnects),
            ),
            errors=dict(s.errors),
            event_loop=EventLoop(lag_seconds=s.loop_lag, lag_max_seconds=s.loop_lag_max),
            history=History.of(s.history),
            moderation=dict(s.moderation),
            accounts=dict(s.accounts),
        )


class Room(_Model):
    name: str = Field(description="room name as first written, with its #")
    members: int = Field(ge=0, description="members now")
    topic: str = Field(description="topic, empty when none")
    messages_total: int = Field(ge=0, description="messages and actions posted since created")
    messages_per_second: float | None = Field(
        ge=0,
        description="posting rate since the previous look at this room (at least 1 s ago); "
        "null the first time a room is looked at",
    )
    last_activity: float | None = Field(
        description="Unix seconds of the last message or action; null if none yet"
    )
    modes: str = Field(
        description="room modes as IRC shows them, e.g. `+imntl 50`; a key as `*`, never its value"
    )
    bans: int = Field(ge=0, description="entries on the room's ban list")

    @classmethod
    def of(cls, r: RoomSnapshot) -> Room:
        return cls(
            name=r.name,
            members=r.members,
            topic=r.topic,
            messages_total=r.messages,
            messages_per_second=r.messages_per_second,
            last_activity=r.last_activity,
            modes=r.modes,
            bans=r.bans,
        )


class Page(_Model):
    total: int = Field(ge=0, description="items in all pages")
    offset: int = Field(ge=0, description="index of this page's first item")
    limit: int = Field(ge=1, description="most items a page holds")


class RoomPage(Page):
    items: list[Room]


class Member(_Model):
    nick: str
    dialect: str = Field(description="wire dialect of the client: text or json")


class MemberPage(Page):
    items: list[Member] = Field(description="members, in join order within each dialect")


class RoomDetail(Room):
    member_list: MemberPage = Field(description="one page of members (?offset=&limit=)")


class Node(_Model):
    id: str = Field(
        description="node id: `local` for the in-process sidecar, else the name "
        "the node reports under in the cluster"
    )
    report_age_seconds: float = Field(
        ge=0, description="seconds since this node's latest report arrived (0 when local)"
    )
    stats: StatsOut = Field(description="this node's own numbers (`nodes` is 1)")

    @classmethod
    def of(cls, n: NodeSnapshot) -> Node:
        return cls(id=n.node, report_age_seconds=max(0.0, n.age), stats=StatsOut.of(n.snapshot))


class NodeList(_Model):
    total: int = Field(ge=0, description="nodes seen now (a silent node drops out)")
    items: list[Node] = Field(description="every node, by id")


class Error(_Model):
    error: str = Field(description="machine-readable code, e.g. no-such-room")
    message: str = Field(description="human-readable explanation")
