"""`--history-db`: history and its epochs survive a restart (SQLite behind the memory store)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from chat.core.history import MemoryHistory
from chat.net.historydb import HistoryDB
from tests.helpers import JsonClient, running_server

WAIT = 15.0


async def say(client: JsonClient, room: str, texts: list[str]) -> list[dict[str, Any]]:
    """Send `texts` to `room`; return their echoes (with offset and epoch)."""
    echoes = []
    for text in texts:
        await client.send_json(type="say", room=room, text=text)
        while (ev := await client.event("message"))["text"] != text:
            pass
        echoes.append(ev)
    return echoes


async def join(client: JsonClient, room: str, **fields: Any) -> None:
    await client.send_json(type="join", room=room, **fields)


async def test_a_restart_keeps_epochs_and_offsets_and_a_resume_recovers_everything(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "history.db")
    async with running_server(history_db=db) as first:
        alice = await JsonClient.login(first.port, "alice")
        await join(alice, "#persist")
        await alice.event("who", lambda ev: ev["room"] == "#persist")
        echoes = await say(alice, "#persist", [f"line {i}" for i in range(1, 11)])
        seen = echoes[2]  # bob saw up to the third line, then lost his link
    # The server stopped cleanly (everything written); a new one opens the same file.
    async with running_server(history_db=db) as second:
        bob = await JsonClient.login(second.port, "bob")
        await join(bob, "#persist", since={"epoch": seen["epoch"], "offset": seen["offset"]})
        replayed = []
        while True:
            ev = await bob.next_event(timeout=WAIT)
            if ev["type"] == "message":
                replayed.append(ev)
            elif ev["type"] == "join" and ev["nick"] == "bob":
                joined = ev
                break
        assert [m["text"] for m in replayed] == [f"line {i}" for i in range(4, 11)]
        assert [m["offset"] for m in replayed] == list(range(4, 11))
        assert all(m["replay"] and m["epoch"] == seen["epoch"] for m in replayed)
        assert joined["recovered"] is True
        assert (joined["epoch"], joined["offset"]) == (seen["epoch"], 10)
        # The stream goes on where it was: same epoch, the next offset.
        (after,) = await say(bob, "#persist", ["after the restart"])
        assert (after["epoch"], after["offset"]) == (seen["epoch"], 11)


async def test_the_file_is_trimmed_to_history_size_and_written_in_batches(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "h.db")
    memory = MemoryHistory(size=50)
    db = await HistoryDB.open(path, memory)
    try:
        for i in range(1, 1001):
            memory.append("#r", "n", f"m{i}", float(i), False)
            if i % 100 == 0:
                await asyncio.sleep(0)  # let the writer run now and then, as the loop would
        await asyncio.wait_for(db.flush(), WAIT)
        assert db.written == 1000 and db.dropped == 0
    finally:
        await db.close()
    rows = sqlite3.connect(path).execute("SELECT min(offset), max(offset), count(*) FROM messages")
    assert rows.fetchone() == (951, 1000, 50)
    reopened = MemoryHistory(size=50)
    again = await HistoryDB.open(path, reopened)
    try:
        epoch, last = reopened.position("#r")
        assert epoch == memory.streams["#r"].epoch and last == 1000
        assert [e.text for e in reopened.page("#r", limit=3)] == ["m998", "m999", "m1000"]
    finally:
        await again.close()
