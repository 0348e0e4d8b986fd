"""The `chat-server` process: options from flags and CHAT_* variables, signals, exit codes."""

import asyncio
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from chat.settings import Settings, version
from tests.helpers import JsonClient, ServerProcess, TextClient


def test_help_shows_every_option_with_its_default_and_variable() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "chat", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    flat = " ".join(out.split())
    for name in ("host", "port", "max_clients", "max_line", "idle_timeout", "queue_bytes", "loop"):
        assert "--" + name.replace("_", "-") in flat
        assert "CHAT_" + name.upper() in flat
    assert (
        "(default: 7000)" in flat and "(default: 4096)" in flat and "(default: 127.0.0.1)" in flat
    )


def test_flags_override_environment_override_defaults() -> None:
    env = {"CHAT_MAX_LINE": "100", "CHAT_PORT": "7100", "CHAT_IDLE_TIMEOUT": "9.5"}
    s = Settings.from_args(["--port", "7200"], env)
    assert (s.max_line, s.port, s.idle_timeout, s.host) == (100, 7200, 9.5, "127.0.0.1")


def test_a_bad_environment_value_is_a_clear_error() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "chat"],
        env={"CHAT_MAX_LINE": "lots", "PATH": ""},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "CHAT_MAX_LINE='lots' is not a valid int" in proc.stderr


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--port", "99999"], {}, "--port must be between 0 and 65535 (got 99999)"),
        ([], {"CHAT_MAX_LINE": "-1"}, "CHAT_MAX_LINE must be at least 64 (got -1)"),
        ([], {"CHAT_IDLE_TIMEOUT": "0"}, "CHAT_IDLE_TIMEOUT must be greater than 0 (got 0)"),
    ],
)
def test_a_value_out_of_range_stops_the_process_with_one_line(
    args: list[str], env: dict[str, str], message: str
) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "chat", *args],
        env={**env, "PATH": ""},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1] == f"chat-server: error: {message}"


@pytest.mark.parametrize(
    ("module", "prog"),
    [
        ("chat", "chat-server"),
        ("chat.bench.cli", "chat-bench"),
        ("chat.sidecar.standalone", "chat-stats"),
    ],
)
def test_version(module: str, prog: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", module, "--version"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert out.strip() == f"{prog} {version()}"


async def test_a_config_file_reaches_the_running_server(tmp_path: Path) -> None:
    config = tmp_path / "chat.toml"
    config.write_text("max_line = 100\n")
    server = await ServerProcess.start("--config", str(config))
    try:
        c = await TextClient.login(server.port, "alice")
        await c.send("x" * 101)
        await c.expect(r"^! line-too-long: lines are at most 100 bytes")
    finally:
        assert await server.stop() == 0


async def test_environment_reaches_the_running_server() -> None:
    server = await ServerProcess.start(env={"CHAT_MAX_LINE": "100"})
    try:
        c = await TextClient.login(server.port, "alice")
        await c.send("x" * 101)
        await c.expect(r"^! line-too-long: lines are at most 100 bytes")
        registered = await server.log_event("client.registered")
        assert registered["nick"] == "alice" and registered["dialect"] == "text"
        assert {"conn_id", "peer", "timestamp", "level"} <= registered.keys()
    finally:
        assert await server.stop() == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_graceful_shutdown_delivers_what_was_queued(sig: signal.Signals) -> None:
    server = await ServerProcess.start("--shutdown-timeout", "10")
    try:
        # A member that is not reading yet: its output piles up in the server.
        lazy_sock = socket.socket()
        lazy_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        lazy_sock.connect(("127.0.0.1", server.port))
        lazy_sock.setblocking(False)
        lazy = JsonClient(*await asyncio.open_connection(sock=lazy_sock))
        await lazy.send_json(type="hello", version=1, nick="lazy")
        await server.log_event("room.joined", lambda ev: ev["nick"] == "lazy")

        sender = await JsonClient.login(server.port, "sender")
        watcher = await TextClient.login(server.port, "watcher")
        count = 300
        for n in range(count):
            await sender.send_json(type="say", text=f"{n} " + "q" * 500)
        await watcher.expect(rf"^\[#lobby\] <sender> {count - 1} ")  # the server has them all

        server.proc.send_signal(sig)
        await server.log_event("server.stopping")
        await lazy.event("welcome")
        got = []
        while True:
            ev = await lazy.next_event()
            if ev["type"] == "message":
                got.append(int(ev["text"].split()[0]))
            elif ev["type"] == "bye":
                assert ev["reason"] == "server shutting down"
                break
        assert got == list(range(count))
        assert await lazy.closed() == []
        assert (await watcher.closed())[-1] == "* bye: server shutting down"
    finally:
        assert await server.stop() == 0
    assert any(ev.get("event") == "server.stopped" for ev in server.logs)
    with pytest.raises(OSError):  # no longer accepting
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
