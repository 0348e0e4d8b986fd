"""chat/net/idle.py: the sweep interval and one sweep over fake clients."""

from __future__ import annotations

import pytest

from chat.net.idle import sweep, sweep_interval


class Fake:
    """A watched client that records every `idle_check(now)` in a shared log."""

    def __init__(self, name: str, log: list[tuple[str, float]]) -> None:
        self.name = name
        self.log = log

    def idle_check(self, now: float) -> None:
        self.log.append((self.name, now))


@pytest.mark.parametrize(
    ("timeout", "interval"),
    [
        (0.0, 0.05),  # never busier than 20 sweeps a second
        (0.1, 0.05),
        (0.5, 0.05),
        (1.0, 0.1),  # a tenth of the timeout in between
        (30.0, 3.0),
        (50.0, 5.0),
        (300.0, 5.0),  # never later than 5 s
        (86_400.0, 5.0),
    ],
)
def test_sweep_interval_is_a_tenth_of_the_timeout_within_bounds(
    timeout: float, interval: float
) -> None:
    assert sweep_interval(timeout) == pytest.approx(interval)


def test_sweep_interval_is_monotonic() -> None:
    timeouts = [0.01 * 1.3**k for k in range(60)]
    intervals = [sweep_interval(t) for t in timeouts]
    assert intervals == sorted(intervals)
    assert all(0.05 <= i <= 5.0 for i in intervals)


def test_sweep_asks_every_client_once_with_the_same_now() -> None:
    log: list[tuple[str, float]] = []
    clients = [Fake(n, log) for n in "abc"]
    sweep(clients, 42.5)
    assert log == [("a", 42.5), ("b", 42.5), ("c", 42.5)]


def test_sweep_of_nobody_does_nothing() -> None:
    sweep([], 1.0)
    sweep({}, 1.0)


def test_sweep_accepts_any_iterable_such_as_dict_values() -> None:
    log: list[tuple[str, float]] = []
    clients = {i: Fake(str(i), log) for i in range(3)}
    sweep(clients.values(), 7.0)
    assert log == [("0", 7.0), ("1", 7.0), ("2", 7.0)]


class Cutter(Fake):
    """Judges itself idle and leaves the server's table during the sweep, as a cut client does."""

    def __init__(self, name: str, log: list[tuple[str, float]], table: dict[str, Fake]) -> None:
        super().__init__(name, log)
        self.table = table

    def idle_check(self, now: float) -> None:
        super().idle_check(now)
        del self.table[self.name]


def test_a_client_that_removes_itself_during_the_sweep_does_not_break_it() -> None:
    log: list[tuple[str, float]] = []
    table: dict[str, Fake] = {}
    table["a"] = Fake("a", log)
    table["b"] = Cutter("b", log, table)
    table["c"] = Fake("c", log)
    sweep(table.values(), 9.0)  # a dict changing size during iteration would raise here
    assert log == [("a", 9.0), ("b", 9.0), ("c", 9.0)]
    assert list(table) == ["a", "c"]


class Adder(Fake):
    """Adds a newcomer to the table while it is checked."""

    def __init__(self, name: str, log: list[tuple[str, float]], table: dict[str, Fake]) -> None:
        super().__init__(name, log)
        self.table = table

    def idle_check(self, now: float) -> None:
        super().idle_check(now)
        self.table["new"] = Fake("new", self.log)


def test_a_client_added_during_the_sweep_waits_for_the_next_one() -> None:
    log: list[tuple[str, float]] = []
    table: dict[str, Fake] = {}
    table["a"] = Adder("a", log, table)
    table["b"] = Fake("b", log)
    sweep(table.values(), 1.0)
    assert log == [("a", 1.0), ("b", 1.0)]  # the newcomer is not swept in this pass
    log.clear()
    sweep(table.values(), 2.0)
    assert ("new", 2.0) in log


def test_a_client_removing_another_during_the_sweep_still_sees_it_checked() -> None:
    # The sweep walks a snapshot: a client removed by an earlier one is still checked this
    # pass (its own idle_check must cope with being already gone).
    log: list[tuple[str, float]] = []
    table: dict[str, Fake] = {}

    class Remover(Fake):
        def idle_check(self, now: float) -> None:
            super().idle_check(now)
            table.pop("b", None)

    table["a"] = Remover("a", log)
    table["b"] = Fake("b", log)
    sweep(table.values(), 3.0)
    assert log == [("a", 3.0), ("b", 3.0)]
    assert list(table) == ["a"]
