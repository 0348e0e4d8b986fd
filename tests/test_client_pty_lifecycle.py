"""The client's lifecycle seen from a pseudo-terminal (issue 13): leaving without a traceback,
registering with a bad, taken or missing nick, keeping a /nick across a reconnect, and a quiet
reconnect. Each test failed on the client before the fix."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import trustme

from tests.helpers import JsonClient, running_server
from tests.test_client_pty import client

TLS_TIMEOUT = 15.0


async def test_slash_quit_says_goodbye_and_exits_0(tmp_path: Path) -> None:
    async with (
        running_server() as srv,
        client(tmp_path, "--nick", "bob", "--port", str(srv.port)) as term,
    ):
        watcher = await JsonClient.login(srv.port, "watcher")
        await term.shows("connected as bob")
        term.child.send("/quit see you\r")
        assert await term.close() == 0
        assert b"Traceback" not in term.raw and b"Error" not in term.raw
        quit = await watcher.event("quit", lambda ev: ev["nick"] == "bob")
        assert quit["reason"] == "see you"


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[str, str, str]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    chain, key, ca_file = tmp_path / "chain.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.private_key_pem.write_to_path(key)
    chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    ca.cert_pem.write_to_path(ca_file)
    return str(chain), str(key), str(ca_file)


async def test_ctrl_d_over_tls_exits_0(tmp_path: Path, tls_files: tuple[str, str, str]) -> None:
    chain, key, ca_file = tls_files
    async with running_server(tls_cert=chain, tls_key=key, tls_port=0) as srv:
        watcher = await JsonClient.login(srv.port, "watcher")
        args = ("--nick", "bob", "--tls", "--tls-ca", ca_file, "--port", str(srv.tls_port))
        async with client(tmp_path, *args) as term:
            await term.shows("connected as bob", TLS_TIMEOUT)
            term.child.sendcontrol("d")
            assert await term.close() == 0
            assert b"Traceback" not in term.raw
            assert (await watcher.event("quit"))["nick"] == "bob"


async def test_the_toolbar_says_tls(tmp_path: Path, tls_files: tuple[str, str, str]) -> None:
    chain, key, ca_file = tls_files
    async with running_server(tls_cert=chain, tls_key=key, tls_port=0) as srv:
        args = ("--nick", "bob", "--tls-ca", ca_file, "--port", str(srv.tls_port))
        async with client(tmp_path, *args) as term:
            await term.until(lambda ls: "online tls" in ls[-1], TLS_TIMEOUT)
            term.child.sendcontrol("c")
            assert await term.close() == 0


async def test_a_bad_nick_asks_for_another_on_the_prompt(tmp_path: Path) -> None:
    async with (
        running_server() as srv,
        client(tmp_path, "--nick", "bad nick!", "--port", str(srv.port)) as term,
    ):
        await term.shows("'bad nick!' is not a valid nick: ")
        await term.until(lambda ls: "nick>" in ls and "pick a nick" in ls[-1])
        term.child.send("still bad!\r")  # refused locally, with the rule
        await term.shows("not a valid nick: 'still bad!' (1-24 of")
        term.child.send("/nick goodnick\r")
        await term.shows("connected as goodnick")
        await term.until(lambda ls: "online" in ls[-1] and "goodnick" in ls[-1])
        term.child.send("hello\r")  # and the prompt is an ordinary prompt again
        await term.until(lambda ls: any(line.endswith("<goodnick> hello") for line in ls))
        term.child.sendcontrol("d")
        assert await term.close() == 0


async def test_without_nick_the_client_asks_for_one(tmp_path: Path) -> None:
    async with running_server() as srv, client(tmp_path, "--port", str(srv.port)) as term:
        await term.shows("pick a nick (1-24 of")
        await term.until(lambda ls: "nick>" in ls)
        term.child.send("erin\r")
        await term.shows("connected as erin")
        term.child.sendcontrol("c")
        assert await term.close() == 0
        history = tmp_path / "chat" / "history"
        assert "erin" not in history.read_text()  # the nick prompt's answer is not history


async def test_a_taken_24_character_nick_falls_back_to_a_different_one(tmp_path: Path) -> None:
    nick = "x" * 23 + "_"  # nick[:23] + "_" is the nick itself: the old fallback looped
    async with running_server() as srv:
        holder = await JsonClient.login(srv.port, nick)
        async with client(tmp_path, "--nick", nick, "--port", str(srv.port)) as term:
            await term.shows(f"connected as {'x' * 22}__")
            term.child.sendcontrol("d")
            assert await term.close() == 0
        await holder.close()


async def test_nick_fallbacks_are_bounded_then_the_user_is_asked(tmp_path: Path) -> None:
    """A server that says nick-taken to every hello gets 1 + 3 hellos, then the user's nick."""
    hellos: list[str] = []
    arrived = asyncio.Event()

    async def taken_forever(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* welcome to chat! pick a nick:\n")
        while line := await reader.readline():
            msg = json.loads(line)
            if msg["type"] == "hello":
                hellos.append(msg["nick"])
                arrived.set()
                err = {"type": "error", "code": "nick-taken", "message": f"{msg['nick']} is taken"}
                writer.write(json.dumps(err).encode() + b"\n")

    server = await asyncio.start_server(taken_forever, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with client(tmp_path, "--nick", "bob", "--port", str(port)) as term:
            await term.until(lambda ls: "nick>" in ls and "pick a nick" in ls[-1])
            assert hellos == ["bob", "bob_", "bob__", "bob___"]
            term.child.send("zed\r")
            async with asyncio.timeout(5):
                while hellos[-1] != "zed":
                    arrived.clear()
                    await arrived.wait()
            assert hellos == ["bob", "bob_", "bob__", "bob___", "zed"]
            await term.shows("zed is taken: type a nick")  # a typed nick gets no fallback
            term.child.sendcontrol("c")
            assert await term.close() == 0
    finally:
        server.close()


async def test_a_nick_change_survives_a_reconnect(tmp_path: Path) -> None:
    async with running_server() as first:
        port = first.port
        holder = await JsonClient.login(port, "carol")
        async with client(tmp_path, "--nick", "carol", "--port", str(port)) as term:
            await term.shows("connected as carol_")
            term.child.send("/nick dave\r")
            await term.shows("carol_ is now known as dave")
            await holder.close()
            await first.shutdown()
            await term.shows("link lost")
            async with running_server(port=port) as second:
                watcher = await JsonClient.login(second.port, "watcher")
                await term.shows("back after")
                joined = await watcher.event("join", lambda ev: ev["nick"] != "watcher")
                assert joined["nick"] == "dave"
                await term.until(lambda ls: " dave " in ls[-1] and "online" in ls[-1])
                term.child.sendcontrol("d")
                assert await term.close() == 0


async def test_a_reconnect_is_one_line_down_one_line_back_and_attempts_in_the_toolbar(
    tmp_path: Path,
) -> None:
    async with running_server() as first:
        port = first.port
        async with client(tmp_path, "--nick", "bob", "--port", str(port)) as term:
            await term.until(lambda ls: "online" in ls[-1] and "#lobby (1)" in ls[-1])
            term.child.send("/join #py\r")
            await term.until(lambda ls: "#py (1)" in ls[-1])
            alice = await JsonClient.login(port, "alice")
            await alice.send_json(type="say", room="#lobby", text="while you read #py")
            await term.until(lambda ls: "1:#lobby+1 " in ls[-1])
            await first.shutdown()
            # Three failed attempts later: still one line, the attempts in the toolbar, and no
            # member count (it would be stale).
            lines = await term.until(lambda ls: "attempt 3" in ls[-1], 15)
            assert "OFFLINE" in lines[-1] and "#py (" not in lines[-1], lines[-1]
            assert term.count("link lost") == 1, lines
            assert sum("reconnect" in line or "cannot reach" in line for line in lines) == 1
            async with running_server(port=port) as second:
                lines = await term.shows("back after", 15)
                await term.until(lambda ls: "online" in ls[-1] and "#py (1)" in ls[-1])
                lines = term.lines()
                assert "1:#lobby+1 " in lines[-1]  # the rejoin neither switched nor read it
                assert term.count("back after") == 1 and term.count("link lost") == 1, lines
                assert "rejoining #lobby, #py" in next(x for x in lines if "back after" in x)
                assert term.count("bob joined #py") == 1, lines  # the rejoin is not shown
                assert term.count("#py (1): @bob") == 1, lines  # he made it: its operator
                watcher = await JsonClient.login(second.port, "watcher")
                await watcher.send_json(type="join", room="#py")
                await watcher.send_json(type="say", room="#py", text="welcome back")
                await term.shows("<watcher> welcome back")
                term.child.sendcontrol("d")
                assert await term.close() == 0


async def test_a_server_of_another_protocol_version_is_one_line_and_exit_2(tmp_path: Path) -> None:
    async def other_version(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        refusal = {"type": "error", "code": "bad-version", "message": "this server speaks 2"}
        writer.write(json.dumps(refusal).encode() + b"\n")
        await reader.read()  # until the client hangs up

    server = await asyncio.start_server(other_version, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with client(tmp_path, "--nick", "bob", "--port", str(port)) as term:
            assert await term.close() == 2
            assert b"Traceback" not in term.raw
            tail = term.raw.decode(errors="replace").rstrip().splitlines()[-1]
            assert tail.endswith(
                "chat-client: the server refused this client: this server speaks 2"
            )
    finally:
        server.close()
