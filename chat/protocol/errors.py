"""The protocol's one exception type and its stable error codes (see docs/protocol.md)."""

from __future__ import annotations

# Stable, machine-readable error codes. Text clients see `! <code>: <message>`,
# JSON clients see {"type": "error", "code": <code>, "message": <message>}.
BAD_NICK = "bad-nick"
NICK_TAKEN = "nick-taken"
BAD_ROOM = "bad-room"
UNKNOWN_COMMAND = "unknown-command"
BAD_COMMAND = "bad-command"
LINE_TOO_LONG = "line-too-long"
BAD_UTF8 = "bad-utf8"
BAD_JSON = "bad-json"
BAD_VERSION = "bad-version"
NOT_REGISTERED = "not-registered"
NOT_IN_ROOM = "not-in-room"
NO_SUCH_NICK = "no-such-nick"
TOO_MANY_ROOMS = "too-many-rooms"
ROOM_LIMIT = "room-limit"
SERVER_FULL = "server-full"
TOO_MANY_CONNECTIONS = "too-many-connections"
ROOM_FULL = "room-full"
RATE_LIMITED = "rate-limited"
FLOOD = "flood"
SLOW_CONSUMER = "slow-consumer"
IDLE = "idle"
SHUTDOWN = "shutdown"
CLUSTER_DOWN = "cluster-down"
NICK_COLLISION = "nick-collision"
ROOM_BUSY = "room-busy"
INTERNAL_ERROR = "internal-error"
# Moderation (docs/protocol.md, "Moderation").
NOT_OPERATOR = "not-operator"
BANNED = "banned"
INVITE_ONLY = "invite-only"
BAD_KEY = "bad-key"
CANNOT_SEND = "cannot-send"
MUTED = "muted"
UNKNOWN_MODE = "unknown-mode"
NOT_IN_THAT_ROOM = "user-not-in-room"
ALREADY_IN_ROOM = "already-in-room"
NO_PRIVILEGES = "no-privileges"
BAD_PASSWORD = "bad-password"
NO_OPERS = "no-opers"
KILLED = "killed"
SERVER_BANNED = "server-banned"
# accounts (issue 17; docs/protocol.md, "Accounts")
ACCOUNTS_OFF = "accounts-off"
ACCOUNT_EXISTS = "account-exists"
WEAK_PASSWORD = "weak-password"  # (bad-password, above, is a wrong /oper password)
AUTH_FAILED = "auth-failed"
AUTH_THROTTLED = "auth-throttled"
AUTH_BUSY = "auth-busy"
ALREADY_IDENTIFIED = "already-identified"


class ProtocolError(Exception):
    """Bad input from one client. The connection carries on after the error line is sent."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
