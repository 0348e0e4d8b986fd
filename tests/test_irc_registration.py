"""IRC over a real socket: registration, CAP, ISUPPORT, PING/PONG both ways, QUIT and ERROR."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from chat.net.server import ChatServer
from tests.helpers import running_server
from tests.ircclient import IrcClient


@pytest.fixture
async def server() -> AsyncIterator[ChatServer]:
    async with running_server(irc=True, irc_port=0) as srv:
        yield srv


async def test_off_by_default() -> None:
    async with running_server() as srv:
        assert srv.irc_port == 0


async def test_registration_burst(server: ChatServer) -> None:
    alice = await IrcClient.connect(server.irc_port)
    await alice.send("PASS", "anything")  # ignored
    await alice.send("NICK", "alice")
    await alice.send("USER", "al", "0", "*", "Alice Liddell")
    lines = await alice.until("376")
    numerics = [m.command for m in lines]
    assert numerics[:5] == ["001", "002", "003", "004", "005"]
    for numeric in ("251", "254", "255", "375", "372", "376"):
        assert numeric in numerics
    assert all(m.params[0] == "alice" for m in lines)
    assert lines[0].params[1].endswith("alice!alice@chat")
    assert lines[3].params[1:4] == ["chat.server", lines[3].params[2], "i"]
    isupport = {
        token.partition("=")[0]: token.partition("=")[2]
        for m in lines
        if m.command == "005"
        for token in m.params[1:-1]
    }
    assert isupport["CASEMAPPING"] == "ascii"
    assert isupport["CHANTYPES"] == "#"
    assert isupport["NICKLEN"] == "24"
    assert isupport["CHANNELLEN"] == "33"
    assert isupport["TOPICLEN"] == "300"
    assert isupport["NETWORK"] == "chat"
    assert isupport["PREFIX"] == "(ov)@+"
    assert isupport["CHANMODES"] == "b,k,l,imnt"
    assert isupport["MODES"] == "6" and isupport["MAXLIST"] == "b:100"
    assert "UTF8ONLY" in isupport
    # then the default room, as for every dialect: JOIN, NAMES
    join = await alice.expect("JOIN")
    assert (join.source, join.params) == ("alice!alice@chat", ["#lobby"])
    names = await alice.expect("353")
    assert names.params == ["alice", "=", "#lobby", "alice"]
    assert (await alice.message()).command == "366"
    await alice.close()


async def test_user_before_nick_and_commands_before_registration(server: ChatServer) -> None:
    client = await IrcClient.connect(server.irc_port)
    await client.send("JOIN", "#x")
    assert (await client.message()).params == ["*", "You have not registered"]  # 451
    await client.send("USER", "u", "0", "*", "real")
    await client.send("PING", "early")
    pong = await client.expect("PONG")
    assert pong.params == ["chat.server", "early"]
    await client.send("NICK", "late")
    assert (await client.expect("001")).params[0] == "late"
    await client.close()


async def test_cap_negotiation_holds_registration(server: ChatServer) -> None:
    client = await IrcClient.connect(server.irc_port)
    await client.send("CAP", "LS", "302")
    await client.send("NICK", "capper")
    await client.send("USER", "c", "0", "*", "real")
    ls = await client.expect("CAP")
    assert ls.params[:2] == ["*", "LS"]
    offered = ls.params[2].split()
    for cap in ("server-time", "message-tags", "echo-message"):
        assert cap in offered
    await client.send("CAP", "REQ", "server-time sasl")  # one unknown: all refused
    nak = await client.expect("CAP")
    assert nak.params == ["*", "NAK", "server-time sasl"]
    await client.send("CAP", "REQ", "server-time echo-message")
    assert (await client.expect("CAP")).params == ["*", "ACK", "server-time echo-message"]
    await client.send("CAP", "LIST")
    listed = await client.message()  # still no 001: CAP is open
    assert listed.command == "CAP" and listed.params[1] == "LIST"
    assert sorted(listed.params[2].split()) == ["echo-message", "server-time"]
    await client.send("CAP", "BOGUS")
    assert (await client.message()).command == "410"
    await client.send("CAP", "END")
    assert (await client.message()).command == "001"
    await client.send("CAP", "REQ", "-echo-message")  # after registration, too
    assert (await client.expect("CAP")).params == ["capper", "ACK", "-echo-message"]
    await client.close()


async def test_nick_errors_before_registration(server: ChatServer) -> None:
    alice = await IrcClient.login(server.irc_port, "alice")
    client = await IrcClient.connect(server.irc_port)
    await client.send("NICK", "9lives")
    assert (await client.message()).params == ["*", "9lives", "Erroneous nickname"]  # 432
    await client.send("NICK", "ALICE")  # nicks fold with str.lower: CASEMAPPING=ascii
    taken = await client.message()
    assert (taken.command, taken.params[:2]) == ("433", ["*", "ALICE"])
    await client.send("NICK")
    assert (await client.message()).command == "431"
    await client.send("USER", "u", "0", "*", "real")
    await client.send("NICK", "bob")
    assert (await client.expect("001")).params[0] == "bob"
    await client.send("USER", "again", "0", "*", "real")
    assert (await client.expect("462")).params[0] == "bob"
    await client.send("FROB")
    assert (await client.expect("421")).params[:2] == ["bob", "FROB"]
    await asyncio.gather(alice.close(), client.close())


async def test_user_needs_four_params(server: ChatServer) -> None:
    client = await IrcClient.connect(server.irc_port)
    await client.send("USER", "u", "0")
    assert (await client.message()).params[:2] == ["*", "USER"]  # 461
    await client.close()


async def test_ping_pong_both_ways() -> None:
    """The server pings an idle IRC client before the idle cut; a PONG keeps it."""
    async with running_server(irc=True, irc_port=0, idle_timeout=1.0) as srv:
        client = await IrcClient.login(srv.irc_port, "sleepy")
        await client.send("PING", "token 1")
        assert (await client.expect("PONG")).params == ["chat.server", "token 1"]
        for _ in range(2):  # past the timeout twice: each PONG counts as activity
            ping = await client.expect("PING")
            assert ping.params == ["chat.server"]
            await client.send("PONG", ping.params[0])
        silent = await client.closed()  # now silent: the idle cut, with ERROR first
        assert silent[-1].command == "ERROR"
        assert "idle" in silent[-1].params[0]
        await client.close()


async def test_quit_sends_error_then_closes(server: ChatServer) -> None:
    alice = await IrcClient.login(server.irc_port, "alice")
    bob = await IrcClient.login(server.irc_port, "bob")
    await alice.expect("JOIN", lambda m: (m.source or "").startswith("bob!"))
    await bob.send("QUIT", "gone fishing")
    lines = await bob.closed()
    assert lines[-1].command == "ERROR"
    quit_ = await alice.expect("QUIT")
    assert (quit_.source, quit_.params) == ("bob!bob@chat", ["gone fishing"])
    await asyncio.gather(alice.close(), bob.close())


async def test_quit_before_registration(server: ChatServer) -> None:
    client = await IrcClient.connect(server.irc_port)
    await client.send("QUIT")
    assert [m.command for m in await client.closed()] == ["ERROR"]
    await client.close()


async def test_shutdown_says_error(server: ChatServer) -> None:
    client = await IrcClient.login(server.irc_port, "alice")
    await server.shutdown()
    lines = await client.closed()
    assert lines[-1].command == "ERROR"
    assert "shutting down" in lines[-1].params[0]
    await client.close()


async def test_tls_listener(tmp_path: object) -> None:
    import ssl
    from pathlib import Path

    import trustme  # a dev dependency, like every test's

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    base = Path(str(tmp_path))
    chain, key = base / "chain.pem", base / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(chain))
    cert.private_key_pem.write_to_path(str(key))
    options = {"irc": True, "irc_port": 0, "irc_tls_port": 0, "tls_port": 0}
    async with running_server(tls_cert=str(chain), tls_key=str(key), **options) as srv:
        assert srv.irc_tls_port and srv.irc_port
        context = ssl.create_default_context()
        ca.configure_trust(context)
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", srv.irc_tls_port, ssl=context, server_hostname="127.0.0.1"
        )
        client = IrcClient(reader, writer)
        await client.register("secure")
        await client.expect("366")
        await client.close()


async def test_refused_at_the_door_with_error() -> None:
    async with running_server(irc=True, irc_port=0, max_clients=1) as srv:
        first = await IrcClient.login(srv.irc_port, "first")
        second = await IrcClient.connect(srv.irc_port)
        lines = await second.closed()
        assert [m.command for m in lines] == ["ERROR"]
        assert "full" in lines[0].params[0]
        await asyncio.gather(first.close(), second.close())
