"""What a node tells the cluster about its numbers: a `Report`, as JSON on `chat.core.stats.<node>`.

Pure (no I/O), so the wire format is tested on its own. A report is the node's `Snapshot` and
its rooms as that node sees them: in cluster mode a node only holds the rooms that have members
on it, and a room's `members` counts that node's members. The cluster sidecar
(`chat.sidecar.cluster`) adds the nodes up with `chat.core.stats.merge` and `merge_rooms`.

A report is bounded twice, so one node with many rooms cannot flood the subject or exceed NATS's
payload limit (1 MiB by default): at most `REPORT_ROOMS` rooms (the reporter sends the biggest
when it has more), and at most `MAX_REPORT_BYTES` once encoded (rooms are dropped from the end
of the list until it fits). A node's `snapshot.rooms` still counts all its rooms, so a reader
can tell how many were left out.

A snapshot's `history` block travels as an object of its own (the fields of
`chat.core.stats.HistorySnapshot`, by name). Reports stay version 1 both ways: a node of the
previous version sends no `history` (it reads as zeros, and still merges), and ignores one it
receives; a field of the block it does not carry reads as 0.

`decode_report` trusts nothing: anyone on the NATS server can publish on `chat.core.stats.*`, and a
negative or non-finite number would otherwise travel to a response model and become a 500.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from chat.core.stats import HistorySnapshot, RoomSnapshot, Snapshot

REPORT_VERSION = 1
REPORT_ROOMS = 1000
"""Most rooms one report carries."""
MAX_REPORT_BYTES = 512 * 1024
MAX_MODES_TEXT = 64
"""A room's modes as 324 shows them (`+imntlk 1000 *`) are far shorter."""
"""Most bytes one encoded report takes; half of NATS's default max payload."""

SUBJECT_PREFIX = "chat.stats"
REPORTS = f"{SUBJECT_PREFIX}.*"
"""What a cluster view subscribes to. `*` is exactly one token, so the members subjects
(`chat.core.stats.members.<node>`, two tokens after the prefix) never match it."""

_NODE_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")

_SNAPSHOT_FIELDS = (
    "taken",
    "started",
    "connections",
    "peak_connections",
    "accepted",
    "refused",
    "registered",
    "messages_received",
    "deliveries",
    "rooms",
    "received_per_second",
    "delivered_per_second",
    "loop_lag",
    "loop_lag_max",
)
"""Every `Snapshot` field but the mappings, `history` and `nodes` (always 1 in a report)."""
_HISTORY_FIELDS = tuple(f.name for f in fields(HistorySnapshot))


def check_node(node: str) -> str:
    """`node` if it is a valid node id (it becomes a NATS subject token), else ValueError."""
    if not isinstance(node, str) or not _NODE_ID.fullmatch(node):
        raise ValueError(f"bad node id {node!r:.40}: 1-128 of A-Z a-z 0-9 _ -")
    return node


def report_subject(node: str) -> str:
    """Where `node` publishes its reports."""
    return f"{SUBJECT_PREFIX}.{check_node(node)}"


def members_subject(node: str) -> str:
    """Where `node` answers requests for a page of a room's (local) members."""
    return f"{SUBJECT_PREFIX}.members.{check_node(node)}"


@dataclass(frozen=True, slots=True)
class Report:
    node: str
    snapshot: Snapshot
    rooms: list[RoomSnapshot]
    """At most REPORT_ROOMS rooms, each with this node's own member count."""


# --- encoding -----------------------------------------------------------------------------


def encode_report(report: Report) -> bytes:
    """JSON bytes of `report`, within REPORT_ROOMS rooms and MAX_REPORT_BYTES bytes."""
    rooms = report.rooms[:REPORT_ROOMS]
    data = _dumps(_document(report, rooms))
    if len(data) <= MAX_REPORT_BYTES:
        return data
    # Rare (long topics and names in many rooms): keep the longest prefix of rooms that fits.
    budget = MAX_REPORT_BYTES - len(_dumps(_document(report, [])))
    keep = 0
    for room in rooms:
        size = len(_dumps(_room(room))) + 1  # and its comma
        if size > budget:
            break
        budget -= size
        keep += 1
    return _dumps(_document(report, rooms[:keep]))


def _document(report: Report, rooms: Sequence[RoomSnapshot]) -> dict[str, Any]:
    s = report.snapshot
    snap: dict[str, Any] = {name: getattr(s, name) for name in _SNAPSHOT_FIELDS}
    snap["disconnects"] = dict(s.disconnects)
    snap["errors"] = dict(s.errors)
    snap["history"] = asdict(s.history)
    snap["moderation"] = dict(s.moderation)
    if s.accounts:  # only with --accounts; older readers ignore it
        snap["accounts"] = dict(s.accounts)
    return {
        "v": REPORT_VERSION,
        "node": check_node(report.node),
        "snapshot": snap,
        "rooms": [_room(r) for r in rooms],
    }


def _room(r: RoomSnapshot) -> dict[str, Any]:
    return {
        "name": r.name,
        "folded": r.folded,
        "members": r.members,
        "topic": r.topic,
        "messages": r.messages,
        "messages_per_second": r.messages_per_second,
        "last_activity": r.last_activity,
        "modes": r.modes,
        "bans": r.bans,
    }


def _dumps(doc: object) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


# --- decoding -----------------------------------------------------------------------------


def decode_report(data: bytes) -> Report:
    """The report in `data`; ValueError (with the reason) if it is not a valid one."""
    try:
        doc = json.loads(data, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("report nested too deeply") from None
    obj = _object(doc, "report")
    if obj.get("v") != REPORT_VERSION:
        raise ValueError(f"unknown report version {obj.get('v')!r:.40}")
    node = check_node(_field(obj, "node"))
    snap = _object(_field(obj, "snapshot"), "snapshot")
    rooms = _field(obj, "rooms")
    if not isinstance(rooms, list):
        raise ValueError("'rooms' must be a list")
    if len(rooms) > REPORT_ROOMS:
        raise ValueError(f"{len(rooms)} rooms in one report (at most {REPORT_ROOMS})")
    snapshot = Snapshot(
        taken=_number(snap, "taken"),
        started=_number(snap, "started"),
        connections=_count(snap, "connections"),
        peak_connections=_count(snap, "peak_connections"),
        accepted=_count(snap, "accepted"),
        refused=_count(snap, "refused"),
        registered=_count(snap, "registered"),
        messages_received=_count(snap, "messages_received"),
        deliveries=_count(snap, "deliveries"),
        rooms=_count(snap, "rooms"),
        disconnects=_counters(snap, "disconnects"),
        errors=_counters(snap, "errors"),
        received_per_second=_number(snap, "received_per_second"),
        delivered_per_second=_number(snap, "delivered_per_second"),
        loop_lag=_number(snap, "loop_lag"),
        loop_lag_max=_number(snap, "loop_lag_max"),
        nodes=1,  # a report speaks for one node, whatever it claims
        history=_decode_history(snap),
        moderation=_counters(snap, "moderation") if "moderation" in snap else {},  # older nodes
        accounts=_counters(snap, "accounts") if "accounts" in snap else {},
    )
    return Report(node=node, snapshot=snapshot, rooms=[_decode_room(r) for r in rooms])


def _decode_history(snap: dict[str, Any]) -> HistorySnapshot:
    """The `history` block; zeros from a node that sends none (one of the previous version)."""
    if "history" not in snap:
        return HistorySnapshot()
    h = _object(snap["history"], "history")
    return HistorySnapshot(**{k: _count(h, k) if k in h else 0 for k in _HISTORY_FIELDS})


def _decode_room(value: object) -> RoomSnapshot:
    r = _object(value, "room")
    return RoomSnapshot(
        name=_text(r, "name"),
        folded=_text(r, "folded"),
        members=_count(r, "members"),
        topic=_text(r, "topic"),
        messages=_count(r, "messages"),
        messages_per_second=_optional_number(r, "messages_per_second"),
        last_activity=_optional_number(r, "last_activity"),
        modes=_modes(r) if "modes" in r else "+n",  # older nodes send none
        bans=_count(r, "bans") if "bans" in r else 0,
    )


def _modes(r: dict[str, Any]) -> str:
    modes = _text(r, "modes")
    if len(modes) > MAX_MODES_TEXT or not modes.startswith("+"):
        raise ValueError(f"room modes {modes!r:.40} are not +flags [params]")
    return modes


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number a report may carry")


def _object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a JSON object")
    return value


def _field(obj: dict[str, Any], key: str) -> Any:
    if key not in obj:
        raise ValueError(f"missing {key!r}")
    return obj[key]


def _count(obj: dict[str, Any], key: str) -> int:
    value = _field(obj, key)
    if type(value) is not int or value < 0:  # bool is an int subclass: not a count
        raise ValueError(f"{key!r:.40} must be a non-negative integer, not {value!r:.40}")
    return value


def _number(obj: dict[str, Any], key: str) -> float:
    value = _field(obj, key)
    if type(value) not in (int, float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{key!r:.40} must be a finite non-negative number, not {value!r:.40}")
    return float(value)


def _optional_number(obj: dict[str, Any], key: str) -> float | None:
    return None if _field(obj, key) is None else _number(obj, key)


def _text(obj: dict[str, Any], key: str) -> str:
    value = _field(obj, key)
    if not isinstance(value, str):
        raise ValueError(f"{key!r:.40} must be a string")
    return value


def _counters(obj: dict[str, Any], key: str) -> dict[str, int]:
    value = _object(_field(obj, key), key)
    return {str(name): _count(value, name) for name in value}


# --- member pages (request/reply on chat.core.stats.members.<node>) ----------------------------


def encode_members_request(folded: str, offset: int, limit: int) -> bytes:
    return _dumps({"room": folded, "offset": offset, "limit": limit})


def decode_members_request(data: bytes, max_limit: int) -> tuple[str, int, int]:
    """`(folded room, offset, limit)`; the limit is clamped to `max_limit`. ValueError if bad."""
    try:
        obj = _object(json.loads(data), "request")
    except RecursionError:
        raise ValueError("request nested too deeply") from None
    folded, offset, limit = _text(obj, "room"), _count(obj, "offset"), _count(obj, "limit")
    if limit < 1:
        raise ValueError("'limit' must be at least 1")
    return folded, offset, min(limit, max_limit)


def encode_members(members: Sequence[tuple[str, str]]) -> bytes:
    return _dumps([{"nick": nick, "dialect": dialect} for nick, dialect in members])


def encode_members_error(message: str) -> bytes:
    return _dumps({"error": message})


def decode_members(data: bytes, limit: int) -> list[tuple[str, str]]:
    """`(nick, dialect)` pairs of a reply, at most `limit` of them; ValueError if bad."""
    try:
        doc = json.loads(data)
    except RecursionError:
        raise ValueError("reply nested too deeply") from None
    if isinstance(doc, dict) and isinstance(doc.get("error"), str):
        raise ValueError(f"the node refused: {doc['error']:.200}")
    if not isinstance(doc, list):
        raise ValueError("a members reply must be a JSON list")
    out: list[tuple[str, str]] = []
    for item in doc[:limit]:
        member = _object(item, "member")
        out.append((_text(member, "nick"), _text(member, "dialect")))
    return out
