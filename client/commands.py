"""What the user types, turned into protocol commands (JSON objects). No I/O.

Plain text goes to the current room; `/cmd args` are the server's commands (docs/protocol.md);
`//text` sends a line starting with `/`. Commands that default to "the current room" name it
explicitly, because the current room is the window on screen, which the server does not know
about. Client-only commands (`/help`, `/quit`, `/window`) are recognised here too so the UI can
act on them; nothing typed is ever sent as chat by mistake: an unknown `/word` is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

COMMANDS = {
    "/help": "show the commands and keys",
    "/join": "#room: join (or switch to) a room",
    "/part": "[#room] [reason]: leave a room (default: this one)",
    "/msg": "nick text: private message",
    "/me": "action: an action in the current room",
    "/nick": "name: change your nick",
    "/topic": "[#room] [text]: show or set the topic",
    "/who": "[#room]: list members",
    "/rooms": "list rooms",
    "/window": "N: show window N (also Alt-N)",
    "/quit": "[reason]: leave",
}
ALIASES = {"/j": "/join", "/leave": "/part", "/query": "/msg", "/names": "/who",
           "/list": "/rooms", "/win": "/window", "/exit": "/quit"}  # fmt: skip
PRIVATE = ("/msg ", "/query ")
"""Lines starting with these are never written to the history file."""


@dataclass(frozen=True)
class Parsed:
    command: dict[str, Any] | None = None  # to send
    error: str | None = None  # to show, nothing sent
    quit: bool = False
    help: bool = False
    window: int | None = None  # to show


def is_private(line: str) -> bool:
    return line.lstrip().lower().startswith(PRIVATE)


def parse(line: str, current: str | None) -> Parsed:
    """`current`: the current room's name, or None."""
    text = line.strip()
    if not text:
        return Parsed()
    if text.startswith("//") or not text.startswith("/"):
        body = text[1:] if text.startswith("//") else text
        if current is None:
            return Parsed(error="you are in no room: /join #room first")
        return Parsed({"type": "say", "room": current, "text": body})
    word, _, rest = text.partition(" ")
    word, rest = word.lower(), rest.strip()
    word = ALIASES.get(word, word)
    here = {"room": current} if current else {}
    if word == "/help":
        return Parsed(help=True)
    if word == "/quit":
        return Parsed({"type": "quit", "reason": rest}, quit=True)
    if word == "/window":
        if not rest.isdigit() or int(rest) < 1:
            return Parsed(error="usage: /window N (N from 1: the numbers in the toolbar)")
        return Parsed(window=int(rest))
    if word == "/join":
        if not rest:
            return Parsed(error="usage: /join #room")
        return Parsed({"type": "join", "room": rest.split()[0]})
    if word == "/part":
        if rest.startswith("#"):
            room, _, reason = rest.partition(" ")
            return Parsed({"type": "part", "room": room, "reason": reason.strip()})
        return Parsed({"type": "part", **here, **({"reason": rest} if rest else {})})
    if word == "/msg":
        to, _, body = rest.partition(" ")
        if not to or not body.strip():
            return Parsed(error="usage: /msg nick text")
        return Parsed({"type": "msg", "to": to, "text": body.strip()})
    if word == "/me":
        if not rest:
            return Parsed(error="usage: /me action")
        if current is None:
            return Parsed(error="you are in no room: /join #room first")
        return Parsed({"type": "me", "room": current, "text": rest})
    if word == "/nick":
        if not rest:
            return Parsed(error="usage: /nick name")
        return Parsed({"type": "nick", "nick": rest.split()[0]})
    if word == "/topic":
        cmd: dict[str, Any] = {"type": "topic", **here}
        if rest.startswith("#"):
            room, _, topic = rest.partition(" ")
            cmd["room"] = room
            rest = topic.strip()
        if rest:
            cmd["topic"] = rest
        return Parsed(cmd)
    if word == "/who":
        return Parsed({"type": "who", **({"room": rest.split()[0]} if rest else here)})
    if word == "/rooms":
        return Parsed({"type": "rooms"})
    return Parsed(error=f"unknown command {word}; /help lists them")
