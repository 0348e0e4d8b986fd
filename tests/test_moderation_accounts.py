"""An operator's status follows its account (issue 17): whoever was made operator while
identified is an operator again on rejoining or identifying, in every dialect, through a
restart where a store is configured, and on another cluster node; nobody else with the nick
is. Real sockets and real server processes; every step awaits a line, with a timeout."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chat.net.server import ChatServer
from tests.helpers import TextClient, running_server
from tests.ircclient import IrcClient
from tests.natsd import NatsServer
from tests.test_accounts_nodes import start_node

PASSWORD = "correct horse battery"
RESTORED = r"^\* chat\.server sets mode \+o alice on #den$"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ChatServer]:
    async with running_server(
        accounts=True, data_dir=str(tmp_path), nick_grace=30.0, irc=True, irc_port=0
    ) as srv:
        yield srv


async def owner(port: int) -> TextClient:
    """alice, registered, operator of #den, which she made."""
    alice = await TextClient.login(port, "alice")
    await alice.send(f"/register {PASSWORD}")
    await alice.expect("identified as alice")
    await alice.send("/join #den")
    await alice.expect(r"^\* #den \(1\): @alice$")
    return alice


async def comes_back(port: int) -> TextClient:
    """alice again, in a new connection: warned that the nick is registered, not identified."""
    alice = await TextClient.connect(port)
    await alice.expect("pick a nick")
    await alice.send("alice")
    await alice.expect("alice is a registered nick")
    return alice


async def test_an_operator_who_left_is_restored_on_identify(server: ChatServer) -> None:
    alice = await owner(server.port)
    bob = await TextClient.login(server.port, "bob")
    await bob.send("/join #den")
    await bob.expect(r"^\* #den \(2\): @alice, bob$")
    await alice.close()
    await bob.expect(r"^\* alice quit")
    again = await comes_back(server.port)
    await again.send("/join #den")
    await again.expect(r"^\* #den \(2\): bob, alice$")  # not identified: no operator
    await again.send("/kick #den bob")
    assert (await again.expect("^!")).startswith("! not-operator")
    await again.send(f"/identify alice {PASSWORD}")
    await again.expect(RESTORED)
    await bob.expect(RESTORED)
    await again.send("/mode #den +t")  # an operator again
    await bob.expect(r"^\* alice sets mode \+t on #den$")
    # identified, she is an operator again on rejoining, at once
    await again.send("/part #den")
    await bob.expect(r"^\* alice left #den")
    await again.send("/join #den")
    await bob.expect(RESTORED)
    assert server.stats.moderation["op-restored"] == 2
    for client in (again, bob):
        await client.close()


async def test_the_nick_without_the_account_gets_nothing(server: ChatServer) -> None:
    alice = await owner(server.port)
    bob = await TextClient.login(server.port, "bob")
    await bob.send("/join #den")
    await alice.send("/quit")
    await bob.expect(r"^\* alice quit")
    squatter = await comes_back(server.port)  # the nick, within its grace, no password
    await squatter.send("/join #den")
    await squatter.expect(r"^\* #den \(2\): bob, alice$")
    await squatter.send("/mode #den +i")
    assert (await squatter.expect("^!")).startswith("! not-operator")
    await squatter.send(f"/identify alice {PASSWORD}x")
    assert (await squatter.expect("^!")).startswith("! auth-failed")
    await squatter.send("/who #den")
    await squatter.expect(r"^\* #den \(2\): bob, alice$")
    assert server.stats.moderation["op-restored"] == 0
    for client in (squatter, bob):
        await client.close()


async def test_a_deopped_account_is_forgotten_and_irc_sees_the_server_restore(
    server: ChatServer,
) -> None:
    alice = await owner(server.port)
    port = server.irc_port
    assert port
    irc = await IrcClient.login(port, "ircbob")
    await irc.send("JOIN", "#den")
    await irc.expect("366", lambda m: m.params[1] == "#den")
    await alice.send("/part #den")
    await alice.send("/join #den")
    restored = await irc.expect("MODE")
    assert (restored.source, restored.params) == ("chat.server", ["#den", "+o", "alice"])
    await alice.send("/deop alice")  # she gives it up: her account is no longer the room's
    await irc.expect("MODE", lambda m: m.params[1] == "-o")
    await alice.send("/part #den")
    await alice.send("/join #den")
    await alice.expect(r"^\* #den \(2\): ircbob, alice$")
    await alice.send("/op alice")
    assert (await alice.expect("^!")).startswith("! not-operator")
    await alice.close()
    await irc.close()


async def test_a_kept_room_is_its_operators_accounts_after_a_restart(tmp_path: Path) -> None:
    db = str(tmp_path / "history.db")
    async with running_server(accounts=True, data_dir=str(tmp_path), history_db=db) as srv:
        alice = await owner(srv.port)
        await alice.send("/mode #den +t")
        await alice.expect(r"sets mode \+t on #den")
        await alice.close()
    async with running_server(accounts=True, data_dir=str(tmp_path), history_db=db) as srv:
        mallory = await TextClient.login(srv.port, "mallory")
        await mallory.send("/join #den")  # first in: the room remembers alice's account
        await mallory.expect(r"^\* #den \(1\): mallory$")
        await mallory.send("/mode #den -t")
        assert (await mallory.expect("^!")).startswith("! not-operator")
        alice = await comes_back(srv.port)
        await alice.send(f"/identify alice {PASSWORD}")
        await alice.expect("identified as alice")
        await alice.send("/join #den")
        await alice.expect(RESTORED)
        await mallory.expect(RESTORED)
        for client in (mallory, alice):
            await client.close()


async def test_an_operator_is_restored_on_another_node(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    a = await start_node(nats_server, "a", tmp_path)
    b = await start_node(nats_server, "b", tmp_path)
    try:
        alice = await owner(a.port)
        bob = await TextClient.login(b.port, "bob")
        await bob.send("/join #den")
        await bob.expect(r"^\* #den \(2\): ")
        await alice.expect(r"^\* bob joined #den")
        await alice.send("/quit")
        await bob.expect(r"^\* alice quit")
        await b.log_event("accounts.learned", lambda entry: entry["account"] == "alice")
        again = await comes_back(b.port)  # through the other node
        await again.send("/join #den")
        await again.expect(r"^\* #den \(2\): ")
        await again.send(f"/identify alice {PASSWORD}")
        await again.expect(RESTORED)
        await bob.expect(RESTORED)
        await again.send("/kick #den bob")
        await bob.expect(r"^\* bob was kicked from #den by alice")
        await again.close()
        await bob.close()
    finally:
        for node in (a, b):
            await node.stop()


async def test_a_ban_by_account_holds_through_another_node(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    a = await start_node(nats_server, "a", tmp_path)
    b = await start_node(nats_server, "b", tmp_path)
    try:
        judy = await TextClient.login(b.port, "judy")
        await judy.send(f"/register {PASSWORD}")
        await judy.expect("identified as judy")
        await judy.send("/quit")
        await judy.closed()
        alice = await owner(a.port)
        await alice.send("/ban #den $a:judy")
        await alice.expect(r"sets mode \+b \$a:judy on #den")
        watcher = await TextClient.login(b.port, "watcher")  # node b learns of #den's ban
        await watcher.send("/join #den")
        await watcher.expect(r"^\* #den \(2\): ")
        other = await TextClient.login(b.port, "notjudy")  # judy under another nick, on b
        await other.send(f"/identify judy {PASSWORD}")
        await other.expect("identified as judy")
        await other.send("/join #den")
        assert (await other.expect("^!")).startswith("! banned:")
        for client in (alice, watcher, other):
            await client.close()
    finally:
        for node in (a, b):
            await node.stop()
