"""Accounts in real `chat-server` processes: they survive a restart (SQLite in --data-dir),
the logs of a real process never hold a password, and across two cluster nodes on a real
nats-server (JetStream KV) an account registered on one node protects its nick on the other.

Nothing sleeps to wait: each step awaits a line or a log event with a timeout.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import JsonClient, ServerProcess, TextClient
from tests.natsd import NatsServer

SECRET = "tulip-kettle-9032"
GRACE = "1.5"


async def test_accounts_survive_a_restart_and_never_log_a_password(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    first = await ServerProcess.start("--accounts", "--data-dir", data, "--nick-grace", GRACE)
    try:
        alice = await TextClient.login(first.port, "alice")
        await alice.send(f"/register {SECRET}")
        await alice.expect("identified as alice")
        bob = await JsonClient.login(first.port, "bob")
        await bob.send_json(type="identify", account="alice", password=SECRET + "!")
        assert (await bob.event("error"))["code"] == "auth-failed"
        await first.log_event("account.failed")
        await alice.close()
        await bob.close()
    finally:
        assert await first.stop() == 0
    second = await ServerProcess.start("--accounts", "--data-dir", data, "--nick-grace", GRACE)
    try:
        opened = await second.log_event("accounts.opened")
        assert opened["accounts"] == 1
        squatter = await TextClient.connect(second.port)
        await squatter.expect("pick a nick")
        await squatter.send("alice")
        await squatter.expect("alice is a registered nick")
        await squatter.expect(r"now known as Guest\d{5}")
        back = await JsonClient.login(second.port, "alice")
        await back.send_json(type="identify", password=SECRET)
        assert (await back.event("account"))["event"] == "identified"
        await second.log_event("account.identified")
        await squatter.close()
        await back.close()
    finally:
        assert await second.stop() == 0
    logged = [json.dumps(entry) for entry in first.logs + second.logs]
    events = {json.loads(line)["event"] for line in logged}
    assert {"account.registered", "account.failed", "account.identified"} <= events
    assert {"account.protected", "account.renamed"} <= events
    assert not any(SECRET in line for line in logged)


async def start_node(nats: NatsServer, name: str, data: Path) -> ServerProcess:
    node = await ServerProcess.start(
        "--nats", nats.url, "--node-name", name, "--node-ttl", "2", "--accounts",
        "--data-dir", str(data / name), "--nick-grace", GRACE,
    )  # fmt: skip
    await node.log_event("cluster.connected")
    await node.log_event("accounts.opened")
    return node


async def test_an_account_registered_on_one_node_protects_its_nick_on_another(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    a = await start_node(nats_server, "a", tmp_path)
    b = await start_node(nats_server, "b", tmp_path)
    try:
        carol = await TextClient.login(a.port, "carol")
        await carol.send(f"/register {SECRET}")
        await carol.expect("identified as carol")
        await carol.send("/quit")
        await carol.closed()
        # b learns of the account through the bucket's watch: a broker hop
        await b.log_event("accounts.learned", lambda entry: entry["account"] == "carol")
        squatter = await TextClient.connect(b.port)
        await squatter.expect("pick a nick")
        await squatter.send("carol")
        await squatter.expect("carol is a registered nick")
        await squatter.expect(r"now known as Guest\d{5}")
        # identify on b against the account stored by a; a wrong password is refused
        dan = await JsonClient.login(b.port, "dan")
        await dan.send_json(type="identify", account="carol", password="wrong-password")
        assert (await dan.event("error"))["code"] == "auth-failed"
        await dan.send_json(type="identify", account="carol", password=SECRET)
        assert (await dan.event("account"))["account"] == "carol"
        # an account registered on b cannot be registered again on a
        other = await TextClient.login(b.port, "erin")
        await other.send(f"/register {SECRET}")
        await other.expect("identified as erin")
        await other.send("/quit")
        await other.closed()
        await a.log_event("accounts.learned", lambda entry: entry["account"] == "erin")
        taker = await JsonClient.connect(a.port)
        await taker.send_json(type="hello", version=1, nick="erin")
        await taker.event("notice", lambda ev: ev["code"] == "nick-protected")
        await taker.send_json(type="register", password=SECRET + "2")
        assert (await taker.event("error"))["code"] == "account-exists"
        for client in (squatter, dan, taker):
            await client.close()
    finally:
        for node in (a, b):
            await node.stop()
    logged = [json.dumps(entry) for entry in a.logs + b.logs]
    assert not any(SECRET in line for line in logged)
