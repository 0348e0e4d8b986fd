"""The JSON lines dialect: one JSON object per line, each with a "type" (docs/protocol.md)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from chat.protocol import PROTOCOL_VERSION
from chat.protocol import commands as c
from chat.protocol import events as e
from chat.protocol.errors import (
    BAD_COMMAND,
    BAD_JSON,
    BAD_UTF8,
    BAD_VERSION,
    UNKNOWN_COMMAND,
    ProtocolError,
)
from chat.protocol.sanitize import clean, is_text
from chat.protocol.text import HISTORY_PAGE

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_quote: Callable[[str], str] = json.encoder.encode_basestring  # what `_dumps` does to a str


def _str(obj: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise ProtocolError(BAD_COMMAND, f'"{obj["type"]}" needs a string field "{key}"')
        return None
    if not isinstance(value, str):
        raise ProtocolError(BAD_COMMAND, f'field "{key}" must be a string')
    if not is_text(value):
        raise ProtocolError(BAD_UTF8, f'field "{key}" is not valid Unicode (a lone surrogate)')
    return clean(value)


def _req(obj: dict[str, Any], key: str) -> str:
    value = _str(obj, key)
    assert value is not None
    return value


def _int(obj: dict[str, Any], key: str, lo: int, hi: int) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if type(value) is not int or not lo <= value <= hi:
        raise ProtocolError(BAD_COMMAND, f'field "{key}" must be a whole number {lo}-{hi}')
    return value


def _since(o: dict[str, Any]) -> tuple[str, int] | None:
    since = o.get("since")
    if since is None:
        return None
    if not isinstance(since, dict):
        raise ProtocolError(BAD_COMMAND, '"since" must be {"epoch": string, "offset": number}')
    epoch = _req(since | {"type": "since"}, "epoch")[:64]
    offset = _int(since, "offset", 0, 2**53)
    return epoch, offset or 0


def _history(o: dict[str, Any]) -> c.Command:
    limit = _int(o, "limit", 1, HISTORY_PAGE)
    return c.History(
        _str(o, "room", required=False),
        _int(o, "before", 0, 2**53),
        _int(o, "after", 0, 2**53),
        HISTORY_PAGE if limit is None else limit,
    )


def _args(o: dict[str, Any]) -> tuple[str, ...]:
    args = o.get("args", [])
    if not isinstance(args, list) or len(args) > 16 or not all(isinstance(a, str) for a in args):
        raise ProtocolError(BAD_COMMAND, 'field "args" must be a list of at most 16 strings')
    for a in args:
        if not is_text(a):
            raise ProtocolError(BAD_UTF8, 'field "args" is not valid Unicode (a lone surrogate)')
    return tuple(clean(a) for a in args)


def _room(o: dict[str, Any]) -> str | None:
    return _str(o, "room", required=False)


def _mode(o: dict[str, Any]) -> c.Command:
    return c.Mode(_room(o), _str(o, "modes", required=False) or "", _args(o))


def _prefix_mode(change: str, field: str) -> Callable[[dict[str, Any]], c.Command]:
    return lambda o: c.Mode(_room(o), change, (_req(o, field),))


def _sban(o: dict[str, Any]) -> c.Command:
    seconds = _int(o, "seconds", 0, 2**31) or 0
    return c.ServerBan(_req(o, "mask"), seconds, _str(o, "reason", required=False) or "")


_MODERATION: dict[str, Callable[[dict[str, Any]], c.Command]] = {
    "mode": _mode,
    "op": _prefix_mode("+o", "nick"),
    "deop": _prefix_mode("-o", "nick"),
    "voice": _prefix_mode("+v", "nick"),
    "devoice": _prefix_mode("-v", "nick"),
    "ban": _prefix_mode("+b", "mask"),
    "unban": _prefix_mode("-b", "mask"),
    "bans": lambda o: c.Bans(_room(o)),
    "kick": lambda o: c.Kick(_req(o, "nick"), _room(o), _str(o, "reason", required=False) or ""),
    "invite": lambda o: c.Invite(_req(o, "nick"), _room(o)),
    "mute": lambda o: c.Mute(_req(o, "nick"), _int(o, "seconds", 0, 2**31) or 0, _room(o)),
    "oper": lambda o: c.Oper(_req(o, "name"), _req(o, "password")),
    "kill": lambda o: c.Kill(_req(o, "nick"), _str(o, "reason", required=False) or ""),
    "sban": _sban,
    "unsban": lambda o: c.ServerBan(_req(o, "mask"), remove=True),
    "sbans": lambda o: c.ServerBan(),
    "wallops": lambda o: c.Wallops(_req(o, "text")),
}
"""The moderation commands (docs/protocol.md, "Moderation")."""


def _hello(o: dict[str, Any]) -> c.Command:
    version = o.get("version")
    if version != PROTOCOL_VERSION:
        raise ProtocolError(BAD_VERSION, f"this server speaks protocol version {PROTOCOL_VERSION}")
    return c.Hello(_req(o, "nick"), PROTOCOL_VERSION)


_PARSE: dict[str, Callable[[dict[str, Any]], c.Command]] = {
    "hello": _hello,
    "say": lambda o: c.Say(_req(o, "text"), _str(o, "room", required=False)),
    "me": lambda o: c.Me(_req(o, "text"), _str(o, "room", required=False)),
    "msg": lambda o: c.Msg(_req(o, "to"), _req(o, "text")),
    "nick": lambda o: c.Nick(_req(o, "nick")),
    "join": lambda o: c.Join(_req(o, "room"), _since(o), _str(o, "key", required=False)),
    "history": lambda o: _history(o),
    "part": lambda o: c.Part(
        _str(o, "room", required=False), _str(o, "reason", required=False) or ""
    ),
    "topic": lambda o: c.Topic(_str(o, "room", required=False), _str(o, "topic", required=False)),
    "rooms": lambda o: c.Rooms(),
    "who": lambda o: c.Who(_str(o, "room", required=False)),
    "quit": lambda o: c.Quit(_str(o, "reason", required=False) or ""),
    "help": lambda o: c.Help(),
    "ping": lambda o: c.Ping((_str(o, "token", required=False) or "")[:64]),
    **_MODERATION,
    # accounts (issue 17)
    "register": lambda o: c.Register(_req(o, "password")),
    "identify": lambda o: c.Identify(_req(o, "password"), _str(o, "account", required=False)),
}


def _message(ev: e.Message) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "message", "room": ev.room, "nick": ev.nick, "text": ev.text,
           "ts": ev.ts, "action": ev.action}  # fmt: skip
    if ev.offset:
        out["offset"], out["epoch"] = ev.offset, ev.epoch
    if ev.replay:
        out["replay"] = True
    return out


def _event_dict(ev: e.Event) -> dict[str, Any]:
    if isinstance(ev, e.Message):
        return _message(ev)
    if isinstance(ev, e.Joined):
        joined: dict[str, Any] = {
            "type": "join",
            "room": ev.room,
            "nick": ev.nick,
            "members": ev.members,
        }
        if ev.epoch:
            joined["epoch"], joined["offset"] = ev.epoch, ev.offset
        if ev.recovered is not None:
            joined["recovered"] = ev.recovered
        return joined
    if isinstance(ev, e.HistoryPage):
        messages = [_message(m) for m in ev.messages]
        return {"type": "history", "room": ev.room, "epoch": ev.epoch, "messages": messages}
    if isinstance(ev, e.Private):
        return {"type": "private", "from": ev.sender, "to": ev.to, "text": ev.text,
                "ts": ev.ts, "action": ev.action}  # fmt: skip
    if isinstance(ev, e.RoomList):
        rooms = [{"name": r.name, "members": r.members, "topic": r.topic} for r in ev.rooms]
        return {"type": "rooms", "rooms": rooms, "total": ev.total}
    if isinstance(ev, e.Members):
        who: dict[str, Any] = {"type": "who", "room": ev.room, "nicks": list(ev.nicks),
                               "total": ev.total}  # fmt: skip
        if ev.prefixes:
            who["prefixes"] = {n: p for n, p in zip(ev.nicks, ev.prefixes, strict=True) if p}
        return who
    if isinstance(ev, e.BanList):
        return {"type": "bans", "room": ev.room, "masks": list(ev.masks)}
    if isinstance(ev, e.HelpText):
        return {"type": "help", "lines": list(ev.lines)}
    kind, fields = _SIMPLE[type(ev)]
    out: dict[str, Any] = {"type": kind}
    for name in fields:
        out[name] = getattr(ev, name)
    return out


_SIMPLE: dict[type[Any], tuple[str, tuple[str, ...]]] = {
    e.Welcome: ("welcome", ("nick", "version", "motd")),
    e.Parted: ("part", ("room", "nick", "reason", "members")),
    e.NickChanged: ("nick", ("old", "new")),
    e.Quitted: ("quit", ("nick", "reason")),
    e.TopicIs: ("topic", ("room", "topic", "by")),
    e.Error: ("error", ("code", "message")),
    e.Notice: ("notice", ("code", "text")),
    e.Pong: ("pong", ("token",)),
    e.Bye: ("bye", ("reason",)),
    e.ModeChanged: ("mode", ("room", "by", "change")),
    e.Modes: ("modes", ("room", "modes")),
    e.Kicked: ("kick", ("room", "nick", "by", "reason", "members")),
    e.Invited: ("invite", ("room", "nick", "by")),
    e.Wallops: ("wallops", ("by", "text")),
    e.Account: ("account", ("event", "account")),  # accounts (issue 17)
}


class JsonCodec:
    name = "json"
    echo = True

    def decode(self, line: bytes) -> c.Command | None:
        if not line.strip():
            return None
        try:
            # UTF-8 only: json.loads(bytes) would also accept UTF-16 and UTF-32.
            obj = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError:
            raise ProtocolError(BAD_UTF8, "line is not valid UTF-8; it was dropped") from None
        except (ValueError, RecursionError):  # bad JSON, a number too long, nesting too deep
            raise ProtocolError(BAD_JSON, "line is not valid JSON; it was dropped") from None
        kind = obj.get("type") if isinstance(obj, dict) else None
        if not isinstance(kind, str):
            raise ProtocolError(BAD_JSON, 'each line must be a JSON object with a string "type"')
        parse = _PARSE.get(kind)
        if parse is None:
            shown = json.dumps(kind[:32])  # ASCII-only: safe to echo whatever it holds
            raise ProtocolError(UNKNOWN_COMMAND, f"unknown command type {shown}")
        return parse(obj)

    def encode(self, event: e.Event) -> bytes:
        if type(event) is e.Message and event.ts - event.ts == 0:  # the hot path (a finite ts)
            return _message_line(event)
        return (_dumps(_event_dict(event)) + "\n").encode()


def _message_line(ev: e.Message) -> bytes:
    """`_dumps(_message(ev))`, built directly: the same bytes, in a third of the time."""
    line = (
        f'{{"type":"message","room":{_quote(ev.room)},"nick":{_quote(ev.nick)},'
        f'"text":{_quote(ev.text)},"ts":{ev.ts!r},"action":{"true" if ev.action else "false"}'
    )
    if ev.offset:
        line += f',"offset":{ev.offset!r},"epoch":{_quote(ev.epoch)}'
    if ev.replay:
        line += ',"replay":true'
    return (line + "}\n").encode()


JSON = JsonCodec()
