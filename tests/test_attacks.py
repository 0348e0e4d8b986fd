"""Each class of attack from issue 11, run against a live server at its default limits while
well-behaved members chat in the same room from a process of their own (`tests.members`).

For every class: the members lost nothing and nobody cut them; the attacker got a clear error
or was cut with a logged reason; the server logged no unhandled exception (no traceback on
stderr, no `client.internal_error`). docs/reliability.md lists each class with its rule.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import httpx
import pytest
import trustme

from tests.helpers import JsonClient, ServerProcess, TextClient
from tests.members import COUNT
from tests.natsd import free_port

ATTACKER = "127.0.0.2"
WAIT = 30.0  # generous bound on anything that must happen: the machine may be busy
BIG = "x" * 3900  # a line just under the default --max-line of 4096 bytes, once in JSON
DEFAULTS = (  # the defaults of docs/protocol.md (tests/helpers.py turns some off elsewhere)
    "--max-per-ip", "64",
    "--msg-rate", "20",
    "--msg-burst", "40",
    "--room-create-rate", "0.5",
    "--room-create-burst", "10",
    "--idle-timeout", "300",
)  # fmt: skip


class Guard:
    """A server at its defaults and N well-behaved members in their own process."""

    def __init__(self, server: ServerProcess, members: asyncio.subprocess.Process) -> None:
        self.server = server
        self.members = members

    def go(self) -> None:
        assert self.members.stdin is not None
        self.members.stdin.write(b"go\n")

    async def unharmed(self) -> None:
        """Every member got every message of the speaker, in order, and was not cut."""
        assert self.members.stdout is not None
        line = await asyncio.wait_for(self.members.stdout.readline(), 90)
        result = json.loads(line)
        lat = result["latency_ms"]
        print(
            f"\n[members] {len(result['members'])} x {COUNT} messages, latency p50"
            f" {lat['p50']:.1f} ms p99 {lat['p99']:.1f} ms max {lat['max']:.1f} ms (not judged)"
        )
        for m in result["members"]:
            assert m["cut"] is None, f"{m['nick']} was cut: {m['cut']}"
            assert m["got"] == list(range(COUNT)), f"{m['nick']} lost messages"
        cut = [
            ev
            for ev in self.server.logs
            if ev.get("event") == "client.disconnected"
            and str(ev.get("nick", "")).startswith("m")
            and ev.get("nick", "")[1:].isdigit()
            and ev["reason"] not in ("eof", "reset")  # they leave when done
        ]
        assert not cut, f"members cut by the server: {cut}"

    def no_bugs(self) -> None:
        no_bugs(self.server)


def no_bugs(server: ServerProcess) -> None:
    """Nothing was logged as an unhandled exception: every stderr line is a structlog event,
    none of them an internal error or a failed task."""
    raw = [ev["line"] for ev in server.logs if ev.get("event") == "raw"]
    assert not raw, f"plain lines on stderr (a traceback?): {raw[:5]}"
    bad = [
        ev
        for ev in server.logs
        if ev.get("event") in ("client.internal_error", "server.task_failed", "asyncio.error")
        or ev.get("level") in ("error", "critical")
    ]
    assert not bad, f"errors logged: {bad[:3]}"


@asynccontextmanager
async def guarded(*flags: str, members: int = 4, room: str = "#lobby") -> AsyncIterator[Guard]:
    server = await ServerProcess.start(*DEFAULTS, *flags)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.members", str(server.port), room, str(members),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        cwd=Path(__file__).parent.parent,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        ready = await asyncio.wait_for(proc.stdout.readline(), WAIT)
        assert ready == b"ready\n", ready
        yield Guard(server, proc)
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        assert await server.stop() == 0


async def attacker(port: int, nick: str | None = None) -> JsonClient:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(ATTACKER, 0))
    client = JsonClient(reader, writer)
    if nick is not None:
        await client.send_json(type="hello", version=1, nick=nick)
        await client.event("who", timeout=WAIT)
    return client


async def test_poisoned_strings_are_refused_at_the_door() -> None:
    """Lone surrogates, deep nesting, UTF-16, a JSON value for a nick: each is refused with an
    error to the sender; nothing is stored that could fail to encode for anyone later."""
    async with guarded("--stats-port", str(free_port())) as guard:
        guard.go()
        evil = await attacker(guard.server.port, "poison")
        surrogate = '"\\ud800"'  # the JSON escape of a lone surrogate
        for line in (
            f'{{"type":"topic","topic":{surrogate}}}',
            f'{{"type":"say","text":{surrogate}}}',
            f'{{"type":"me","text":{surrogate}}}',
            f'{{"type":"msg","to":"m1","text":{surrogate}}}',
            f'{{"type":"part","room":"#lobby","reason":{surrogate}}}',
            f'{{"type":"nick","nick":{surrogate}}}',
            f'{{"type":"ping","token":{surrogate}}}',
        ):
            await evil.send(line)
            error = await evil.event("error", timeout=WAIT)
            assert error["code"] == "bad-utf8", error
        deep = '{"type":"say","text":"hi","x":' + "[" * 1900 + "]" * 1900 + "}"
        await evil.send(deep)
        assert (await evil.event("error", timeout=WAIT))["code"] == "bad-json"
        await evil.send_json(type="ping", token="still here")  # the attacker was not cut
        assert (await evil.event("pong", timeout=WAIT))["token"] == "still here"

        # UTF-16 JSON is not UTF-8 JSON; a first line that is JSON but no object is no nick.
        u16 = await attacker(guard.server.port)
        await u16.send('{"type":"hello","version":1,"nick":"u16"}'.encode("utf-16-le"))
        assert "bad-json" in await u16.expect("^[!{]", timeout=WAIT)
        null = await attacker(guard.server.port)
        await null.send("null")
        assert "bad-json" in await null.expect("^!", timeout=WAIT)
        await null.send("notnull")  # ... and a real nick still works
        await null.expect(r"^\* welcome, notnull!", timeout=WAIT)
        cr = await attacker(guard.server.port)
        await cr.send(b"crlover\r")  # a lone CR ends a line too
        await cr.expect(r"^\* welcome, crlover!", timeout=WAIT)

        # The room is not poisoned: a newcomer joins it, lists it, and the sidecar shows it.
        late = await TextClient.login(guard.server.port, "late")
        await late.send("/rooms")
        await late.expect(r"^\*   #lobby \(", timeout=WAIT)
        await late.send("/topic")
        await late.expect(r"^\* #lobby has no topic", timeout=WAIT)
        stats = await guard.server.log_event("stats.started")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{stats['port']}") as http:
            assert (await http.get("/rooms", timeout=WAIT)).status_code == 200
        await guard.unharmed()
        guard.no_bugs()


@pytest.mark.parametrize(
    ("attackers", "command"),
    [
        # 8 connections each send one burst of --msg-burst (40) lines of ~3.9 KB into the room
        (8, {"type": "say"}),
        # 10 connections each send one burst of 40 private messages of ~3.9 KB to one member
        (10, {"type": "msg", "to": "m1"}),
    ],
    ids=["into-the-room", "to-one-member"],
)
async def test_bursts_cut_nobody_who_reads(attackers: int, command: dict[str, str]) -> None:
    """Fair input and a send queue judged after writing keep every reader in, however many
    send their whole burst at once."""
    async with guarded() as guard:
        evil = [await attacker(guard.server.port, f"burst{i}") for i in range(attackers)]
        line = json.dumps({**command, "text": BIG}).encode() + b"\n"
        guard.go()
        for client in evil:
            client.writer.write(line * 40)
        await asyncio.gather(*(client.writer.drain() for client in evil))
        await guard.unharmed()
        guard.no_bugs()


async def test_room_creation_is_rate_limited_per_client_and_per_address() -> None:
    async with guarded() as guard:
        guard.go()
        evil = [await attacker(guard.server.port, f"maker{i}") for i in range(20)]
        for i, client in enumerate(evil):
            joins = [json.dumps({"type": "join", "room": f"#r{i}x{k}"}) for k in range(15)]
            client.writer.write("\n".join(joins).encode() + b"\n")
        created = refused = 0
        for client in evil:
            for _ in range(15):
                ev = await _join_answer(client)
                created += ev == "joined"
                refused += ev == "rate-limited"
        # One address may create 4 x --room-create-burst (40) rooms, plus 4 x 0.5 a second.
        assert refused > 0 and created <= 40 + 10, (created, refused)
        await guard.unharmed()
        guard.no_bugs()


async def _join_answer(client: JsonClient) -> str:
    while True:
        ev = await client.next_event(timeout=WAIT)
        if ev["type"] == "error":
            return str(ev["code"])
        if ev["type"] == "who" and ev["room"] != "#lobby":
            return "joined"


async def test_a_rooms_flood_over_thousands_of_rooms_starves_nobody() -> None:
    """4,000 rooms (creation unlimited here, to have them), then 30 connections asking for
    /rooms as fast as their rate limit lets them: replies are O(page) and charged by weight,
    so members chat on, a newcomer registers, and SIGTERM is honoured."""
    async with guarded(
        "--room-create-rate", "0", "--max-per-ip", "0", "--shutdown-timeout", "5"
    ) as guard:
        makers = [await attacker(guard.server.port, f"maker{i}") for i in range(200)]
        for i, client in enumerate(makers):
            joins = [json.dumps({"type": "join", "room": f"#r{i}x{k}"}) for k in range(19)]
            client.writer.write("\n".join(joins).encode() + b"\n")
        for client in makers:
            for _ in range(19):
                assert await _join_answer(client) == "joined"
        flooders = [await attacker(guard.server.port, f"flood{i}") for i in range(30)]
        ask = json.dumps({"type": "rooms"}).encode() + b"\n"
        guard.go()
        stop = asyncio.Event()

        async def flood(client: JsonClient) -> None:
            with suppress(ConnectionError):  # a flooder may well be cut for flooding
                while not stop.is_set():
                    client.writer.write(ask)
                    await client.writer.drain()
                    with suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 0.05)  # ~20/s: the rate limit

        async def drain(client: JsonClient) -> None:
            with suppress(Exception):
                while await client.reader.read(1 << 16):
                    pass

        tasks = [asyncio.create_task(flood(c)) for c in flooders]
        tasks += [asyncio.create_task(drain(c)) for c in [*flooders, *makers]]
        newcomer = await asyncio.wait_for(TextClient.login(guard.server.port, "newcomer"), WAIT)
        await newcomer.send("/rooms")
        await newcomer.expect(r"^\* 3801 room\(s\), first 100:", timeout=WAIT)
        await guard.unharmed()
        stop.set()
        guard.server.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(guard.server.proc.wait(), 5 + WAIT) == 0
        for task in tasks:
            task.cancel()
        guard.no_bugs()
        reasons = Counter(
            ev["reason"]
            for ev in guard.server.logs
            if ev.get("event") == "client.disconnected" and ev["nick"].startswith("flood")
        )
        print(f"\n[rooms flood] flooders' disconnect reasons: {dict(reasons)}")


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[str, str]:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    chain, key = tmp_path / "chain.pem", tmp_path / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(chain))
    cert.private_key_pem.write_to_path(str(key))
    return str(chain), str(key)


async def test_tls_handshakes_in_progress_count_toward_the_limits(
    tls_files: tuple[str, str],
) -> None:
    chain, key = tls_files
    server = await ServerProcess.start(
        *DEFAULTS, "--tls-cert", chain, "--tls-key", key, "--tls-port", "0", "--max-per-ip", "5"
    )
    try:
        tls_port = int((await server.log_event("server.started"))["tls_port"])
        silent: list[socket.socket] = []
        for _ in range(5):  # five handshakes begun and never finished: the address's quota
            sock = socket.socket()
            sock.bind((ATTACKER, 0))
            sock.connect(("127.0.0.1", tls_port))
            silent.append(sock)
        await server.wait_logs(
            lambda ev: ev.get("event") == "client.connected" and ev["conn_id"] == 5, WAIT
        )
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", tls_port, local_addr=(ATTACKER, 0)
        )
        refused = await server.log_event("client.refused", timeout=WAIT)
        assert refused["reason"] == "too-many-connections"
        assert await asyncio.wait_for(reader.read(), WAIT) == b""  # closed at once
        writer.close()
        # Another address is not affected.
        ok = await TextClient.login(server.port, "plainok")
        await ok.send("/ping x")
        await ok.expect(r"^\* pong x", timeout=WAIT)
        for sock in silent:
            sock.close()
        no_bugs(server)
    finally:
        assert await server.stop() == 0
