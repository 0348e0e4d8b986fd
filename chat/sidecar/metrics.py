"""`/metrics`: the snapshot in Prometheus text format, built only when scraped.

A custom collector reads one `Snapshot` per scrape: nothing is updated per message, and each
app gets its own registry (no process-global state, so several servers can share a process).
In cluster mode the snapshot is the merged one, and `chat_node_connections{node=...}` breaks
the connections down by node.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from chat.core.stats import HistorySnapshot, Snapshot
from chat.core.statsview import NodeSnapshot


class ChatCollector(Collector):
    def __init__(
        self, snap: Callable[[], Snapshot], nodes: Callable[[], list[NodeSnapshot]] | None = None
    ) -> None:
        self._snap = snap
        self._nodes = nodes

    def collect(self) -> Iterator[Metric]:
        s = self._snap()
        yield _gauge("chat_nodes", "Chat server processes these numbers cover", s.nodes)
        if self._nodes is not None:
            per_node = GaugeMetricFamily(
                "chat_node_connections", "TCP connections held now, by node", labels=["node"]
            )
            for node in self._nodes():
                per_node.add_metric([node.node], node.snapshot.connections)
            yield per_node
        yield _gauge("chat_connections", "TCP connections held now", s.connections)
        yield _gauge("chat_connections_peak", "Most connections held at once", s.peak_connections)
        yield _counter("chat_connections_accepted", "Connections accepted", s.accepted)
        yield _counter("chat_connections_refused", "Connections refused (server-full)", s.refused)
        yield _counter("chat_clients_registered", "Clients that chose a nick", s.registered)
        yield _gauge("chat_rooms", "Rooms that exist now", s.rooms)
        yield _counter(
            "chat_messages_received", "Room and private messages received", s.messages_received
        )
        yield _counter(
            "chat_messages_delivered", "Message copies queued for recipients", s.deliveries
        )
        disconnects = CounterMetricFamily(
            "chat_disconnects", "Connections closed, by reason", labels=["reason"]
        )
        for reason, n in sorted(s.disconnects.items()):
            disconnects.add_metric([reason], n)
        yield disconnects
        errors = CounterMetricFamily(
            "chat_errors", "Errors sent to clients, by code", labels=["code"]
        )
        for code, n in sorted(s.errors.items()):
            errors.add_metric([code], n)
        yield errors
        moderation = CounterMetricFamily(
            "chat_moderation_actions", "Moderation actions, by name", labels=["action"]
        )
        for action, n in sorted(s.moderation.items()):
            moderation.add_metric([action], n)
        yield moderation
        yield _gauge("chat_start_time_seconds", "Server start time, Unix seconds", s.started)
        yield _gauge("chat_uptime_seconds", "Seconds since the server started", s.uptime)
        yield _gauge("chat_event_loop_lag_seconds", "Latest event loop lag", s.loop_lag)
        yield _gauge(
            "chat_event_loop_lag_max_seconds", "Largest loop lag of the last 10 s", s.loop_lag_max
        )
        yield from _history(s.history)
        accounts = CounterMetricFamily(
            "chat_account_events",
            "Account events (--accounts): registered, identified, failed, throttled, busy,"
            " protected, renamed",
            labels=["event"],
        )
        for event, n in sorted(s.accounts.items()):
            accounts.add_metric([event], n)
        yield accounts


def _history(h: HistorySnapshot) -> Iterator[Metric]:
    yield _gauge("chat_history_messages", "Messages held in room history", h.messages)
    yield _gauge("chat_history_bytes", "Bytes of room history held (--history-bytes)", h.bytes)
    yield _counter("chat_history_evicted", "History messages evicted to fit the bounds", h.evicted)
    resumes = CounterMetricFamily(
        "chat_history_resumes", "Resumes (join with since), by result", labels=["result"]
    )
    resumes.add_metric(["recovered"], h.recovered)
    resumes.add_metric(["not_recovered"], h.not_recovered)
    yield resumes
    yield _counter(
        "chat_history_sequence_retries",
        "Cluster: history stream publishes tried again (lost races, timeouts)",
        h.retries,
    )
    yield _counter(
        "chat_history_unnumbered",
        "Cluster: room lines delivered unnumbered (link down)",
        h.unnumbered,
    )


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def registry_for(
    snap: Callable[[], Snapshot], nodes: Callable[[], list[NodeSnapshot]] | None = None
) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ChatCollector(snap, nodes))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
