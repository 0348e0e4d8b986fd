"""The account rules without sockets: throttles on an injected clock, the rename after the
grace, and the seam for moderation (`session.account`, `Accounts.listeners`); plus the
account counters in `/stats` and `/metrics`."""

from __future__ import annotations

import random

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from chat.core.accountjobs import Create, Outcome, Verify
from chat.core.accounts import AccountPolicy, Accounts
from chat.core.auththrottle import Throttle
from chat.core.hub import Hub
from chat.core.session import Session
from chat.protocol import commands as c
from chat.protocol.jsonl import JSON
from chat.settings import Settings
from chat.sidecar.embed import running_sidecar
from tests.helpers import TIMEOUT, TextClient, running_server


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def session(conn_id: int, ip: str = "10.0.0.1") -> Session:
    s = Session(conn_id, f"{ip}:1", 100, 1 << 20, ip)
    s.codec = JSON
    return s


def test_throttle_refills_on_the_injected_clock() -> None:
    policy = AccountPolicy(address_rate=1.0, address_burst=2, account_rate=0.5, account_burst=1)
    t = Throttle(policy)
    assert t.wait("a", "acct", 0.0) == 0
    t.failed("a", "acct", 0.0)
    assert t.wait("b", "acct", 0.0) == 2.0  # the account's bucket: 1 token, 0.5/s
    assert t.wait("a", "other", 0.0) == 0  # the address still has one
    t.failed("a", "other", 0.0)
    assert t.wait("a", "third", 0.0) == 1.0  # the address's bucket is empty now
    assert t.wait("a", "third", 1.0) == 0
    assert t.wait("b", "acct", 2.0) == 0
    t.succeeded("c", "acct")
    t.failed("b", "acct", 2.0)
    assert t.wait("c", "acct", 2.0) == 0  # c identified to acct before: it is not held up
    assert t.wait("b", "acct", 2.0) > 0


def test_grace_rename_and_the_moderation_seam() -> None:
    clock = Clock()
    hub = Hub(monotonic=clock)
    accounts = Accounts(hub, AccountPolicy(grace=30.0), rng=random.Random(7))
    scheduled: list[float] = []
    accounts.schedule = lambda s, delay: scheduled.append(delay)
    identified: list[tuple[int, str]] = []
    accounts.listeners.append(lambda s, account: identified.append((s.conn_id, account)))
    accounts.known("alice")
    squatter = session(1)
    hub.connect(squatter)
    hub.handle(squatter, c.Hello("Alice", 1))
    assert squatter.guard == 130.0 and scheduled == [30.0]
    clock.now = 120.0
    assert accounts.expire(squatter) is None and scheduled[-1] == 10.0  # not yet
    clock.now = 130.0
    rename = accounts.expire(squatter)
    assert rename is not None and rename.nick.startswith("Guest")
    hub.handle(squatter, rename)
    assert squatter.nick == rename.nick and not squatter.guard
    assert accounts.expire(squatter) is None  # the retry finds nothing to do
    lookalike = session(9)
    hub.connect(lookalike)
    hub.handle(lookalike, c.Hello("\uff41\uff4c\uff49\uff43\uff45", 1))  # fullwidth "alice"
    assert lookalike.folded == "alice" and lookalike.guard  # NFKC: it *is* alice, protected
    hub.disconnect(lookalike, "quit")
    # the owner: identified once the transport says the password was right
    owner = session(2)
    hub.connect(owner)
    hub.handle(owner, c.Hello("alice", 1))
    hub.handle(owner, c.Identify("a password"))
    assert owner.waiting == Verify("alice", "a password")
    assert "a password" not in repr(owner.waiting)
    job, owner.waiting = owner.waiting, None
    accounts.finish(owner, job, Outcome.OK)
    assert owner.account == "alice" and not owner.guard
    assert identified == [(2, "alice")]
    assert hub.stats.accounts["renamed"] == 1 and hub.stats.accounts["identified"] == 1
    # registering: a new nick only, once
    new = session(3)
    hub.connect(new)
    hub.handle(new, c.Hello("bob", 1))
    hub.handle(new, c.Register("long enough"))
    assert new.waiting == Create("bob", "bob", "long enough")
    created, new.waiting = new.waiting, None
    assert created is not None
    accounts.finish(new, created, Outcome.EXISTS)
    assert new.account is None and "bob" in accounts.registered


async def test_account_events_in_stats_and_metrics(tmp_path: object) -> None:
    async with (
        running_server(accounts=True, data_dir=str(tmp_path)) as srv,
        running_sidecar(srv) as sidecar,
        httpx.AsyncClient(base_url=sidecar.url, trust_env=False, timeout=TIMEOUT) as http,
    ):
        alice = await TextClient.login(srv.port, "alice")
        await alice.send("/register a good password")
        await alice.expect("identified as alice")
        bob = await TextClient.login(srv.port, "bob")
        await bob.send("/identify alice wrong")
        await bob.expect("auth-failed")
        await bob.close()
        stats = (await http.get("/stats")).json()
        assert stats["accounts"] == {"registered": 1, "failed": 1}
        text = (await http.get("/metrics")).text
        family = next(
            f for f in text_string_to_metric_families(text) if f.name == "chat_account_events"
        )
        got = {s.labels["event"]: s.value for s in family.samples if s.name.endswith("_total")}
        assert got == {"registered": 1.0, "failed": 1.0}
        await alice.close()


def test_account_settings_have_defaults_ranges_and_variables() -> None:
    s = Settings.from_args([], environ={})
    assert (s.accounts, s.data_dir, s.nick_grace) == (False, "chat-data", 30.0)
    s = Settings.from_args(
        ["--accounts"], environ={"CHAT_DATA_DIR": "/srv/chat", "CHAT_NICK_GRACE": "5"}
    )
    assert (s.accounts, s.data_dir, s.nick_grace) == (True, "/srv/chat", 5.0)
    for bad in ("0", "3601", "nan"):
        with pytest.raises(SystemExit):
            Settings.from_args(["--nick-grace", bad], environ={})
    help_text = Settings.parser(environ={}).format_help()
    assert "--accounts" in help_text and "CHAT_NICK_GRACE" in help_text
