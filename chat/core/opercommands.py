"""Server operators' commands: `Oper`, `Kill`, `ServerBan`, `Wallops`, and the server bans.
Pure logic, no I/O.

`ServerOperators` (`hub.operators`) holds the configured operators (`--oper NAME:HASH`) and
the server bans (addresses and CIDR networks with an expiry: `chat.core.moderation`), registers
its handlers in the hub's dispatch table, and answers `admit` for every new connection. Room
moderation (modes, kicks, room bans, invitations, mutes) is `chat.core.modcommands`, its state
`chat.core.modstate`.

Operator passwords are scrypt: a check (~50 ms) runs through `offload`, which the server points
at a worker thread, at most `MAX_VERIFYING` at once. Server bans are saved through `persist`
(`chat.net.bandb`, in the `--history-db` file) on every change.

Cluster-wide: kills, server bans and wallops are notes (`Killed`, `ServerBanned`, `Wallops`),
applied by the other nodes through `apply_note` (from `Moderation.apply_note`), and the live
server bans are part of the state a (re)joining node is sent (`state`).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING

from chat.core import moderation as m
from chat.core import notes as w
from chat.core import operhash
from chat.core.modcommands import REASON_LEN
from chat.core.modstate import log, record
from chat.core.rooms import deliver
from chat.core.session import Session
from chat.protocol import commands as c
from chat.protocol import events as e
from chat.protocol.errors import (
    BAD_COMMAND,
    BAD_PASSWORD,
    KILLED,
    NO_OPERS,
    NO_PRIVILEGES,
    NO_SUCH_NICK,
    RATE_LIMITED,
    SERVER_BANNED,
    ProtocolError,
)
from chat.protocol.names import fold

if TYPE_CHECKING:
    from chat.core.hub import Hub

Offload = Callable[[Callable[[], bool], Callable[[bool], None]], None]
"""Run a slow pure function elsewhere, then call back on the hub's thread with its result."""
MAX_VERIFYING = 4
"""Operator password checks in flight at once, server-wide (more: `rate-limited`)."""


def inline(work: Callable[[], bool], done: Callable[[bool], None]) -> None:
    """The default `Offload` (tests, an in-memory hub): run now."""
    done(work())


class ServerOperators:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.server_bans: dict[str, m.ServerBan] = {}
        self.opers = operhash.parse_opers(hub.limits.oper)
        self.offload: Offload = inline
        self.persist: Callable[[dict[str, m.ServerBan]], None] = lambda bans: None
        """Told when the server bans change (the server saves them: `chat.net.bandb`)."""
        self.verifying = 0
        self.counts = hub.stats.moderation
        hub.add_handlers(
            {
                c.Oper: self._oper,
                c.Kill: self._kill,
                c.ServerBan: self._server_ban,
                c.Wallops: self._wallops,
            }
        )

    def admit(self, s: Session) -> bool:
        """A new connection: False (and it is told and closed) if its address is banned."""
        if not self.server_bans:
            return True
        ban = m.address_banned(self.server_bans, s.ip, self.hub.clock())
        if ban is None:
            return True
        self.counts["server-ban-refused"] += 1
        log.info("moderation.server_ban_refused", conn_id=s.conn_id, peer=s.peer, net=ban.net)
        s.send(e.Error(SERVER_BANNED, f"your address is banned from this server: {ban.reason}"))
        s.close(SERVER_BANNED)
        return False

    def _oper(self, s: Session, cmd: c.Oper) -> None:
        if not self.opers:
            raise ProtocolError(NO_OPERS, "this server has no operators (--oper)")
        if self.verifying >= MAX_VERIFYING:
            raise ProtocolError(RATE_LIMITED, "too many operator logins at once; try again")
        stored = self.opers.get(cmd.name) or _decoy()
        name, password = cmd.name, cmd.password
        self.verifying += 1

        def done(ok: bool) -> None:
            self.verifying -= 1
            if s.closing:
                return
            if not ok or name not in self.opers:
                self.counts["oper-failed"] += 1
                log.warning("moderation.oper_failed", conn_id=s.conn_id, nick=s.nick,
                            peer=s.peer)  # fmt: skip
                s.send(e.Error(BAD_PASSWORD, "wrong operator name or password"))
                return
            s.oper = name
            record(self.counts, s, "oper", oper=name)
            s.send(e.Notice("you are now a server operator", "oper"))

        self.offload(lambda: operhash.verify(password, stored), done)

    def _need_oper(self, s: Session, what: str) -> None:
        if not s.oper:
            self.counts["refused"] += 1
            log.info("moderation.refused", conn_id=s.conn_id, nick=s.nick, action=what)
            raise ProtocolError(NO_PRIVILEGES, f"/{what} is for server operators (/oper)")

    def _kill(self, s: Session, cmd: c.Kill) -> None:
        self._need_oper(s, "kill")
        folded = fold(cmd.nick)
        target = self.hub.nicks.get(folded)
        remote = self.hub.broker.view.locate(folded)
        if target is None and remote is None:
            raise ProtocolError(NO_SUCH_NICK, f'nobody is called "{cmd.nick[:32]}"')
        nick = target.nick if target is not None else remote[1] if remote else cmd.nick
        reason = cmd.reason[:REASON_LEN]
        record(self.counts, s, "kill", target=nick)
        by = s.nick or ""
        if target is not None:
            self.kill(target, by, reason)
        else:
            self.hub.broker.publish(w.Killed(self.hub.broker.node, nick or "", by, reason))
        s.send(e.Notice(f"{nick} was killed", "kill"))

    def kill(self, target: Session, by: str, reason: str) -> None:
        why = f"killed by {by}" + (f": {reason}" if reason else "")
        target.send(e.Error(KILLED, why))
        self.hub.disconnect(target, KILLED, why)
        target.close(KILLED)

    def _server_ban(self, s: Session, cmd: c.ServerBan) -> None:
        self._need_oper(s, "sban")
        now = self.hub.clock()
        m.prune(self.server_bans, now)
        if not cmd.mask:
            bans = itertools.islice(self.server_bans.values(), self.hub.limits.list_limit)
            rows = tuple(
                f"{b.net} ({b.until - now:.0f}s left, by {b.by})"
                + (f": {b.reason}" * bool(b.reason))
                for b in bans
            )
            s.send(e.BanList("*", rows))
            return
        net = m.parse_network(cmd.mask)
        if cmd.remove:
            if self.server_bans.pop(net, None) is None:
                raise ProtocolError(BAD_COMMAND, f"{net} is not banned")
            record(self.counts, s, "server-unban", net=net)
            self.persist(self.server_bans)
            self.hub.broker.publish(
                w.ServerBanned(self.hub.broker.node, net, 0.0, "", s.nick or "")
            )
            s.send(e.Notice(f"{net} is no longer banned", "sban"))
            return
        if net not in self.server_bans and len(self.server_bans) >= m.MAX_SERVER_BANS:
            raise ProtocolError(BAD_COMMAND, f"{m.MAX_SERVER_BANS} server bans at most")
        seconds = cmd.seconds if 0 < cmd.seconds <= m.MAX_SERVER_BAN_TIME else m.MAX_SERVER_BAN_TIME
        ban = m.ServerBan(net, now + seconds, cmd.reason[:REASON_LEN], s.nick or "")
        record(self.counts, s, "server-ban", net=net, seconds=seconds)
        cut = self.server_ban(ban)
        self.hub.broker.publish(
            w.ServerBanned(self.hub.broker.node, net, ban.until, ban.reason, ban.by)
        )
        s.send(e.Notice(f"{net} is banned for {seconds}s ({cut} connection(s) cut)", "sban"))

    def server_ban(self, ban: m.ServerBan) -> int:
        """Hold `ban` and cut this node's users it covers; how many were cut."""
        self.server_bans[ban.net] = ban
        self.persist(self.server_bans)
        covered = [
            session
            for session in list(self.hub.nicks.values())
            if m.address_banned({ban.net: ban}, session.ip, self.hub.clock()) is not None
        ]
        for session in covered:
            self.kill(
                session,
                ban.by,
                "your address is banned" + (f": {ban.reason}" if ban.reason else ""),
            )
        return len(covered)

    def _wallops(self, s: Session, cmd: c.Wallops) -> None:
        self._need_oper(s, "wallops")
        record(self.counts, s, "wallops")
        self.wallops(s.nick or "", cmd.text)
        self.hub.broker.publish(w.Wallops(self.hub.broker.node, s.nick or "", cmd.text))

    def wallops(self, by: str, text: str) -> None:
        deliver([x for x in self.hub.nicks.values() if x.oper], e.Wallops(by, text))

    # --- notes from other nodes (through `Moderation.apply_note`, which logs them) -----------
    def apply_note(self, note: w.Killed | w.ServerBanned | w.Wallops) -> None:
        match note:
            case w.Killed():
                target = self.hub.nicks.get(fold(note.nick))
                if target is not None:
                    self.kill(target, note.by, note.reason)
            case w.ServerBanned():
                if note.until:
                    self.server_ban(m.ServerBan(note.net, note.until, note.reason, note.by))
                elif self.server_bans.pop(note.net, None) is not None:
                    self.persist(self.server_bans)
            case w.Wallops():
                self.wallops(note.by, note.text)

    def state(self, node: str) -> list[w.Note]:
        """The live server bans, for a node (re)joining the cluster."""
        now = self.hub.clock()
        return [
            w.ServerBanned(node, ban.net, ban.until, ban.reason, ban.by)
            for ban in self.server_bans.values()
            if ban.until > now
        ]


@functools.cache
def _decoy() -> str:
    """Checked for an unknown operator name, so a wrong name costs what a wrong password does."""
    return operhash.hash_password("no such operator", b"0123456789abcdef")
