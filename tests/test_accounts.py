"""Accounts over real sockets: register and identify in the three dialects (IRC: SASL PLAIN
over TLS, PASS, REGISTER), nick protection with its grace rename, throttles per address and
per account, the bounded hashing pool, and accounts-off without --accounts.

Nothing sleeps to wait: every step awaits a line with a timeout; the grace is short here.
Attackers come from other loopback addresses (127.0.0.2, ...) to tell addresses apart.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
import trustme

from chat.core.accountjobs import Create, Outcome, Verify
from chat.core.accounts import AccountPolicy
from chat.core.auththrottle import Throttle
from chat.net.accountdb import AccountService, Hasher, SqliteAccounts
from chat.net.server import ChatServer
from tests.helpers import JsonClient, LineClient, TextClient, running_server
from tests.ircclient import IrcClient

PASSWORD = "correct horse battery"
GRACE = 1.5


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ChatServer]:
    async with running_server(
        accounts=True, data_dir=str(tmp_path), nick_grace=GRACE, irc=True, irc_port=0
    ) as srv:
        yield srv


async def text_from(port: int, address: str, nick: str) -> TextClient:
    """A text client from another loopback address (another attacker, another owner)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(address, 0))
    client = TextClient(reader, writer)
    await client.expect("pick a nick")
    await client.send(nick)
    await client.expect(r"^\* welcome")
    return client


async def register_text(port: int, nick: str, password: str = PASSWORD) -> TextClient:
    client = await TextClient.login(port, nick)
    await client.send(f"/register {password}")
    await client.expect(rf"^\* you are now identified as {nick.lower()} \(registered\)$")
    return client


async def test_text_register_then_identify_in_another_connection(server: ChatServer) -> None:
    alice = await TextClient.login(server.port, "alice")
    await alice.send("/help")  # with --accounts, /help lists them
    await alice.expect(r"^\* /register <password>")
    await alice.expect(r"^\* /identify \[account\] <password>")
    await alice.send("/register short")
    assert (await alice.expect("^!")).startswith("! weak-password:")
    await alice.send(f"/register {PASSWORD}")
    await alice.expect(r"^\* you are now identified as alice \(registered\)$")
    await alice.send(f"/register {PASSWORD}")
    assert (await alice.expect("^!")).startswith("! already-identified:")
    await alice.close()
    # alice again: warned, identifies with the password (spaces and all), keeps her nick
    again = await TextClient.connect(server.port)
    await again.expect("pick a nick")
    await again.send("alice")
    await again.expect(r"^\* alice is a registered nick: /identify <password> within")
    await again.send(f"/identify {PASSWORD.replace(' ', '')}")  # one word: the password
    assert (await again.expect("^!")).startswith("! auth-failed: wrong account or password")
    await again.send(f"/identify alice {PASSWORD}")
    await again.expect(r"^\* you are now identified as alice \(identified\)$")
    await again.send("/ping after")  # past the grace: still alice, never renamed
    await again.expect(r"^\* pong after$")
    session = next(c for c in server.clients.values() if c.nick == "alice")
    assert session.account == "alice" and not session.guard
    assert server.stats.accounts["registered"] == 1
    assert server.stats.accounts["identified"] == 1
    assert server.stats.accounts["failed"] == 1
    await again.close()


async def test_json_register_identify_and_the_hint(server: ChatServer) -> None:
    bob = await JsonClient.connect(server.port)
    await bob.send_json(type="hello", version=1, nick="Bob")
    hint = await bob.event("notice", lambda ev: ev["code"] == "account-hint")
    assert "/register" in hint["text"]
    await bob.send_json(type="register", password=PASSWORD)
    assert await bob.event("account") == {"type": "account", "event": "registered",
                                          "account": "bob"}  # fmt: skip
    await bob.close()
    other = await JsonClient.login(server.port, "carol")
    await other.send_json(type="identify", account="BOB", password=PASSWORD)
    ev = await other.event("account")
    assert ev["event"] == "identified" and ev["account"] == "bob"
    await other.send_json(type="identify", password=PASSWORD)
    assert (await other.event("error"))["code"] == "already-identified"
    await other.send_json(type="identify")
    assert (await other.event("error"))["code"] == "bad-command"
    await other.close()


async def test_a_registered_nick_taken_without_identifying_is_renamed(
    server: ChatServer,
) -> None:
    owner = await register_text(server.port, "dave")
    await owner.send("/quit")
    await owner.closed()
    watcher = await JsonClient.login(server.port, "watcher")
    squatter = await JsonClient.connect(server.port)
    await squatter.send_json(type="hello", version=1, nick="dave")
    warned = await squatter.event("notice", lambda ev: ev["code"] == "nick-protected")
    assert f"within {GRACE:g}s" in warned["text"]
    renamed = await squatter.event("notice", lambda ev: ev["code"] == "nick-renamed")
    changed = await squatter.event("nick")
    assert changed["old"] == "dave" and changed["new"].startswith("Guest")
    assert changed["new"] in renamed["text"]
    assert (await watcher.event("nick"))["new"] == changed["new"]  # the room sees it too
    # the owner can now come back as dave
    back = await TextClient.connect(server.port)
    await back.expect("pick a nick")
    await back.send("dave")
    await back.expect(r"registered nick")
    await back.send(f"/identify dave {PASSWORD}")
    await back.expect(r"identified as dave \(identified\)")
    assert server.stats.accounts["renamed"] == 1
    for client in (watcher, squatter, back):
        await client.close()


async def test_renaming_to_a_registered_nick_is_protected_too(server: ChatServer) -> None:
    erin = await register_text(server.port, "erin")
    await erin.send("/quit")
    await erin.closed()
    mallory = await TextClient.login(server.port, "mallory")
    await mallory.expect(r"mallory is not registered")
    await mallory.send("/nick erin")  # erin is free (she left) but registered
    await mallory.expect(r"^\* mallory is now known as erin$")
    await mallory.expect(r"^\* erin is a registered nick")
    await mallory.expect(r"^\* erin is now known as Guest\d{5}$")
    await mallory.close()


async def test_wrong_passwords_are_throttled_per_account_and_per_address(
    server: ChatServer,
) -> None:
    # The default bucket sizes, refilling too slowly to matter on a busy machine.
    policy = AccountPolicy(address_rate=1e-6, account_rate=1e-6)
    assert server.hub.accounts is not None
    server.hub.accounts.throttle = Throttle(policy)
    owner = await register_text(server.port, "frank")  # from 127.0.0.1: trusted for frank
    other = await register_text(server.port, "grace")
    attacker = await text_from(server.port, "127.0.0.2", "eve")
    for _ in range(5):  # the account's burst
        await attacker.send("/identify frank wrong-password")
        assert (await attacker.expect("^!")).startswith("! auth-failed:")
    await attacker.send(f"/identify frank {PASSWORD}")  # even the right one: throttled
    throttled = await attacker.expect("^!")
    assert throttled.startswith("! auth-throttled: too many failed attempts: try again in")
    # another address, no failure of its own: frank's bucket is empty for it as well
    third = await text_from(server.port, "127.0.0.3", "trent")
    await third.send(f"/identify frank {PASSWORD}")
    assert (await third.expect("^!")).startswith("! auth-throttled:")
    # the owner's address identified to frank before: the attacker's failures cost it nothing
    await owner.send("/quit")
    await owner.closed()
    home = await TextClient.login(server.port, "frank2")
    await home.send(f"/identify frank {PASSWORD}")
    await home.expect(r"identified as frank \(identified\)")
    # the attacker's own address: 10 failures in all (on any accounts), then nothing from it
    for account in ("grace", "grace", "grace", "grace", "nobody1"):
        await attacker.send(f"/identify {account} wrong-password")
        assert (await attacker.expect("^!")).startswith("! auth-failed:")
    await attacker.send("/identify nobody2 wrong-password")  # a fresh account: the address
    assert (await attacker.expect("^!")).startswith("! auth-throttled:")
    await other.send("/ping grace is fine")  # grace herself was never disturbed
    await other.expect("pong grace is fine")
    assert server.stats.accounts["throttled"] == 3
    assert server.stats.accounts["failed"] == 10
    for client in (other, attacker, third, home):
        await client.close()


async def test_accounts_are_off_by_default() -> None:
    async with running_server(irc=True, irc_port=0) as srv:
        alice = await TextClient.login(srv.port, "alice")
        await alice.send(f"/register {PASSWORD}")
        assert (await alice.expect("^!")).startswith("! accounts-off:")
        await alice.send(f"/identify {PASSWORD}")
        assert (await alice.expect("^!")).startswith("! accounts-off:")
        irc = await IrcClient.connect(srv.irc_port)
        await irc.send("CAP", "LS", "302")
        ls = await irc.expect("CAP")
        assert "sasl" not in ls.params[-1]
        await irc.close()
        await alice.close()


async def test_the_hashing_pool_is_bounded(tmp_path: Path) -> None:
    store = SqliteAccounts(str(tmp_path))
    await store.open(lambda name: None)
    service = AccountService(store, Hasher(workers=1, limit=2))
    jobs = [service.run(Create(f"u{i}", f"u{i}", PASSWORD)) for i in range(5)]
    outcomes = await asyncio.wait_for(asyncio.gather(*jobs), 30)
    assert outcomes.count(Outcome.OK) == 2 and outcomes.count(Outcome.BUSY) == 3
    assert await service.run(Verify("u0", PASSWORD)) is Outcome.OK
    assert await service.run(Verify("u0", "nope")) is Outcome.WRONG
    assert await service.run(Create("u0", "u0", PASSWORD)) is Outcome.EXISTS
    await service.close()


# --- IRC -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def cert_files(ca: trustme.CA, tmp_path: Path) -> Iterator[tuple[str, str]]:
    cert = ca.issue_cert("localhost", "127.0.0.1")
    chain, key = tmp_path / "chain.pem", tmp_path / "key.pem"
    cert.private_key_pem.write_to_path(key)
    chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    yield str(chain), str(key)


@pytest.fixture
async def tls_server(cert_files: tuple[str, str], tmp_path: Path) -> AsyncIterator[ChatServer]:
    chain, key = cert_files
    async with running_server(
        accounts=True, data_dir=str(tmp_path / "data"), nick_grace=GRACE, irc=True,
        irc_port=0, irc_tls_port=0, tls_port=0, tls_cert=chain, tls_key=key,
    ) as srv:  # fmt: skip
        yield srv


async def irc_tls(port: int, ca: trustme.CA) -> IrcClient:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, server_hostname="127.0.0.1"
    )
    return IrcClient(reader, writer)


def plain(account: str, password: str) -> str:
    return base64.b64encode(f"\0{account}\0{password}".encode()).decode()


async def sasl(client: IrcClient, nick: str, account: str, password: str) -> list[Any]:
    """CAP LS 302, REQ sasl, AUTHENTICATE PLAIN and the payload; the lines up to 903/904."""
    await client.send("CAP", "LS", "302")
    ls = await client.expect("CAP", lambda m: m.params[1] == "LS")
    assert "sasl=PLAIN" in ls.params[-1].split()
    await client.send("NICK", nick)
    await client.send("USER", nick, "0", "*", "tester")
    await client.send("CAP", "REQ", "sasl")
    assert (await client.expect("CAP")).params[1] == "ACK"
    await client.send("AUTHENTICATE", "PLAIN")
    assert (await client.expect("AUTHENTICATE")).params == ["+"]
    await client.send("AUTHENTICATE", plain(account, password))
    lines = []
    while True:
        msg = await client.message()
        lines.append(msg)
        if msg.command in ("903", "904"):
            return lines


async def test_irc_sasl_plain_over_tls(tls_server: ChatServer, ca: trustme.CA) -> None:
    owner = await register_text(tls_server.port, "heidi")
    await owner.send("/quit")
    await owner.closed()
    wrong = await irc_tls(tls_server.irc_tls_port, ca)
    lines = await sasl(wrong, "heidi", "heidi", "not the password")
    assert lines[-1].command == "904"
    await wrong.close()
    client = await irc_tls(tls_server.irc_tls_port, ca)
    lines = await sasl(client, "heidi", "heidi", PASSWORD)
    assert [m.command for m in lines[-2:]] == ["900", "903"]
    assert lines[-2].params[2] == "heidi"
    await client.send("AUTHENTICATE", "PLAIN")
    assert (await client.expect("907")).params[0] == "*"
    await client.send("CAP", "END")
    burst = await client.until("376")
    assert burst[0].command == "001"
    await client.expect("366")
    await client.send("PING", "still-heidi")  # no 902, no rename: she is identified
    pong = await client.expect("PONG")
    assert pong.params[-1] == "still-heidi"
    session = next(c for c in tls_server.clients.values() if c.nick == "heidi")
    assert session.account == "heidi"
    await client.close()


async def test_irc_sasl_is_refused_in_plaintext_before_the_password(
    tls_server: ChatServer,
) -> None:
    client = await IrcClient.connect(tls_server.irc_port)
    await client.send("CAP", "LS", "302")
    ls = await client.expect("CAP", lambda m: m.params[1] == "LS")
    assert not any(cap.startswith("sasl") for cap in ls.params[-1].split())
    await client.send("CAP", "REQ", "sasl")
    assert (await client.expect("CAP")).params[1] == "NAK"
    await client.send("AUTHENTICATE", "PLAIN")
    failed = await client.expect("904")
    assert "TLS" in failed.params[-1]
    await client.close()


async def test_irc_sasl_abort_mechanisms_and_too_long(
    tls_server: ChatServer, ca: trustme.CA
) -> None:
    client = await irc_tls(tls_server.irc_tls_port, ca)
    await client.send("CAP", "LS", "302")
    await client.expect("CAP")
    await client.send("AUTHENTICATE", "SCRAM-SHA-256")
    assert (await client.expect("908")).params[1] == "PLAIN"
    await client.expect("904")
    await client.send("AUTHENTICATE", "PLAIN")
    await client.expect("AUTHENTICATE")
    await client.send("AUTHENTICATE", "*")
    await client.expect("906")
    await client.send("AUTHENTICATE", "PLAIN")
    await client.expect("AUTHENTICATE")
    for _ in range(4):
        await client.send("AUTHENTICATE", "A" * 400)
    await client.send("AUTHENTICATE", "AAAA")
    await client.expect("905")
    await client.send("AUTHENTICATE", "PLAIN")
    await client.expect("AUTHENTICATE")
    await client.send("AUTHENTICATE", "!!not base64!!")
    await client.expect("904")
    await client.send("AUTHENTICATE", "PLAIN")  # authzid names another account: refused
    await client.expect("AUTHENTICATE")
    await client.send("AUTHENTICATE", base64.b64encode(b"admin\0heidi\0pw").decode())
    await client.expect("904")
    await client.close()


async def test_irc_pass_identifies_and_register_registers(server: ChatServer) -> None:
    ivan = await IrcClient.connect(server.irc_port)
    await ivan.send("NICK", "ivan")
    await ivan.send("USER", "ivan", "0", "*", "Ivan")
    await ivan.until("376")
    await ivan.send("REGISTER", "someone-else", "*", PASSWORD)
    fail = await ivan.expect("FAIL")
    assert fail.params[:2] == ["REGISTER", "ACCOUNT_NAME_MUST_BE_NICK"]
    await ivan.send("REGISTER", "*", "*", "short")
    fail = await ivan.expect("FAIL")
    assert fail.params[:2] == ["REGISTER", "WEAK_PASSWORD"]
    await ivan.send("REGISTER", "*", "*", PASSWORD)
    assert (await ivan.expect("900")).params[2] == "ivan"
    success = await ivan.expect("REGISTER")
    assert success.params[:2] == ["SUCCESS", "ivan"]
    await ivan.send("QUIT")
    await ivan.closed()
    again = await IrcClient.connect(server.irc_port)
    await again.send("PASS", PASSWORD)
    await again.send("NICK", "ivan")
    await again.send("USER", "ivan", "0", "*", "Ivan")
    logged = await again.expect("900")
    assert logged.params[2] == "ivan"
    await again.close()
    squatter = await IrcClient.connect(server.irc_port)
    await squatter.send("PASS", "not-his-password")
    await squatter.send("NICK", "ivan")
    await squatter.send("USER", "x", "0", "*", "x")
    await squatter.expect("902")  # the nick is registered: identify or be renamed ...
    notice = await squatter.expect("NOTICE", lambda m: "auth-failed" in m.params[-1])
    assert "not-his-password" not in notice.format()  # ... and PASS was wrong
    renamed = await squatter.expect("NICK")
    assert renamed.params[0].startswith("Guest")
    await squatter.close()


# --- logs ------------------------------------------------------------------------------------


async def test_passwords_never_reach_the_logs(server: ChatServer) -> None:
    secret = "zebra-unicorn-4711"
    with structlog.testing.capture_logs() as logs:
        alice = await TextClient.login(server.port, "alice")
        await alice.send(f"/register {secret}")
        await alice.expect("identified as alice")
        await alice.send(f"/identify alice {secret}x")
        await alice.expect("^!")
        other = await JsonClient.login(server.port, "bob")
        await other.send_json(type="identify", account="alice", password=secret + "y")
        await other.event("error")
        await other.send_json(type="identify", account="alice", password=secret)
        await other.event("account")
        raw = await LineClient.connect(server.port)
        await raw.send(f'{{"type":"identify","password":"{secret}"}}')  # before hello
        await raw.expect("not-registered")
        for client in (alice, other, raw):
            await client.close()
    events = {entry["event"] for entry in logs}
    assert {"account.registered", "account.failed", "account.identified"} <= events
    assert not any(secret in repr(entry) for entry in logs)


async def test_a_ban_by_account_holds_whatever_the_nick(server: ChatServer) -> None:
    """The seam with moderation: `Session.account` is what `$a:` ban masks match."""
    (await register_text(server.port, "judy")).writer.close()
    op = await TextClient.login(server.port, "owner")
    await op.send("/join #club")
    await op.expect(r"^\* owner joined #club")
    await op.send("/ban #club $a:judy")
    await op.expect(r"\+b \$a:judy")
    other = await TextClient.login(server.port, "notjudy")
    await other.send("/join #club")  # not identified: not judy's account, in she comes
    await other.expect(r"^\* notjudy joined #club")
    await other.send("/part #club")
    await other.send(f"/identify judy {PASSWORD}")
    await other.expect("identified as judy")
    await other.send("/join #club")
    assert (await other.expect("^!")).startswith("! banned:")
    for client in (op, other):
        await client.close()
