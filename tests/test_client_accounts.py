"""The terminal client and accounts: `/register` and `/identify` parsed, kept out of every
history, the server's hint shown, and a reconnect that identifies again by itself."""

from __future__ import annotations

import asyncio
from pathlib import Path

from client.commands import COMMANDS, is_private, is_secret, parse
from client.connection import Connection
from client.render import render
from tests.helpers import running_server
from tests.test_client_connection import Inbox, kind

PASSWORD = "pepper and salt"


def test_register_and_identify_are_parsed_and_secret() -> None:
    assert parse(f"/register {PASSWORD}", "#lobby").command == {
        "type": "register", "password": PASSWORD}  # fmt: skip
    assert parse("/identify hunter22", None).command == {
        "type": "identify", "password": "hunter22"}  # fmt: skip
    assert parse(f"/identify alice {PASSWORD}", None).command == {
        "type": "identify", "account": "alice", "password": PASSWORD}  # fmt: skip
    assert parse("/identify", None).error and parse("/register ", None).error
    assert is_secret("  /IDENTIFY x") and is_secret("/register x") and is_private("/register x")
    assert not is_secret("/registered") and not is_secret("hello /register")
    assert "/register" in COMMANDS and "/identify" in COMMANDS  # completed by Tab
    shown = render({"type": "account", "event": "registered", "account": "alice"})
    assert shown is not None and "identified as alice" in "".join(t for _, t in shown)


async def test_the_hint_registering_and_identifying_again_after_a_reconnect(
    tmp_path: Path,
) -> None:
    async with running_server(accounts=True, data_dir=str(tmp_path)) as srv:
        inbox = Inbox()
        conn = Connection("127.0.0.1", srv.port, "bob", inbox, backoff=(0.05, 0.2))
        task = asyncio.create_task(conn.run())
        hint = await inbox.wait(kind("notice", code="account-hint"))
        assert "/register" in hint["text"]
        conn.send({"type": "register", "password": PASSWORD})
        await inbox.wait(kind("account", event="registered"))
        assert conn.credentials == ("bob", PASSWORD)
        server_side = next(c for c in srv.clients.values() if c.nick == "bob")
        server_side.transport.abort()  # the link drops; the client comes back by itself
        await inbox.wait(kind("account", event="identified"))
        again = next(c for c in srv.clients.values() if c.nick == "bob")
        assert again.account == "bob" and not again.guard  # never renamed
        await conn.quit()
        await asyncio.wait_for(task, 5)
