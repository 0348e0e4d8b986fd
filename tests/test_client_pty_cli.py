"""chat-client's command line and files, in a pseudo-terminal (issue 13): a bad port or an
unknown host is one readable line, --help tells the truth, --version, and a private history."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import trustme

from tests.helpers import JsonClient, running_server
from tests.test_client_pty import client


def shown(lines: list[str]) -> list[str]:
    return [line for line in lines if line]


async def test_a_port_out_of_range_is_one_line_and_exit_2(tmp_path: Path) -> None:
    async with client(tmp_path, "--nick", "bob", "--port", "70000") as term:
        assert await term.close() == 2
        assert shown(term.lines()) == [
            "chat-client: argument --port: must be 1-65535, not 70000 (see --help)"
        ]


async def test_an_unknown_host_is_one_readable_line_and_exit_1(tmp_path: Path) -> None:
    async with client(tmp_path, "--nick", "bob", "--host", "nosuchhost.invalid") as term:
        assert await term.close() == 1
        lines = shown(term.lines())
        assert len(lines) == 1, lines
        assert lines[0].startswith(
            "chat-client: cannot reach nosuchhost.invalid:7000: unknown host"
        )
        assert "unknown error" not in lines[0].lower()
    async with client(tmp_path, "--nick", "bob", "--host", "a..b") as term:  # not even a name
        assert await term.close() == 1
    assert b"Traceback" not in term.raw
    assert "".join(shown(term.lines())).startswith("chat-client: cannot reach a..b:7000: ")


async def test_help_matches_reality_and_version(tmp_path: Path) -> None:
    async with client(tmp_path, "--help") as term:
        assert await term.close() == 0
    text = term.raw.decode()
    assert "None" not in text  # --nick is asked for when missing: it has no None default
    assert "asked for on start if not given" in text
    for option in ("--nick", "--host", "--port", "--tls", "--tls-ca", "--no-bell",
                   "--no-history", "--version"):  # fmt: skip
        assert option in text, option
    assert "1-65535" in text and "0600" in text and "Alt-1..9" in text
    async with client(tmp_path, "--version") as term:
        assert await term.close() == 0
    assert shown(term.lines()) == ["chat-client 0.1.0"]


async def test_the_history_file_is_0600_and_never_has_private_messages(tmp_path: Path) -> None:
    history = tmp_path / "chat" / "history"
    history.parent.mkdir(parents=True)
    history.write_text("")
    history.chmod(0o644)  # a file left by an older client is tightened
    async with running_server() as srv:
        alice = await JsonClient.login(srv.port, "alice")
        async with client(tmp_path, "--nick", "bob", "--port", str(srv.port)) as term:
            await term.until(lambda ls: "online" in ls[-1])
            term.child.send("/msg alice my password is hunter2\r")
            assert (await alice.event("private"))["text"] == "my password is hunter2"
            term.child.send("/query alice also secret\r")
            assert (await alice.event("private"))["text"] == "also secret"
            term.child.send("a public line\r")
            await alice.event("message", lambda ev: ev["nick"] == "bob")
            term.child.send("\x1b[A\x1b[A")  # Up, Up: this session still recalls the /query
            await term.until(lambda ls: "> /query alice also secret" in ls)
            term.child.sendcontrol("c")
            assert await term.close() == 0
    assert stat.S_IMODE(history.stat().st_mode) == 0o600
    kept = history.read_text()
    assert "a public line" in kept
    assert "hunter2" not in kept and "also secret" not in kept


async def test_a_new_history_file_is_created_0600(tmp_path: Path) -> None:
    async with (
        running_server() as srv,
        client(tmp_path, "--nick", "bob", "--port", str(srv.port)) as term,
    ):
        await term.until(lambda ls: "online" in ls[-1])
        term.child.sendcontrol("d")
        assert await term.close() == 0
    history = tmp_path / "chat" / "history"
    assert stat.S_IMODE(history.stat().st_mode) == 0o600
    assert stat.S_IMODE(history.parent.stat().st_mode) == 0o700


async def test_no_history_writes_nothing(tmp_path: Path) -> None:
    async with running_server() as srv:
        alice = await JsonClient.login(srv.port, "alice")
        args = ("--nick", "bob", "--no-history", "--port", str(srv.port))
        async with client(tmp_path, *args) as term:
            await term.until(lambda ls: "online" in ls[-1])
            term.child.send("not kept\r")
            await alice.event("message", lambda ev: ev["nick"] == "bob")
            term.child.send("\x1b[A")  # but Up recalls it in this session
            await term.until(lambda ls: "> not kept" in ls)
            term.child.sendcontrol("c")
            assert await term.close() == 0
    assert not (tmp_path / "chat").exists()


async def test_an_untrusted_tls_server_and_a_missing_ca_file_are_one_line(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    chain, key = tmp_path / "chain.pem", tmp_path / "key.pem"
    cert.private_key_pem.write_to_path(key)
    chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    async with running_server(tls_cert=str(chain), tls_key=str(key), tls_port=0) as srv:
        args = ("--nick", "bob", "--tls", "--port", str(srv.tls_port))
        async with client(tmp_path, *args) as term:  # the system store does not know this CA
            assert await term.close() == 1
        raw = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", term.raw.decode())  # cursor shown again
        lines = raw.strip().splitlines()  # one line, wider than the screen
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"chat-client: cannot reach 127.0.0.1:{srv.tls_port}: TLS ")
        assert "not trusted" in lines[0] and "--tls-ca" in lines[0]
    missing = str(tmp_path / "nope.pem")
    async with client(tmp_path, "--nick", "bob", "--tls-ca", missing) as term:
        assert await term.close() == 2
    expected = f"chat-client: --tls-ca {missing}: No such file or directory"
    assert "".join(shown(term.lines())) == expected  # one line, wrapped by the screen
