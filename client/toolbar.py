"""The status bar under the input line, as fragments. No terminal here.

    online tls  bob  #lobby (3)   1:#lobby 2:#python+4 3:#rust+1!   more below
    OFFLINE 1m05s, attempt 4, next in 8s  bob  #lobby   1:#lobby 2:#python

The link (and while it is down: for how long, the attempt and the countdown), TLS, your nick,
the current room with its member count (only while online: offline it would be stale), then
the windows with their numbers, unread counts (+N) and mention marks (!).
"""

from __future__ import annotations

import math

from client.connection import Connection
from client.lifecycle import Phase
from client.render import Fragments, duration
from client.windows import Windows


def link(conn: Connection, now: float) -> Fragments:
    phase = conn.life.phase
    if phase is Phase.ONLINE:
        return [("class:toolbar.online", " online ")]
    if phase is Phase.CLOSED:
        return [("class:toolbar.offline", " closed ")]
    if phase is Phase.REGISTERING and conn.needs_nick:
        return [("class:toolbar.offline", " pick a nick ")]
    if conn.lost_at is None and conn.attempt == 0:
        return [("class:toolbar.offline", " connecting... ")]
    text = " OFFLINE" if conn.lost_at is None else f" OFFLINE {duration(now - conn.lost_at)}"
    if conn.next_try is not None:
        wait = max(0, math.ceil(conn.next_try - now))
        text += f", attempt {conn.attempt}, next in {wait}s "
    else:
        text += f", attempt {conn.attempt + 1}... "
    return [("class:toolbar.offline", text)]


def toolbar(conn: Connection, windows: Windows, now: float) -> Fragments:
    state = conn.state
    out = link(conn, now)
    if conn.tls:
        out.append(("class:toolbar.online", "tls "))
    out.append(("class:toolbar", f" {state.nick or '?'} "))
    room = state.rooms.get(windows.shown or "") if conn.rejoining else state.current_room
    if room is not None:
        count = f" ({room.count})" if conn.life.phase is Phase.ONLINE else ""
        out.append(("class:toolbar", f" {room.name}{count} "))
    out.append(("class:toolbar", " "))
    for number, key, window in windows.numbered():
        style = "class:toolbar"
        text = f"{number}:{window.name}"
        if key == state.current:
            style = "class:toolbar.current"
        elif window.mentioned:
            style, text = "class:toolbar.mention", f"{text}+{window.unread}!"
        elif window.unread:
            style, text = "class:toolbar.unread", f"{text}+{window.unread}"
        out += [(style, text), ("class:toolbar", " ")]
    if windows.current(state).scroll:
        out.append(("class:toolbar.mention", " more below (PageDown) "))
    return out
