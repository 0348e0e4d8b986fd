"""Server events as styled text fragments, `[(style, text), ...]`, prompt_toolkit's format.

Pure functions: no terminal here. Everything shown is stripped of control characters first, so
nobody's message can move the cursor or recolour this terminal.
"""

from __future__ import annotations

import re
import time
import zlib
from typing import Any

from client.sanitize import clean

Fragments = list[tuple[str, str]]
NICK_COLOURS = (
    "ansired", "ansigreen", "ansiyellow", "ansiblue", "ansimagenta", "ansicyan",
    "ansibrightred", "ansibrightgreen", "ansibrightyellow", "ansibrightblue",
    "ansibrightmagenta", "ansibrightcyan",
)  # fmt: skip


def nick_style(nick: str) -> str:
    """The same colour for a nick in every run (a stable hash, not Python's salted one)."""
    return NICK_COLOURS[zlib.crc32(nick.lower().encode()) % len(NICK_COLOURS)]


def duration(seconds: float) -> str:
    """12s, 3m05s, 2h10m."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def stamp(ts: float | None = None) -> Fragments:
    return [("class:time", time.strftime("%H:%M ", time.localtime(ts)))]


_NICK_CHAR = r"A-Za-z0-9_\-\[\]{}|^"


def mentions(ev: dict[str, Any], me: str) -> bool:
    """Does `ev` call for your attention: a room line naming `me` (as a whole nick, any case)
    or a private message, from someone else?"""
    kind = ev.get("type")
    if not me or ev.get("quiet") or ev.get("history"):
        return False
    if kind == "private":
        return str(ev.get("from", "")).lower() != me.lower()
    if kind != "message" or str(ev.get("nick", "")).lower() == me.lower():
        return False
    word = rf"(?<![{_NICK_CHAR}]){re.escape(me)}(?![{_NICK_CHAR}])"
    return re.search(word, str(ev.get("text", "")), re.IGNORECASE) is not None


def render(ev: dict[str, Any], mention: bool = False) -> Fragments | None:
    """The line to show for an event, or None for events that only update the toolbar (and
    for `quiet` ones: the answers to a reconnect's rejoin)."""
    if ev.get("quiet"):
        return None
    kind = ev.get("type")
    c: dict[str, Any] = {k: clean(v) if isinstance(v, str) else v for k, v in ev.items()}
    body = "class:mention" if mention else ""
    if kind == "message" and c.get("history"):  # a room's past, shown on joining: all dim
        line = render({**ev, "history": False})
        return [("class:history", text) for _, text in line or []]
    if kind == "message":
        out = stamp(c.get("ts"))
        if c.get("action"):
            return [*out, ("class:action", "* "), (nick_style(c["nick"]), c["nick"]),
                    (f"class:action {body}", f" {c['text']}")]  # fmt: skip
        return [*out, (nick_style(c["nick"]), f"<{c['nick']}>"), (body, f" {c['text']}")]
    if kind == "private":
        arrow = f"[{c['from']} -> {c['to']}]"
        text = f"* {c['from']} {c['text']}" if c.get("action") else c["text"]
        return [*stamp(c.get("ts")), (f"class:private {body}", f"{arrow} {text}")]
    if kind == "error":
        return [*stamp(), ("class:error", f"! {c['message']} ({c['code']})")]
    if kind == "local":
        return [*stamp(), (f"class:{c['level']}", f"-- {c['text']}")]
    if kind == "mark":  # the client's own line about a room's past (client/backlog.py)
        return [*stamp(), (f"class:{c['level']}", str(c["text"]))]
    text = _notice(kind, c)
    return None if text is None else [*stamp(), ("class:notice", f"-- {text}")]


def _notice(kind: Any, c: dict[str, Any]) -> str | None:
    if kind == "join":
        return f"{c['nick']} joined {c['room']} ({c['members']} here)"
    if kind == "part":
        reason = f" ({c['reason']})" if c.get("reason") else ""
        return f"{c['nick']} left {c['room']}{reason}"
    if kind == "quit":
        return f"{c['nick']} quit" + (f" ({c['reason']})" if c.get("reason") else "")
    if kind == "nick":
        return f"{c['old']} is now known as {c['new']}"
    if kind == "topic":
        if c.get("by"):
            return f"{c['by']} set the topic of {c['room']}: {c['topic']}"
        return f"topic of {c['room']}: {c['topic']}" if c["topic"] else f"{c['room']} has no topic"
    if kind == "who":
        given = c.get("prefixes")
        prefixes: dict[str, Any] = given if isinstance(given, dict) else {}
        names = sorted((clean(str(n)) for n in c["nicks"]), key=lambda n: (n.lower(), n))
        nicks = [clean(str(prefixes.get(n, ""))) + n for n in names]  # @ operator, + voiced
        more = f" and {c['total'] - len(nicks)} more" if c["total"] > len(nicks) else ""
        return f"{c['room']} ({c['total']}): {', '.join(nicks)}{more}"
    if kind == "rooms":
        listed = ", ".join(f"{clean(str(r['name']))} ({r['members']})" for r in c["rooms"])
        return f"{c['total']} room(s): {listed}"
    if kind == "welcome":
        return f"connected as {c['nick']}. {c['motd']}"
    if kind == "notice":  # "#x is now your current room": the window switch says it
        return None if c.get("code") == "current-room" else str(c["text"])
    if kind == "bye":
        return f"the server closed the session: {c['reason']}"
    if kind == "account":
        return f"you are now identified as {c['account']} ({c['event']})"
    if kind == "help":
        return "\n".join(clean(str(line)) for line in c["lines"])
    return _moderation(kind, c)


def _moderation(kind: Any, c: dict[str, Any]) -> str | None:
    if kind == "mode":
        return f"{c['by']} sets mode {c['change']} on {c['room']}"
    if kind == "modes":
        return f"modes of {c['room']}: {c['modes']}"
    if kind == "kick":
        reason = f" ({c['reason']})" if c.get("reason") else ""
        return f"{c['nick']} was kicked from {c['room']} by {c['by']}{reason}"
    if kind == "invite":
        return f"{c['by']} invited {c['nick']} to {c['room']}"
    if kind == "bans":
        masks = ", ".join(clean(str(mask)) for mask in c["masks"]) or "none"
        return f"{'server bans' if c['room'] == '*' else 'bans of ' + c['room']}: {masks}"
    if kind == "wallops":
        return f"wallops from {c['by']}: {c['text']}"
    return None  # pong


STYLE = {
    "time": "ansibrightblack",
    "room": "ansibrightblack bold",
    "notice": "ansibrightblack",
    "action": "italic",
    "private": "ansimagenta bold",
    "error": "ansired bold",
    "warn": "ansiyellow",
    "info": "ansibrightblack",
    "mention": "ansiyellow bold",
    "history": "ansibrightblack",
    "missed": "ansicyan bold",
    "missing": "ansiyellow bold",
    "toolbar": "reverse",
    "toolbar.online": "ansigreen reverse",
    "toolbar.offline": "ansired reverse",
    "toolbar.current": "reverse bold",
    "toolbar.unread": "ansicyan reverse",
    "toolbar.mention": "ansiyellow reverse bold",
}
