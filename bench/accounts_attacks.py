"""Brute force and hashing floods against `chat-server --accounts`, measured from outside.

Starts a real `chat-server --accounts` process, registers accounts, then:

1. guess: one address guesses one account's password as fast as it can for `--seconds`;
   counts the guesses that were checked (auth-failed) and those refused (auth-throttled);
2. spread: the same, from 50 addresses (127.0.1.x) on the same account;
3. flood: 200 addresses at once, 4 per account (so no throttle applies):
   how many are checked and how many are refused with auth-busy;
4. during all of it, the owner identifies from home (the address it registered from), a
   bystander pings every 50 ms (its worst round trip includes this process's own busy loop),
   and the server's own event loop lag is read from its stats sidecar after each step.

Run: .venv/bin/python bench/accounts_attacks.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections import Counter

PASSWORD = "the owner's password"
STATS_PORT = 18731


async def server_lag() -> float:
    """The server's worst event loop lag of the last 10 s, from its sidecar (ms)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", STATS_PORT)
    writer.write(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    body = (await reader.read()).partition(b"\r\n\r\n")[2]
    writer.close()
    return float(json.loads(body)["event_loop"]["lag_max_seconds"]) * 1000


async def hello(port: int, nick: str, address: str = "127.0.0.1") -> tuple[object, object]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(address, 0))
    writer.write(json.dumps({"type": "hello", "version": 1, "nick": nick}).encode() + b"\n")
    await until(reader, "welcome")
    return reader, writer


async def until(reader: asyncio.StreamReader, *kinds: str) -> dict[str, object]:
    while True:
        line = await asyncio.wait_for(reader.readline(), 30)
        if not line:
            raise EOFError
        if line.startswith(b"{"):
            ev: dict[str, object] = json.loads(line)
            if ev["type"] in kinds:
                return ev


async def answer(reader: asyncio.StreamReader) -> str:
    ev = await until(reader, "account", "error")
    return str(ev.get("code", "ok"))


async def guess(port: int, address: str, account: str, seconds: float, got: Counter[str]) -> None:
    reader, writer = await hello(port, f"g{address.replace('.', '')}", address)
    assert isinstance(reader, asyncio.StreamReader) and isinstance(writer, asyncio.StreamWriter)
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
        line = {"type": "identify", "account": account, "password": f"guess {n}"}
        writer.write(json.dumps(line).encode() + b"\n")
        got[await answer(reader)] += 1
    writer.close()


async def bystander(port: int, stop: asyncio.Event, worst: list[float]) -> None:
    reader, writer = await hello(port, "bystander")
    assert isinstance(reader, asyncio.StreamReader) and isinstance(writer, asyncio.StreamWriter)
    while not stop.is_set():
        t = time.monotonic()
        writer.write(b'{"type":"ping","token":"x"}\n')
        await until(reader, "pong")
        worst.append(time.monotonic() - t)
        await asyncio.sleep(0.05)
    writer.close()


async def owner(port: int, account: str, address: str) -> str:
    reader, writer = await hello(port, f"{account}home", address)
    assert isinstance(reader, asyncio.StreamReader) and isinstance(writer, asyncio.StreamWriter)
    line = {"type": "identify", "account": account, "password": PASSWORD}
    writer.write(json.dumps(line).encode() + b"\n")
    result = await answer(reader)
    writer.close()
    return result


async def register(port: int, nick: str, address: str) -> None:
    reader, writer = await hello(port, nick, address)
    assert isinstance(reader, asyncio.StreamReader) and isinstance(writer, asyncio.StreamWriter)
    writer.write(json.dumps({"type": "register", "password": PASSWORD}).encode() + b"\n")
    result = await answer(reader)
    assert result == "ok", result
    writer.write(b'{"type":"quit"}\n')
    writer.close()


async def main(seconds: float) -> None:
    data = tempfile.mkdtemp()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chat", "--port", "0", "--accounts", "--data-dir", data,
        "--log-format", "json", "--max-per-ip", "0", "--stats-port", str(STATS_PORT),
        "--msg-rate", "0", stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    port = 0
    try:
        async with asyncio.timeout(30):
            while not port:
                entry = json.loads(await proc.stderr.readline())
                if entry.get("event") == "server.started":
                    port = int(entry["port"])
    except BaseException:
        proc.kill()  # never leave the server behind
        await proc.wait()
        raise

    async def drain(stream: asyncio.StreamReader) -> None:
        while await stream.readline():
            pass  # the logs: read, or the pipe fills and the server stalls

    drainer = asyncio.create_task(drain(proc.stderr))
    try:
        # 51 accounts, from 11 addresses (an address may register 10 in a burst)
        for i in range(51):
            await register(port, f"acct{i}", f"127.0.3.{i // 5 + 1}")
        print("registered 51 accounts")
        stop = asyncio.Event()
        worst: list[float] = []
        watcher = asyncio.create_task(bystander(port, stop, worst))
        for name, addresses in (("guess", ["127.0.0.2"]),
                                ("spread", [f"127.0.1.{i}" for i in range(1, 51)])):  # fmt: skip
            got: Counter[str] = Counter()
            started = time.monotonic()
            await asyncio.gather(*(guess(port, a, "acct0", seconds, got) for a in addresses))
            took = time.monotonic() - started
            home = await owner(port, "acct0", "127.0.3.1")  # where acct0 was registered
            lag = await server_lag()
            print(f"{name}: {len(addresses)} address(es), {took:.1f}s: {dict(got)};"
                  f" owner from home: {home}; server loop lag max {lag:.1f} ms")  # fmt: skip
        got = Counter()
        flood = [f"127.0.2.{i}" for i in range(1, 201)]
        started = time.monotonic()
        await asyncio.gather(*(guess(port, a, f"acct{i % 50 + 1}", 0.001, got)
                               for i, a in enumerate(flood)))  # fmt: skip
        print(f"flood: 200 addresses x 1 attempt on 50 accounts at once,"
              f" {time.monotonic() - started:.2f}s: {dict(got)};"
              f" server loop lag max {await server_lag():.1f} ms")  # fmt: skip
        stop.set()
        await watcher
        print(f"bystander: {len(worst)} pings, worst round trip {max(worst) * 1000:.1f} ms")
    finally:
        proc.terminate()
        await proc.wait()
        await drainer


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    asyncio.run(main(parser.parse_args().seconds))
