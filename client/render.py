"""Server events as styled text fragments, `[(style, text), ...]`, prompt_toolkit's format.

Pure functions: no terminal here. Everything shown is stripped of control characters first, so
nobody's message can move the cursor or recolour this terminal.
"""

from __future__ import annotations

import time
import zlib
from typing import Any

from chat.protocol.sanitize import clean

Fragments = list[tuple[str, str]]
NICK_COLOURS = (
    "ansired", "ansigreen", "ansiyellow", "ansiblue", "ansimagenta", "ansicyan",
    "ansibrightred", "ansibrightgreen", "ansibrightyellow", "ansibrightblue",
    "ansibrightmagenta", "ansibrightcyan",
)  # fmt: skip


def nick_style(nick: str) -> str:
    """The same colour for a nick in every run (a stable hash, not Python's salted one)."""
    return NICK_COLOURS[zlib.crc32(nick.lower().encode()) % len(NICK_COLOURS)]


def stamp(ts: float | None = None) -> Fragments:
    return [("class:time", time.strftime("%H:%M ", time.localtime(ts)))]


def render(ev: dict[str, Any], current: str | None) -> Fragments | None:
    """The line to show for an event, or None for events that only update the toolbar."""
    kind = ev.get("type")
    c: dict[str, Any] = {k: clean(v) if isinstance(v, str) else v for k, v in ev.items()}
    if kind == "message":
        out = stamp(c.get("ts"))
        if c["room"].lower() != (current or ""):
            out.append(("class:room", f"{c['room']} "))
        if c.get("action"):
            return [*out, ("class:action", "* "), (nick_style(c["nick"]), c["nick"]),
                    ("class:action", f" {c['text']}")]  # fmt: skip
        return [*out, (nick_style(c["nick"]), f"<{c['nick']}>"), ("", f" {c['text']}")]
    if kind == "private":
        arrow = f"[{c['from']} -> {c['to']}]"
        text = f"* {c['from']} {c['text']}" if c.get("action") else c["text"]
        return [*stamp(c.get("ts")), ("class:private", f"{arrow} {text}")]
    if kind == "error":
        return [*stamp(), ("class:error", f"! {c['message']} ({c['code']})")]
    if kind == "local":
        return [*stamp(), (f"class:{c['level']}", f"-- {c['text']}")]
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
        more = f" and {c['total'] - len(c['nicks'])} more" if c["total"] > len(c["nicks"]) else ""
        return f"{c['room']} ({c['total']}): {', '.join(c['nicks'])}{more}"
    if kind == "rooms":
        listed = ", ".join(f"{r['name']} ({r['members']})" for r in c["rooms"])
        return f"{c['total']} room(s): {listed}"
    if kind == "welcome":
        return f"connected as {c['nick']}. {c['motd']}"
    if kind == "notice":
        return str(c["text"])
    if kind == "bye":
        return f"the server closed the session: {c['reason']}"
    if kind == "help":
        return "\n".join(c["lines"])
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
    "toolbar": "reverse",
    "toolbar.online": "ansigreen reverse",
    "toolbar.offline": "ansired reverse",
}
