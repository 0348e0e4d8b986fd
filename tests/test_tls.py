"""TLS: a listener with a certificate made in the test, beside or instead of the plain one."""

import asyncio
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from chat.net import tls
from tests.helpers import JsonClient, LineClient, TextClient, running_server


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def cert_files(ca: trustme.CA, tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    cert = ca.issue_cert("localhost", "127.0.0.1")
    chain, key, ca_file = tmp_path / "chain.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.private_key_pem.write_to_path(key)
    chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    ca.cert_pem.write_to_path(ca_file)
    yield str(chain), str(key), str(ca_file)


async def tls_json_login(port: int, ca_file: str, nick: str) -> JsonClient:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=tls.client_context(ca_file), server_hostname="localhost"
    )
    client = JsonClient(reader, writer)
    await client.send_json(type="hello", version=1, nick=nick)
    await client.event("welcome")
    return client


async def test_tls_and_plain_clients_chat_in_one_room(cert_files: tuple[str, str, str]) -> None:
    chain, key, ca_file = cert_files
    async with running_server(tls_cert=chain, tls_key=key, tls_port=0) as srv:
        assert srv.tls_port and srv.port and srv.tls_port != srv.port
        secure = await tls_json_login(srv.tls_port, ca_file, "secure")
        plain = await TextClient.login(srv.port, "plain")
        await secure.send_json(type="say", text="over tls")
        assert await plain.expect(r"<secure> over tls")
        await plain.send("over tcp")
        assert (await secure.event("message", lambda ev: ev["nick"] == "plain"))[
            "text"
        ] == "over tcp"
        cipher = secure.writer.get_extra_info("cipher")
        assert cipher is not None


async def test_a_plain_client_on_the_tls_port_is_refused_cleanly(
    cert_files: tuple[str, str, str],
) -> None:
    chain, key, _ = cert_files
    async with running_server(tls_cert=chain, tls_key=key, tls_port=0) as srv:
        human = await LineClient.connect(srv.tls_port)
        await human.send("alice")
        try:
            lines = await human.closed(timeout=5)  # closed promptly, not left hanging
        except ConnectionResetError:
            lines = []
        assert not any("welcome" in line for line in lines)
        assert srv.clients == {}
        # ...and the server is fine for everyone else.
        ok = await TextClient.login(srv.port, "after")
        await ok.send("/ping ok")
        assert await ok.line() == "* pong ok"


async def test_a_client_that_does_not_trust_the_certificate_fails(
    cert_files: tuple[str, str, str],
) -> None:
    chain, key, _ = cert_files
    async with running_server(tls_cert=chain, tls_key=key, tls_port=0) as srv:
        with pytest.raises(ssl.SSLCertVerificationError):
            await asyncio.open_connection(
                "127.0.0.1", srv.tls_port, ssl=tls.client_context(), server_hostname="localhost"
            )


async def test_tls_only(cert_files: tuple[str, str, str]) -> None:
    chain, key, ca_file = cert_files
    async with running_server(tls_cert=chain, tls_key=key, tls_port=0, plain=False) as srv:
        assert srv.port == 0
        c = await tls_json_login(srv.tls_port, ca_file, "only")
        await c.send_json(type="ping", token="t")
        assert (await c.event("pong"))["token"] == "t"


async def test_no_listener_at_all_is_an_error() -> None:
    with pytest.raises(OSError, match="--no-plain needs --tls-cert"):
        async with running_server(plain=False):
            pass


async def test_the_chat_client_connection_speaks_tls(cert_files: tuple[str, str, str]) -> None:
    from client.connection import Connection
    from tests.test_client_connection import Inbox, kind

    chain, key, ca_file = cert_files
    async with running_server(tls_cert=chain, tls_key=key, tls_port=0, plain=False) as srv:
        inbox = Inbox()
        conn = Connection(
            "localhost", srv.tls_port, "tlsbob", inbox, ssl_context=tls.client_context(ca_file)
        )
        task = asyncio.create_task(conn.run())
        await inbox.wait(kind("welcome"))
        other = await tls_json_login(srv.tls_port, ca_file, "tlsalice")
        conn.send({"type": "say", "room": "#lobby", "text": "encrypted hello"})
        got = await other.event("message", lambda ev: ev["nick"] == "tlsbob")
        assert got["text"] == "encrypted hello"
        await conn.quit()
        await asyncio.wait_for(task, 5)
