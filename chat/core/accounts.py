"""Accounts (`--accounts`): the rules, with no I/O. Who may try a password when, what a
registered nick means for whoever holds it, and what each outcome does.

Theory of operation
-------------------
`Accounts(hub, policy)` installs itself in the hub: it handles `Register` and `Identify`
(`Hub.add_handler`), lets `Identify` through before a nick (IRC SASL comes before NICK), and
wraps the hub's `Hello` and `Nick` handlers to see every nick a session takes.

Passwords are never checked here. A handler that accepts an attempt (right state, password
within bounds, throttles not empty) parks a `Job` on the session (`session.waiting`): `Verify`
or `Create` (`chat.core.accountjobs`). The connection stops reading that client's lines (as
for a cluster nick reservation), the transport runs the job off the event loop
(`chat.net.accountdb`: argon2id in a bounded pool, the store in its own thread or JetStream
KV), and hands the `Outcome` back to `finish`, which identifies the session, or counts a
failure, and tells the client.

Throttles (`chat.core.auththrottle`, token buckets on the hub's injected monotonic clock): a
failed password costs its address and its account, a register its address; an empty bucket
refuses attempts (`auth-throttled`, with the wait) before any hashing.

Nick protection: the names of all accounts are known here (`registered`, filled by the store at
start-up and, in a cluster, as other nodes register). A session that takes a registered nick
without being identified to it is told so (notice `nick-protected`) and gets `policy.grace`
seconds: the transport calls `expire` when they are up (`schedule`), which renames it to a
guest nick unless it identified meanwhile. The rename is a `Nick` command the connection runs
as if the client had sent it (in a cluster it is reserved like any nick).

The seam for moderation: `session.account` (the folded account name, or None) and
`Accounts.listeners`, called as `listener(session, account)` once a session is identified.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from chat.core.accountjobs import Create, Job, Outcome, Verify
from chat.core.auththrottle import Throttle
from chat.protocol import commands as c
from chat.protocol import events as e
from chat.protocol.errors import (
    ACCOUNT_EXISTS,
    ACCOUNTS_OFF,
    ALREADY_IDENTIFIED,
    AUTH_BUSY,
    AUTH_FAILED,
    AUTH_THROTTLED,
    NOT_REGISTERED,
    WEAK_PASSWORD,
    ProtocolError,
)
from chat.protocol.names import MAX_NICK, check_nick, fold
from chat.protocol.text import ACCOUNT_USAGE

if TYPE_CHECKING:
    from chat.core.hub import Hub
    from chat.core.session import Session

log = structlog.get_logger("chat.accounts")

MIN_PASSWORD = 8
"""Characters a new password has at least."""
MAX_PASSWORD = 256
"""Bytes (UTF-8) a password has at most: argon2 hashes any length, but nothing unbounded
crosses into the hashing pool."""
GUEST = "Guest"
"""Renamed holders of a protected nick become `Guest` and 5 digits."""
RETRY = 2.0
"""Seconds before a rename that could not happen yet (the client was waiting for a reply of
the cluster or of the hashing pool) is tried again."""
EVENTS = ("registered", "identified", "failed", "throttled", "busy", "protected", "renamed")
"""What `Stats.accounts` counts (`/stats` `accounts`, `/metrics` `chat_account_events`)."""


@dataclass(frozen=True, slots=True)
class AccountPolicy:
    """The account rules' numbers; each is documented in docs/protocol.md, "Accounts"."""

    grace: float = 30.0  # seconds to identify after taking a registered nick (--nick-grace)
    address_rate: float = 0.1  # failed attempts forgiven per second, per address ...
    address_burst: int = 10  # ... and how many may fail in a row
    account_rate: float = 1 / 30  # failed attempts forgiven per second, per account ...
    account_burst: int = 5  # ... and how many may fail in a row


def accounts_off(session: Session, command: c.Command) -> None:
    """The hub's answer to `Register` and `Identify` without --accounts."""
    raise ProtocolError(ACCOUNTS_OFF, "this server has no accounts (it runs without --accounts)")


# --- the rules ----------------------------------------------------------------------------


class Accounts:
    def __init__(
        self,
        hub: Hub,
        policy: AccountPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.hub = hub
        self.policy = policy or AccountPolicy()
        self.throttle = Throttle(self.policy)
        self.registered: set[str] = set()  # folded names of every account
        self.listeners: list[Callable[[Session, str], None]] = [hub.moderation.identified]
        """Called as `listener(session, account)` when a session is identified (moderation:
        an operator's status restored in the rooms that remember the account)."""
        self.schedule: Callable[[Session, float], None] = lambda session, delay: None
        """The transport's timer: call `expire(session)` after `delay` seconds."""
        self._rng = rng or random.Random()
        hub.accounts = self
        hub.before_nick.add(c.Identify)
        hub.help_extra.extend(ACCOUNT_USAGE.values())
        hub.add_handler(c.Register, self._register)
        hub.add_handler(c.Identify, self._identify)
        for kind in (c.Hello, c.Nick):
            old = hub.add_handler(kind, lambda s, cmd: None)
            assert old is not None
            hub.add_handler(kind, self._watching(old))

    def known(self, account: str) -> None:
        """The store says this account exists (at start-up, or registered on another node)."""
        self.registered.add(account)

    def known_all(self, accounts: Iterable[str]) -> None:
        self.registered.update(accounts)

    def _now(self) -> float:
        return self.hub.monotonic()

    def _count(self, event: str) -> None:
        self.hub.stats.accounts[event] += 1

    # --- commands -------------------------------------------------------------------------
    def _register(self, s: Session, cmd: c.Register) -> None:
        assert s.nick is not None  # the hub refuses Register before a nick
        if s.account is not None:
            raise ProtocolError(ALREADY_IDENTIFIED, f"you are identified as {s.account} already")
        if s.folded in self.registered:
            raise ProtocolError(
                ACCOUNT_EXISTS, f"{s.nick} is registered already; /identify <password>"
            )
        size = len(cmd.password.encode())
        if len(cmd.password) < MIN_PASSWORD or size > MAX_PASSWORD:
            raise ProtocolError(
                WEAK_PASSWORD,
                f"a password has {MIN_PASSWORD} characters at least, {MAX_PASSWORD} bytes at most",
            )
        self._admit(s, None, "register")
        self.throttle.failed(s.ip, None, self._now())  # every registration costs its address
        s.waiting = Create(s.folded, s.nick, cmd.password)

    def _identify(self, s: Session, cmd: c.Identify) -> None:
        if cmd.account is None and s.nick is None:
            raise ProtocolError(NOT_REGISTERED, "choose a nick first")
        account = fold(check_nick(cmd.account)) if cmd.account is not None else s.folded
        if s.account is not None:
            raise ProtocolError(ALREADY_IDENTIFIED, f"you are identified as {s.account} already")
        if len(cmd.password.encode()) > MAX_PASSWORD or not cmd.password:
            raise ProtocolError(WEAK_PASSWORD, f"a password has at most {MAX_PASSWORD} bytes")
        self._admit(s, account, "identify")
        # Charged up front, refunded unless the password was wrong: attempts in flight count,
        # so a burst of parallel attempts meets the same bound as a sequence of them.
        self.throttle.failed(s.ip, account, self._now())
        if account not in self.registered:  # no hashing for nothing; it costs the same
            self._failed(s, account, "no-such-account")
        s.waiting = Verify(account, cmd.password)

    def _admit(self, s: Session, account: str | None, what: str) -> None:
        wait = self.throttle.wait(s.ip, account, self._now())
        if wait > 0:
            self._count("throttled")
            log.info(
                "account.throttled",
                conn_id=s.conn_id,
                peer=s.peer,
                nick=s.nick,
                account=account,
                attempt=what,
                wait=round(wait, 1),
            )
            raise ProtocolError(
                AUTH_THROTTLED, f"too many failed attempts: try again in {wait:.0f}s"
            )

    def _failed(self, s: Session, account: str, why: str) -> None:
        """A wrong password (its cost was charged with the attempt)."""
        self._count("failed")
        log.info(
            "account.failed", conn_id=s.conn_id, peer=s.peer, nick=s.nick, account=account, why=why
        )
        raise ProtocolError(AUTH_FAILED, "wrong account or password")

    # --- outcomes (from the transport) ----------------------------------------------------
    def finish(self, s: Session, job: Job, outcome: Outcome) -> None:
        """The transport ran `job`: identify, or say why not. Errors go to the client."""
        try:
            self._finish(s, job, outcome)
        except ProtocolError as err:
            self.hub.error(s, err)

    def _finish(self, s: Session, job: Job, outcome: Outcome) -> None:
        if outcome is not Outcome.WRONG and isinstance(job, Verify):
            self.throttle.refund(s.ip, job.account, self._now())
        if outcome is Outcome.BUSY or outcome is Outcome.DOWN:
            self._count("busy")
            log.warning(
                "account.busy", conn_id=s.conn_id, peer=s.peer, nick=s.nick, outcome=outcome.value
            )
            why = "too many password checks at once" if outcome is Outcome.BUSY else "no store"
            raise ProtocolError(AUTH_BUSY, f"{why}: try again in a few seconds")
        if isinstance(job, Create):
            if outcome is Outcome.EXISTS:
                self.registered.add(job.account)
                raise ProtocolError(ACCOUNT_EXISTS, f"{job.nick} was registered meanwhile")
            self.registered.add(job.account)
            self._count("registered")
            log.info("account.registered", conn_id=s.conn_id, peer=s.peer, nick=s.nick)
            self._identified(s, job.account, "registered")
            return
        if outcome is not Outcome.OK:
            if s.guard and s.folded == job.account:  # still holding it: say so (again)
                self._warn(s, max(0.0, s.guard - self._now()))
            self._failed(s, job.account, "wrong-password")
        self._count("identified")
        log.info(
            "account.identified", conn_id=s.conn_id, peer=s.peer, nick=s.nick, account=job.account
        )
        self._identified(s, job.account, "identified")

    def _identified(self, s: Session, account: str, event: str) -> None:
        s.account = account
        self.throttle.succeeded(s.ip, account)
        if s.folded == account:
            s.guard = 0.0
        s.send(e.Account(event, account))
        for listener in self.listeners:
            listener(s, account)

    # --- nick protection ------------------------------------------------------------------
    def _watching(self, handler: Callable[[Session, Any], None]) -> Callable[[Session, Any], None]:
        def watched(s: Session, cmd: Any) -> None:
            before = s.folded
            handler(s, cmd)
            if s.nick is not None and s.folded != before:
                self.nick_taken(s, first=not before)

        return watched

    def nick_taken(self, s: Session, first: bool = False) -> None:
        """`s` holds a new nick: protect the account it may belong to."""
        s.guard = 0.0
        if s.folded in self.registered and s.account != s.folded:
            if first and s.preauth is not None and s.waiting is None:
                password, s.preauth = s.preauth, None
                try:
                    self._identify(s, c.Identify(password))  # IRC PASS: identify now
                except ProtocolError as err:
                    self.hub.error(s, err)
            self._protect(s, quiet=s.waiting is not None)
        elif first and s.account is None:
            s.send(
                e.Notice(
                    f"{s.nick} is not registered: /register <password> keeps it yours",
                    "account-hint",
                )
            )
        s.preauth = None

    def _protect(self, s: Session, quiet: bool = False) -> None:
        grace = self.policy.grace
        s.guard = self._now() + grace
        self._count("protected")
        log.info("account.protected", conn_id=s.conn_id, peer=s.peer, nick=s.nick, grace=grace)
        if not quiet:
            self._warn(s, grace)
        self.schedule(s, grace)

    def _warn(self, s: Session, left: float) -> None:
        text = (
            f"{s.nick} is a registered nick: /identify <password> within {left:.3g}s,"
            " or you will be renamed"
        )
        s.send(e.Notice(text, "nick-protected"))

    def expire(self, s: Session) -> c.Nick | None:
        """The grace of `s` may be over: the `Nick` command that renames it, if it must go.
        Also schedules the next look (a rename that does not happen is tried again)."""
        if s.closing or not s.guard or s.nick is None:
            return None
        now = self._now()
        if s.folded not in self.registered or s.account == s.folded:
            s.guard = 0.0
            return None
        if now < s.guard:
            self.schedule(s, s.guard - now)
            return None
        guest = self._guest()
        self.schedule(s, RETRY)  # if the rename fails (or must wait), look again
        self._count("renamed")
        log.info("account.renamed", conn_id=s.conn_id, peer=s.peer, nick=s.nick, guest=guest)
        s.send(e.Notice(f"you did not identify for {s.nick}: you are now {guest}", "nick-renamed"))
        return c.Nick(guest)

    def _guest(self) -> str:
        nicks = self.hub.nicks
        for _ in range(20):
            nick = f"{GUEST}{self._rng.randrange(100_000):05d}"
            if fold(nick) not in nicks and fold(nick) not in self.registered:
                return nick
        return f"{GUEST}{self._rng.getrandbits(60):x}"[:MAX_NICK]
