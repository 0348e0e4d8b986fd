"""What the user types, turned into protocol commands (JSON objects). No I/O.

Plain text goes to the current room; `/cmd args` are the server's commands (docs/protocol.md);
`//text` sends a line starting with `/`. Client-only commands (`/help`, `/quit`) are recognised
here too so the UI can act on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

COMMANDS = {
    "/help": "show the commands and keys",
    "/join": "#room: join (or switch to) a room",
    "/part": "[#room] [reason]: leave a room",
    "/msg": "nick text: private message",
    "/me": "action: an action in the current room",
    "/nick": "name: change your nick",
    "/topic": "[#room] [text]: show or set the topic",
    "/who": "[#room]: list members",
    "/rooms": "list rooms",
    "/quit": "[reason]: leave",
}


@dataclass(frozen=True)
class Parsed:
    command: dict[str, Any] | None = None  # to send
    error: str | None = None  # to show, nothing sent
    quit: bool = False
    help: bool = False


def parse(line: str, current: str | None) -> Parsed:
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
    if word == "/help":
        return Parsed(help=True)
    if word == "/quit":
        return Parsed({"type": "quit", "reason": rest}, quit=True)
    if word == "/join":
        if not rest:
            return Parsed(error="usage: /join #room")
        return Parsed({"type": "join", "room": rest.split()[0]})
    if word == "/part":
        cmd: dict[str, Any] = {"type": "part"}
        if rest.startswith("#"):
            room, _, reason = rest.partition(" ")
            cmd |= {"room": room, "reason": reason.strip()}
        elif rest:
            cmd["reason"] = rest
        return Parsed(cmd)
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
        cmd = {"type": "topic"}
        if rest.startswith("#"):
            room, _, topic = rest.partition(" ")
            cmd["room"] = room
            rest = topic.strip()
        if rest:
            cmd["topic"] = rest
        return Parsed(cmd)
    if word == "/who":
        return Parsed({"type": "who", **({"room": rest.split()[0]} if rest else {})})
    if word in ("/rooms", "/list"):
        return Parsed({"type": "rooms"})
    return Parsed(error=f"unknown command {word}; /help lists them")
