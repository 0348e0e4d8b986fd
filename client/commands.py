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
    "/register": "password: make your nick an account (servers with accounts)",
    "/identify": "[account] password: identify (default account: your nick)",
    "/window": "N: show window N (also Alt-N)",
    "/quit": "[reason]: leave",
    "/mode": "[#room] [+imt-k ...]: show or change a room's modes",
    "/op": "nick: make a member an operator of this room",
    "/deop": "nick: take operator status away",
    "/voice": "nick: let a member speak in a moderated (+m) room",
    "/devoice": "nick: take voice away",
    "/kick": "nick [reason]: put a member out of this room",
    "/ban": "nick|mask: ban nick, nick!user@host (globs * ?) or $a:account",
    "/unban": "mask: lift a ban",
    "/bans": "[#room]: list the bans",
    "/mute": "nick seconds: mute a member of this room",
    "/unmute": "nick: lift a mute",
    "/invite": "nick [#room]: invite someone into an invite-only room",
    "/oper": "name password: become a server operator",
    "/kill": "nick [reason]: disconnect a user (server operators)",
    "/sban": "addr|net [seconds] [reason]: refuse an address (server operators)",
    "/unsban": "addr|net: lift a server ban",
    "/sbans": "list the server bans",
    "/wallops": "text: a notice to every server operator",
}
MODERATION = {"/op": ("op", "nick"), "/deop": ("deop", "nick"), "/voice": ("voice", "nick"),
              "/devoice": ("devoice", "nick"), "/ban": ("ban", "mask"),
              "/unban": ("unban", "mask")}  # fmt: skip
"""Commands of one argument about the current room (or a `#room` given first)."""
ALIASES = {"/j": "/join", "/leave": "/part", "/query": "/msg", "/names": "/who",
           "/list": "/rooms", "/win": "/window", "/exit": "/quit"}  # fmt: skip
PRIVATE = ("/msg ", "/query ")
"""Lines starting with these are never written to the history file."""
SECRET = ("/register", "/identify")
"""Lines starting with these hold a password: kept nowhere, not even in the session's history
(Up never brings one back), never shown."""


@dataclass(frozen=True)
class Parsed:
    command: dict[str, Any] | None = None  # to send
    error: str | None = None  # to show, nothing sent
    quit: bool = False
    help: bool = False
    window: int | None = None  # to show


def is_private(line: str) -> bool:
    return line.lstrip().lower().startswith(PRIVATE) or is_secret(line)


def is_secret(line: str) -> bool:
    word = line.strip().split(" ", 1)[0].lower()
    return word in SECRET


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
            return Parsed(error="usage: /join #room [key]")
        words = rest.split()
        key = {"key": words[1]} if len(words) > 1 and not words[1].startswith("#") else {}
        return Parsed({"type": "join", "room": words[0], **key})
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
    moderation = _moderation(word, rest, here)
    if moderation is not None:
        return moderation
    if word == "/register":  # the rest of the line is the password, as the server reads it
        if not rest:
            return Parsed(error="usage: /register password")
        return Parsed({"type": "register", "password": rest})
    if word == "/identify":
        account, _, password = rest.partition(" ")
        if not rest:
            return Parsed(error="usage: /identify [account] password")
        if password.strip():
            return Parsed({"type": "identify", "account": account, "password": password.strip()})
        return Parsed({"type": "identify", "password": rest})
    return Parsed(error=f"unknown command {word}; /help lists them")


def _moderation(word: str, rest: str, here: dict[str, Any]) -> Parsed | None:
    """The moderation commands (docs/protocol.md, "Moderation"); None for another word."""
    if rest.startswith("#") and word not in ("/invite", "/kill", "/oper", "/sban", "/unsban"):
        room, _, rest = rest.partition(" ")
        here, rest = {"room": room}, rest.strip()
    words = rest.split()
    usage = Parsed(error=f"usage: {word} {COMMANDS.get(word, '').split(':')[0]}")
    if word in MODERATION:
        kind, field = MODERATION[word]
        return Parsed({"type": kind, **here, field: words[0]}) if words else usage
    if word == "/mode":
        return Parsed({"type": "mode", **here, "modes": words[0] if words else "",
                       "args": words[1:]})  # fmt: skip
    if word == "/bans":
        return Parsed({"type": "bans", **here})
    if word == "/kick":
        if not words:
            return usage
        reason = rest.partition(" ")[2].strip()
        return Parsed({"type": "kick", **here, "nick": words[0], "reason": reason})
    if word in ("/mute", "/unmute"):
        wait = words[1] if word == "/mute" and len(words) > 1 else "0"
        if not words or not wait.isdigit() or (word == "/mute" and len(words) < 2):
            return usage
        return Parsed({"type": "mute", **here, "nick": words[0], "seconds": int(wait)})
    if word == "/invite":
        if not words:
            return usage
        where = {"room": words[1]} if len(words) > 1 else here
        return Parsed({"type": "invite", **where, "nick": words[0]})
    if word == "/oper":
        return (
            Parsed({"type": "oper", "name": words[0], "password": words[1]})
            if len(words) == 2
            else usage
        )
    if word == "/kill":
        reason = rest.partition(" ")[2].strip()
        return Parsed({"type": "kill", "nick": words[0], "reason": reason}) if words else usage
    if word == "/sban":
        if not words or (len(words) > 1 and not words[1].isdigit()):
            return usage
        seconds = int(words[1]) if len(words) > 1 else 0
        reason = " ".join(words[2:])
        return Parsed({"type": "sban", "mask": words[0], "seconds": seconds, "reason": reason})
    if word == "/unsban":
        return Parsed({"type": "unsban", "mask": words[0]}) if words else usage
    if word == "/sbans":
        return Parsed({"type": "sbans"})
    if word == "/wallops":
        return Parsed({"type": "wallops", "text": rest}) if rest else usage
    return None
