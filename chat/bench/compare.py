"""Running a chat-bench comparison and reporting it.

`compare` runs the scenario `args` asks for against each kind of server (chat-server, the floor,
ngircd, clusters of N nodes, a server you started), alternating them run by run, and prints a
line per run, then the medians, the ratios and the budgets' verdicts (`--json`: all of it in a
file). `one_run` is one run against one kind of server, started for it and stopped after it.
The command line (`chat-bench`, its flags and their checks) is `chat.bench.cli`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from chat.bench import attacks, report, scenarios
from chat.bench.cluster import Cluster, spread
from chat.bench.frames import DIALECTS
from chat.bench.servers import NGIRCD_LOGINS_AT_ONCE, spawn
from chat.bench.workers import WorkerConfig


def compare(args: argparse.Namespace) -> bool:
    """Every run of every kind of server, alternated, then the report; False if a budget
    was missed."""
    drive: Callable[..., report.Result] = {
        "connections": scenarios.run_connections,
        "soak": scenarios.run_soak,
    }.get(args.scenario, scenarios.run_attacked if args.attack else scenarios.run_traffic)
    if args.clusters:
        kinds = ["single"] * args.compare_single + [cluster_label(n) for n in args.clusters]
    elif args.compare_ngircd:
        kinds = ["chat json", "chat irc", "ngircd"]
    else:
        kinds = ["chat", "floor"] if args.compare_floor else ["chat" if args.spawn else "given"]
    results: dict[str, list[report.Result]] = {k: [] for k in kinds}
    width = max(5, *(len(k) for k in kinds))
    for run in range(args.runs):
        for kind in kinds if run % 2 == 0 else kinds[::-1]:
            plan = make_plan(args)  # fresh nicks for every run
            result = one_run(kind, plan, args, drive)
            results[kind].append(result)
            print(f"run {run + 1} {kind:{width}}  " + brief(result), flush=True)
    summary = {k: report.medians(v) for k, v in results.items()}
    rows = [(k, summary[k]) for k in kinds]
    doc: dict[str, Any] = {
        "scenario": args.scenario,
        "args": vars(args),
        "machine": report.machine(),
        "runs": results,
        "medians": summary,
    }
    pairs = [("chat", "floor")] if args.compare_floor else []
    if args.compare_ngircd:
        pairs = [("chat irc", "ngircd"), ("chat irc", "chat json")]
    if args.compare_single:
        pairs = [(k, "single") for k in kinds[1:]]
    doc["ratios"] = {}
    for ours, base in pairs:
        ratio = report.ratios(summary[ours], summary[base])
        ratio.pop("delivered", None)  # counts over unequal windows: not comparable
        doc["ratios"][f"{ours}/{base}"] = ratio
        rows.append((f"{ours}/{base}", ratio))
    if args.compare_floor:
        doc["ratio"] = doc["ratios"]["chat/floor"]
    print(
        f"\n{args.scenario}: {describe(args)}; medians of {args.runs} run(s); "
        f"{os.cpu_count()} cpus, load {report.machine()['loadavg']}"
    )
    print(report.table(rows, ratio_rows=list(doc["ratios"])))
    measured = {k: v for k, v in results.items() if k not in ("floor", "ngircd")}
    verdicts = budgets(args, measured, summary)
    doc["budgets"] = [{"budget": text, "met": met} for text, met in verdicts]
    for text, met in verdicts:
        print(f"budget {'met   ' if met else 'MISSED'}  {text}")
    if args.json:
        report.write_json(args.json, doc)
    return all(met for _, met in verdicts)


def budgets(
    args: argparse.Namespace,
    runs: dict[str, list[report.Result]],
    summary: dict[str, report.Result],
) -> list[tuple[str, bool]]:
    """Each budget asked for, for each server measured: (what was checked, met or not)."""
    asked = [
        ("lat_p99_ms", args.max_p99_ms, "p99 latency", "ms", "{:.2f}"),
        ("rss_growth_kib", _kib(args.max_rss_growth_mib), "server RSS growth", "KiB", "{:+,.0f}"),
        ("rss_per_conn_kib", args.max_rss_per_conn_kib, "server RSS per connection", "KiB",
         "{:.2f}"),
    ]  # fmt: skip
    out: list[tuple[str, bool]] = []
    if not any(limit is not None for _, limit, *_ in asked):
        return out
    for kind, results in runs.items():
        label = f"{kind}: " if len(runs) > 1 else ""
        for key, limit, what, unit, fmt in asked:
            if limit is None:
                continue
            value = summary[kind].get(key)
            if value is None:
                out.append((f"{label}{what}: not measured (no --server-pid?)", False))
                continue
            shown = f"{label}{what} {fmt.format(value)} {unit} <= {limit:g} {unit}"
            out.append((f"{shown} (median of {len(results)})", value <= limit))
        if args.max_p99_ms is not None:
            fewest = min(r.get("samples", 0) for r in results)
            out.append(
                (
                    f"{label}latency samples {fewest:,} >= {args.min_samples:,} in every run",
                    fewest >= args.min_samples,
                )
            )
        lost = max(r.get("lost", 0) + r.get("failed", 0) for r in results)
        out.append(
            (f"{label}connections refused or lost by the load: {lost} (none allowed)", lost == 0)
        )
        if args.attack:
            tried = min(r.get("attacks", 0) for r in results)
            odd = max(r.get("attacks_unexpected", 0) for r in results)
            problem = next((r["attack_problem"] for r in results if r.get("attack_problem")), "")
            out.append(
                (
                    f"{label}{args.attack} attacks: {tried} per run at least, "
                    f"{odd} not handled as documented {problem}".rstrip(),
                    tried > 0 and odd == 0,
                )
            )
    return out


def kind_dialect(kind: str, args: argparse.Namespace) -> str:
    """What the load speaks to the server of this kind of run."""
    fixed = {"chat json": "json", "chat irc": "irc", "ngircd": "irc", "floor": "json"}
    return fixed.get(kind, str(args.dialect))


def _kib(mib: float | None) -> float | None:
    return None if mib is None else mib * 1024


def make_plan(args: argparse.Namespace) -> scenarios.Plan:
    if args.scenario == "connections":
        return scenarios.plan_connections(args.members, args.room_size, args.fill == "in-order")
    if args.scenario == "fanout":
        return scenarios.plan_fanout(args.members, args.senders, args.probes)
    if args.scenario == "soak":
        plan = scenarios.plan_rooms(args.rooms, args.room_size, args.senders, args.probes)
        plan.scenario = "soak"
        return plan
    return scenarios.plan_rooms(args.rooms, args.room_size, args.senders, args.probes)


def cluster_label(nodes: int) -> str:
    return f"{nodes} node" + "s" * (nodes != 1)


def given_target(args: argparse.Namespace) -> scenarios.Target:
    if not args.ports:
        return scenarios.Target(
            args.host, (args.port,), (args.server_pid,) if args.server_pid else ()
        )
    ports = tuple(int(p) for p in args.ports.split(","))
    pids = tuple(int(p) for p in args.server_pids.split(",")) if args.server_pids else ()
    if pids and len(pids) != len(ports):
        raise SystemExit("--server-pids: one per port")
    return scenarios.Target(args.host, ports, pids, args.nats_pid)


def one_run(
    kind: str, plan: scenarios.Plan, args: argparse.Namespace, drive: Callable[..., report.Result]
) -> report.Result:
    server = None
    cluster: Cluster | None = None
    dialect = kind_dialect(kind, args)
    if kind == "given":
        target = given_target(args)
    elif kind.endswith(("node", "nodes")):
        nodes = int(kind.split()[0])
        cluster = Cluster.start(nodes, args.server_loop, len(plan.members), args.server_arg)
        target = scenarios.Target("127.0.0.1", cluster.ports, cluster.pids, cluster.nats.pid)
    else:
        extra = args.server_arg if kind in ("chat", "single", "chat json", "chat irc") else []
        if args.attack:  # the limits the attack is meant to run into; --server-arg still wins
            extra = [*attacks.SERVER_FLAGS, *extra]
        server = spawn(
            kind if kind in ("floor", "ngircd") else "chat",
            args.server_loop,
            len(plan.members),
            extra,
            irc=dialect == "irc" and kind != "ngircd",
        )
        port = server.irc_port or server.port
        target = scenarios.Target(server.host, (port,), (server.pid,))
    plan.members = spread(plan.members, len(target.ports))
    if not DIALECTS[dialect].echo and len(target.ports) == 1 and args.scenario != "connections":
        plan.members = scenarios.pace_by_members(plan.members)
    config = WorkerConfig(
        target.host,
        target.ports,
        dialect,
        args.loop,
        min(args.concurrency, NGIRCD_LOGINS_AT_ONCE) if kind == "ngircd" else args.concurrency,
        getattr(args, "ramp_rate", 0.0) / args.workers,
        getattr(args, "size", 100),
    )
    try:
        result = drive(target, plan, config, args)
        if cluster is not None:
            result |= cluster_health(cluster)
        return result
    finally:
        if cluster is not None:
            codes = cluster.stop()
            if any(code not in (0, -15) for code in codes):
                print(f"warning: cluster nodes exited with {codes}", file=sys.stderr)
            cluster.cleanup()
        if server is not None:
            code = server.stop()
            if code not in (0, -15):
                print(f"warning: {kind} server exited with {code}", file=sys.stderr)


def cluster_health(cluster: Cluster) -> report.Result:
    """Did the broker keep up? nats-server's slow consumers, the nodes' warnings."""
    varz = cluster.varz()
    out: report.Result = {"node_warnings": cluster.warnings()}
    for key in ("slow_consumers", "in_msgs", "out_msgs", "mem"):
        if key in varz:
            out[f"nats_{key}"] = varz[key]
    return out


def brief(r: report.Result) -> str:
    keys = (
        "held",
        "ramp_per_s",
        "rss_per_conn_kib",
        "idle_cpu_pct",
        "deliveries_per_s",
        "deliveries_per_cpu_s",
        "lat_p50_ms",
        "lat_p99_ms",
        "server_cpu_pct",
        "nats_cpu_pct",
        "server_ramp_cpu_pct",
        "nats_ramp_cpu_pct",
        "rss_node_max_kib",
        "rss_growth_kib",
        "bench_cpu_pct",
        "lost",
        "attacks",
        "attacks_unexpected",
    )
    text = "  ".join(
        f"{report.COLUMNS[k][0]} {report.COLUMNS[k][1].format(r[k])}" for k in keys if k in r
    )
    if r.get("nats_slow_consumers"):
        text += f"  NATS SLOW CONSUMERS {r['nats_slow_consumers']}"
    if r.get("node_warnings"):
        text += f"  node warnings {r['node_warnings']}"
    return text


def describe(args: argparse.Namespace) -> str:
    if args.scenario == "connections":
        return (
            f"{args.members:,} connections in rooms of {args.room_size} ({args.fill}),"
            f" hold {args.hold:g}s"
        )
    who = (
        f"{args.members:,} members, {args.senders} senders"
        if args.scenario == "fanout"
        else f"{args.rooms:,} rooms x {args.room_size}, {args.senders} sender(s) each"
    )
    if args.scenario == "soak":
        who += f", {args.churn:g} churn cycles/s, {args.minutes:g} min"
    if args.attack:
        who += f", under a {args.attack} attack"
    load = f"{args.inflight} in flight/sender" if args.inflight else f"{args.rate:g} msgs/s in"
    count = f"{args.messages} msgs/sender" if args.messages else f"{args.duration:g}s measured"
    dialect = "irc (json: chat json)" if args.compare_ngircd else args.dialect
    return f"{who}, {load}, {args.size}-char {dialect}, {count}, {args.workers} workers"
