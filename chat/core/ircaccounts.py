"""Accounts over IRC: `CAP sasl`, `AUTHENTICATE PLAIN`, `PASS`, and the numerics 900-908.

`chat.core.ircstate.IrcState` hands these lines here and asks `reply` first for the account
events and errors; everything else about IRC stays there. The rules themselves (throttles,
hashing, nick protection) are the other dialects' (`chat.core.accounts`): SASL only turns an
`AUTHENTICATE` payload into an `Identify` command, and its outcome into 903 or 904.

SASL is offered (`CAP LS`: `sasl=PLAIN`) and accepted only on a TLS connection: the client
picks the mechanism before it sends its credentials, so a client on a plain connection is
refused (904) before it has sent its password in the clear. `PASS` is accepted on either, as
`/identify` is in the text dialect on a plain port: the operator chooses with `--no-plain`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from typing import TYPE_CHECKING

from chat.core.accounts import MAX_PASSWORD
from chat.protocol import commands as c
from chat.protocol import events as e
from chat.protocol.errors import (
    ACCOUNT_EXISTS,
    ACCOUNTS_OFF,
    ALREADY_IDENTIFIED,
    AUTH_BUSY,
    AUTH_FAILED,
    AUTH_THROTTLED,
    WEAK_PASSWORD,
)
from chat.protocol.irc import IrcMessage, line
from chat.protocol.sanitize import clean

if TYPE_CHECKING:
    from chat.core.ircstate import IrcState

CAP = "sasl"
MECHANISMS = "PLAIN"
CHUNK = 400
"""Bytes of one AUTHENTICATE payload line; a full one means more follow."""
MAX_PAYLOAD = 4 * CHUNK
"""Bytes of base64 a whole SASL payload may have (an account, a password and two NULs fit)."""
AUTH_CODES = frozenset(
    {ACCOUNTS_OFF, ACCOUNT_EXISTS, ALREADY_IDENTIFIED, AUTH_BUSY, AUTH_FAILED, AUTH_THROTTLED,
     WEAK_PASSWORD}
)  # fmt: skip


_REGISTER_FAIL = {
    ACCOUNT_EXISTS: "ACCOUNT_EXISTS",
    WEAK_PASSWORD: "WEAK_PASSWORD",
    ALREADY_IDENTIFIED: "ALREADY_AUTHENTICATED",
    AUTH_THROTTLED: "TEMPORARILY_UNAVAILABLE",
    AUTH_BUSY: "TEMPORARILY_UNAVAILABLE",
}
"""Our error codes as draft/account-registration's FAIL codes."""


class Sasl:
    """One connection's SASL exchange: the mechanism chosen, the payload so far."""

    __slots__ = ("payload", "pending", "started")

    def __init__(self) -> None:
        self.started = False  # AUTHENTICATE PLAIN was accepted: payload lines follow
        self.payload = ""
        self.pending = False  # an Identify went to the hub: 903 or 904 is owed


def cap_ls(offered: tuple[str, ...], msg: IrcMessage) -> str:
    """The `CAP LS` list: `sasl=PLAIN` for `CAP LS 302`, plain `sasl` for older clients."""
    version = msg.params[1] if len(msg.params) > 1 else ""
    values = version.isdigit() and int(version) >= 302
    return " ".join(f"{n}={MECHANISMS}" if n == CAP and values else n for n in offered)


def offered(state: IrcState) -> bool:
    """Is SASL offered to this connection? Accounts on, and TLS."""
    return state.conn.hub.accounts is not None and state.conn.secure


def authenticate(state: IrcState, msg: IrcMessage) -> Iterator[c.Command]:
    nick = state.nick
    if not state.sasl:
        state.sasl = Sasl()
    sasl = state.sasl
    param = msg.params[0] if msg.params else ""
    if not offered(state):
        why = "accounts are off" if state.conn.hub.accounts is None else "SASL needs TLS"
        state.push(line("904", nick, f"SASL authentication failed: {why}"))
        return
    if state.conn.account is not None:
        state.push(line("907", nick, "You have already authenticated using SASL"))
        return
    if param == "*":
        state.sasl = None
        state.push(line("906", nick, "SASL authentication aborted"))
        return
    if not sasl.started:
        if param.upper() != MECHANISMS:
            state.push(line("908", nick, MECHANISMS, "are available SASL mechanisms"))
            state.push(line("904", nick, "SASL authentication failed"))
            return
        sasl.started = True
        state.push(line("AUTHENTICATE", "+", source=""))
        return
    if len(param) > CHUNK or len(sasl.payload) + len(param) > MAX_PAYLOAD:
        state.sasl = None
        state.push(line("905", nick, "SASL message too long"))
        return
    if param != "+":
        sasl.payload += param
    if len(param) == CHUNK:
        return  # more to come
    payload, state.sasl = sasl.payload, Sasl()
    parts = _plain(payload)
    if parts is None:
        state.push(line("904", nick, "SASL authentication failed"))
        return
    account, password = parts
    state.sasl.pending = True
    state.target = account
    yield c.Identify(password, account)


def _plain(payload: str) -> tuple[str, str] | None:
    """PLAIN's `authzid NUL authcid NUL password` (RFC 4616): (account, password), or None."""
    try:
        fields = base64.b64decode(payload, validate=True).decode("utf-8").split("\0")
    except (binascii.Error, UnicodeDecodeError):
        return None
    if len(fields) != 3:
        return None
    authzid, authcid, password = fields
    if not authcid or (authzid and authzid != authcid) or len(password.encode()) > MAX_PASSWORD:
        return None
    return authcid, clean(password)


def register(state: IrcState, msg: IrcMessage) -> Iterator[c.Command]:
    """`REGISTER <account> <email> <password>` (IRCv3 draft/account-registration), after
    NICK/USER: the account is `*` or your nick; the email is ignored."""
    if len(msg.params) < 3 or not msg.params[2]:
        state.push(line("FAIL", "REGISTER", "NEED_MORE_PARAMS", "REGISTER * * <password>"))
        return
    account = msg.params[0]
    if account != "*" and account.lower() != (state.conn.nick or "").lower():
        state.push(line("FAIL", "REGISTER", "ACCOUNT_NAME_MUST_BE_NICK", account,
                        "Your account is your current nick"))  # fmt: skip
        return
    yield c.Register(clean(msg.params[2]))


def password(state: IrcState, msg: IrcMessage) -> None:
    """`PASS <password>` before registration: identify with it once the nick is accepted."""
    if msg.params and msg.params[0] and state.conn.hub.accounts is not None:
        state.conn.preauth = clean(msg.params[0])[: MAX_PASSWORD * 2]


def reply(state: IrcState, event: e.Event) -> str | None:
    """The account events and errors in IRC (None: not one of them)."""
    nick = state.nick
    sasl = state.sasl
    if isinstance(event, e.Account):
        user = state.user or nick
        out = line("900", nick, f"{nick}!{user}@chat", event.account,
                   f"You are now logged in as {event.account}")  # fmt: skip
        if sasl is not None and sasl.pending:
            sasl.pending = False
            out += line("903", nick, "SASL authentication successful")
        if event.event == "registered":
            out += line("REGISTER", "SUCCESS", event.account, "Account created")
        return out
    if isinstance(event, e.Error) and event.code in AUTH_CODES:
        if sasl is not None and sasl.pending:
            sasl.pending = False
            if event.code == ALREADY_IDENTIFIED:
                return line("907", nick, "You have already authenticated using SASL")
            return line("NOTICE", nick, f"{event.code}: {event.message}") + line(
                "904", nick, "SASL authentication failed"
            )
        if state.command == "REGISTER":
            code = _REGISTER_FAIL.get(event.code, event.code.upper().replace("-", "_"))
            return line("FAIL", "REGISTER", code, event.message)
        return line("NOTICE", nick, f"{event.code}: {event.message}")
    if isinstance(event, e.Notice) and event.code == "account-hint":
        text = f"{nick} is not registered: REGISTER * * <password> keeps it yours"
        return line("NOTICE", nick, text)
    if isinstance(event, e.Notice) and event.code == "nick-protected":
        return line("902", nick, f"You must use a nick assigned to you: {event.text}")
    return None
