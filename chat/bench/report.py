"""Numbers in, tables and JSON out: latency percentiles, medians over runs, ratios to the floor."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
from array import array
from collections.abc import Sequence
from typing import Any

from chat.bench.procfs import loadavg

Result = dict[str, Any]
"""One run against one server: flat metric name -> number (or text)."""

# name -> (column title, format); the order of the summary table
COLUMNS: dict[str, tuple[str, str]] = {
    "held": ("held", "{:,.0f}"),
    "ramp_per_s": ("ramp conn/s", "{:,.0f}"),
    "rss_per_conn_kib": ("RSS/conn KiB", "{:.2f}"),
    "idle_cpu_pct": ("idle CPU %", "{:.2f}"),
    "deliveries_per_s": ("deliveries/s", "{:,.0f}"),
    "messages_per_s": ("msgs in/s", "{:,.0f}"),
    "deliveries_per_cpu_s": ("deliv/server CPU-s", "{:,.0f}"),
    "lat_p50_ms": ("p50 ms", "{:.2f}"),
    "lat_p95_ms": ("p95 ms", "{:.2f}"),
    "lat_p99_ms": ("p99 ms", "{:.2f}"),
    "lat_max_ms": ("max ms", "{:.2f}"),
    "server_cpu_pct": ("server CPU %", "{:.0f}"),
    "nats_cpu_pct": ("nats CPU %", "{:.0f}"),
    "server_ramp_cpu_pct": ("server ramp CPU %", "{:.0f}"),
    "nats_ramp_cpu_pct": ("nats ramp CPU %", "{:.0f}"),
    "rss_node_max_kib": ("max node RSS KiB", "{:,.0f}"),
    "nats_rss_kib": ("nats RSS KiB", "{:,.0f}"),
    "bench_cpu_pct": ("bench CPU %", "{:.0f}"),
    "deliveries_per_write": ("deliv/write", "{:.1f}"),
    "delivered": ("delivered", "{:,.0f}"),
    "expected": ("expected", "{:,.0f}"),
    "lost": ("lost", "{:,.0f}"),
    "lost_messages": ("lost msgs", "{:,.0f}"),
    "churned": ("churned", "{:,.0f}"),
    "rss_first_kib": ("RSS first KiB", "{:,.0f}"),
    "rss_last_kib": ("RSS last KiB", "{:,.0f}"),
    "rss_growth_pct": ("RSS growth %", "{:+.1f}"),
    "rss_growth_kib": ("RSS growth KiB", "{:+,.0f}"),
    "attacks": ("attacks", "{:,.0f}"),
    "attacks_unexpected": ("attacks unhandled", "{:,.0f}"),
}
HIGHER_IS_BETTER = {
    "held",
    "ramp_per_s",
    "deliveries_per_s",
    "messages_per_s",
    "deliveries_per_cpu_s",
}


def percentiles(raw: Sequence[bytes]) -> Result:
    """p50/p95/p99/max in ms of latencies given as packed int64 nanoseconds."""
    values = array("q")
    for chunk in raw:
        values.frombytes(chunk)
    if not values:
        return {"samples": 0}
    ordered = sorted(values)
    n = len(ordered)

    def at(q: float) -> float:
        return ordered[min(n - 1, int(q * n))] / 1e6

    return {
        "samples": n,
        "lat_p50_ms": at(0.50),
        "lat_p95_ms": at(0.95),
        "lat_p99_ms": at(0.99),
        "lat_max_ms": ordered[-1] / 1e6,
    }


def medians(runs: Sequence[Result]) -> Result:
    """The median of each numeric metric over runs."""
    out: Result = {}
    for key in runs[0]:
        values = [r[key] for r in runs if isinstance(r.get(key), int | float)]
        if values and not isinstance(runs[0][key], bool):
            out[key] = statistics.median(values)
    return out


def machine() -> Result:
    return {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "loadavg": loadavg(),
    }


def table(rows: Sequence[tuple[str, Result]], ratio_rows: Sequence[str] = ()) -> str:
    """A plain-text table: one row per (label, result), the columns any result has; the rows
    named in `ratio_rows` hold ratios and are shown as such (`0.60x`)."""
    keys = [k for k in COLUMNS if any(k in r for _, r in rows)]
    head = ["server", *(COLUMNS[k][0] for k in keys)]
    body = [
        [
            label,
            *(_cell(r.get(k), "{:.2f}x" if label in ratio_rows else COLUMNS[k][1]) for k in keys),
        ]
        for label, r in rows
    ]
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
    lines = [
        "  ".join(
            c.rjust(w) if i else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in [head, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def ratios(ours: Result, floor: Result) -> Result:
    """ours / floor for each metric both have (for latency and memory, lower is better)."""
    return {k: ours[k] / floor[k] for k in COLUMNS if k in ours and k in floor and floor[k]}


def _cell(value: Any, fmt: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, int | float):
        return fmt.format(value)
    return str(value)


def write_json(path: str, doc: Result) -> None:
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


class Progress:
    """One self-overwriting status line on stderr, only when stderr is a terminal."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()

    def show(self, text: str) -> None:
        if self.tty:
            sys.stderr.write("\r\x1b[2K" + text)
            sys.stderr.flush()

    def done(self) -> None:
        if self.tty:
            sys.stderr.write("\r\x1b[2K")
            sys.stderr.flush()
