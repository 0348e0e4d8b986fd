"""Rooms' modes, bans and mutes survive a restart where a store is configured (`--history-db`):
over real sockets through a restart, and the core's and the store's rules in memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from chat.core import moderation as m
from chat.core import modstore as ms
from chat.core.hub import Hub, Limits
from chat.core.modstore import Keeper
from chat.core.operhash import hash_password
from chat.net.bandb import BanStore
from chat.protocol import commands as c
from tests.helpers import TextClient, running_server
from tests.test_hub_semantics import Mem

PASSWORD = "sesame"
HASH = hash_password(PASSWORD, b"0123456789abcdef")


async def test_room_modes_bans_and_mutes_survive_a_restart(tmp_path: Path) -> None:
    db = str(tmp_path / "chat.db")
    async with running_server(history_db=db) as srv:
        alice = await TextClient.login(srv.port, "alice")
        carol = await TextClient.login(srv.port, "carol")
        await alice.send("/join #keep")
        await alice.expect(r"^\* #keep \(1\): @alice$")
        await carol.send("/join #keep")
        await alice.expect(r"^\* carol joined #keep")
        await alice.send("/mute #keep carol 3600")
        await alice.expect(r"^\* carol is muted in #keep for 3600 seconds by alice$")
        await alice.send("/mode #keep +ik-t+l secret 5")  # -t changes nothing: not shown
        await alice.expect(r"^\* alice sets mode \+ikl \* 5 on #keep$")
        await alice.send("/ban #keep mallory")
        await alice.expect(r"sets mode \+b mallory!\*@\* on #keep")
        await alice.send("/ban #keep *!*@10.9.9.*")
        await alice.expect(r"sets mode \+b \*!\*@10\.9\.9\.\* on #keep")
        await alice.send("/join #plain")  # a room with nothing to keep: nothing stored
        await alice.expect(r"^\* #plain \(1\): @alice$")
        for client in (alice, carol):
            await client.close()
    async with running_server(history_db=db, oper=(f"root:{HASH}",)) as srv:
        kept = srv.hub.moderation.keeper.kept
        assert list(kept) == ["#keep"]
        assert "#keep" not in srv.hub.rooms  # nobody in it yet
        dave = await TextClient.login(srv.port, "dave")
        await dave.send("/join #keep")
        await dave.expect(r"^! invite-only: #keep is invite-only")
        root = await TextClient.login(srv.port, "root")
        await root.send(f"/oper root {PASSWORD}")
        await root.expect(r"server operator")
        await root.send("/join #keep")  # a server operator passes +i and +k, and is first
        await root.expect(r"^\* #keep \(1\): @root$")
        assert srv.hub.stats.moderation["restored"] == 1
        await root.send("/mode #keep")
        await root.expect(r"^\* modes of #keep: \+inlk 5 secret$")
        await root.send("/bans #keep")
        await root.expect(r"^\* bans of #keep \(2\): mallory!\*@\*, \*!\*@10\.9\.9\.\*$")
        carol = await TextClient.login(srv.port, "carol")
        await root.send("/invite carol #keep")
        await root.expect(r"invited carol to #keep")
        await carol.send("/join #keep")
        await carol.expect(r"^\* carol joined #keep")
        await carol.send("am I still muted?")  # #keep is its current room
        await carol.expect(r"^! muted: you are muted in #keep for \d+ more seconds$")
        await root.send("/mode #keep -ib mallory")
        await root.expect(r"^\* root sets mode -ib mallory!\*@\* on #keep$")
        for client in (dave, root, carol):
            await client.close()


def hub_with_keeper() -> tuple[Hub, list[tuple[str, ms.Stored | None]]]:
    hub = Hub(Limits(history_size=0, room_create_rate=0), clock=lambda: 1000.0)
    writes: list[tuple[str, ms.Stored | None]] = []
    hub.moderation.keeper.persist = lambda key, kept: writes.append((key, kept))
    return hub, writes


def login(hub: Hub, nick: str, conn_id: int) -> Mem:
    s = Mem(conn_id)
    s.ip = f"10.0.0.{conn_id}"
    hub.connect(s)
    hub.handle(s, c.Hello(nick, 1))
    s.events()
    return s


def test_only_what_changes_is_written_and_a_room_emptied_keeps_it() -> None:
    hub, writes = hub_with_keeper()
    alice = login(hub, "alice", 1)
    hub.handle(alice, c.Join("#r"))
    assert writes == []  # a new room with nothing to keep
    hub.handle(alice, c.Mode("#r", "+t", ()))
    hub.handle(alice, c.Mode("#r", "+t", ()))  # no change: no write
    hub.handle(alice, c.Mode("#r", "+o", ("alice",)))  # operators are not kept: no write
    assert writes == [("#r", ms.Stored("#r", "t", 0, "", (), ()))]
    hub.handle(alice, c.Part("#r"))
    assert "#r" not in hub.moderation.rooms and "#r" in hub.moderation.keeper.kept
    bob = login(hub, "bob", 2)
    hub.handle(bob, c.Join("#r"))  # re-created: +t back, bob its operator
    assert hub.moderation.rooms["#r"].topic_lock and hub.moderation.rooms["#r"].ops == {"bob"}
    hub.handle(bob, c.Mode("#r", "-t", ()))
    assert writes[-1] == ("#r", None)  # nothing left to keep: the row goes


def test_the_first_joiner_of_a_restored_room_must_pass_its_bans_and_key() -> None:
    hub, _ = hub_with_keeper()
    kept = ms.Stored("#r", "", 0, "k3y", ("*!*@10.0.0.2",), ())
    hub.moderation.keeper.load({"#r": kept})
    bob = login(hub, "bob", 2)  # 10.0.0.2: banned
    hub.handle(bob, c.Join("#r", key="k3y"))
    assert [ev["code"] for ev in bob.events() if ev["type"] == "error"] == ["banned"]
    carol = login(hub, "carol", 3)
    hub.handle(carol, c.Join("#r"))
    assert [ev["code"] for ev in carol.events() if ev["type"] == "error"] == ["bad-key"]
    assert "#r" not in hub.rooms and "#r" not in hub.moderation.rooms  # nothing left behind
    hub.handle(carol, c.Join("#r", key="k3y"))
    assert hub.moderation.rooms["#r"].ops == {"carol"}


def test_kept_state_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    modes = m.RoomModes(bans=dict.fromkeys(f"n{i}!*@*" for i in range(m.MAX_BANS + 50)))
    modes.mutes = {f"u{i}": 2000.0 + i for i in range(ms.MAX_STORED_MUTES + 10)}
    modes.mutes["gone"] = 10.0  # expired: not kept
    kept = ms.stored(modes, "#r", now=1000.0)
    assert kept is not None and len(kept.bans) == m.MAX_BANS
    assert (
        len(kept.mutes) == ms.MAX_STORED_MUTES
        and kept.mutes[-1][0] == f"u{ms.MAX_STORED_MUTES + 9}"
    )
    assert ms.stored(m.RoomModes(ops={"a"}, voiced={"b"}, invites={"c": None}), "#r", 0) is None
    monkeypatch.setattr(ms, "MAX_STORED_ROOMS", 3)
    keeper, writes = Keeper(), []
    keeper.persist = lambda key, kept: writes.append((key, kept))
    for i in range(5):
        keeper.save(f"#r{i}", f"#r{i}", m.RoomModes(topic_lock=True), 0.0)
    assert list(keeper.kept) == ["#r2", "#r3", "#r4"]
    assert ("#r0", None) in writes and ("#r1", None) in writes


async def test_the_store_round_trips_and_writes_off_the_loop(tmp_path: Path) -> None:
    db = str(tmp_path / "chat.db")
    hub = Hub(Limits(history_size=0))
    store = await BanStore.open(db, hub.operators, hub.moderation)
    kept = ms.Stored("#r", "im", 10, "key", ("bob!*@*",), (("carol", 9e10), ("old", 1.0)))
    store.save_room("#r", kept)
    store.save_room("#gone", ms.Stored("#gone", "t", 0, "", (), ()))
    store.save_room("#gone", None)  # queued by room: the last word wins
    await store.close()
    again = Hub(Limits(history_size=0))
    store = await BanStore.open(db, again.operators, again.moderation)
    assert again.moderation.keeper.kept == {
        "#r": ms.Stored("#r", "im", 10, "key", ("bob!*@*",), (("carol", 9e10),))
    }
    await store.close()
