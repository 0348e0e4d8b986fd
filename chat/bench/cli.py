"""`chat-bench`: load a chat server over loopback and report what it did.

    chat-bench fanout --spawn --members 1000 --senders 4 --inflight 50
    chat-bench fanout --compare-floor --members 1000 --senders 4 --inflight 50 --runs 3
    chat-bench fanout --spawn --dialect irc --members 1000 --senders 4 --inflight 50
    chat-bench fanout --compare-ngircd --members 1000 --senders 4 --inflight 50 --runs 3
    chat-bench fanout --port 7000 --server-pid 1234 --members 1000 --rate 50
    chat-bench connections --spawn --members 5000 --hold 10
    chat-bench rooms --spawn --rooms 200 --room-size 10 --rate 2000
    chat-bench fanout --spawn-cluster 2,4 --compare-single --members 1000 --inflight 50 --runs 3
    chat-bench connections --spawn-cluster 4 --members 52000 --workers 4 --concurrency 500
    chat-bench fanout --ports 7001,7002 --server-pids 11,12 --members 1000 --rate 50
    chat-bench fanout --spawn --members 1000 --senders 1 --rate 50 --duration 10 --max-p99-ms 10
    chat-bench fanout --spawn --attack burst --members 50 --rate 50 --duration 20 --max-p99-ms 500

Against a server you started yourself, give it `--max-per-ip 0 --msg-rate 0` (all the load
comes from one address, far faster than a person types) and `--server-pid` for RSS and CPU.
`--spawn` starts `chat-server` for each run; `--compare-floor` also starts the reference floor
(`bench/floor_server.py`), alternates runs between the two and prints ours / floor.

IRC: `--dialect irc` speaks IRC (NICK/USER, JOIN, PRIVMSG #room, PONG to every PING); a
chat-server chat-bench spawns gets `--irc --irc-port <free port>` and the load goes there (a
server you started: `--port` is its IRC port). `--compare-ngircd` alternates three targets,
chat-server over JSON ("chat json"), chat-server over IRC ("chat irc") and Debian's ngircd
("ngircd", `apt-get install ngircd`; flood protection off, see `chat.bench.servers`), and
prints chat irc / ngircd and chat irc / chat json. IRC has no echo of one's own message, so an
in-flight sender is topped up when a plain member of its room (not itself) sees its messages.

Clusters (NATS): `--spawn-cluster N` starts a nats-server with JetStream and N nodes for each
run (`--spawn-cluster 2,4`: one of each, alternated); `--compare-single` adds a single
chat-server without NATS to the alternation and prints each cluster / single. `--ports` loads a
cluster you started yourself. Members are spread over the nodes round-robin, senders on the
first node and probes on the others (`chat.bench.cluster.spread`).

Attacks: `--attack KIND` (fanout, rooms) runs a hostile client beside the traffic, from
127.0.0.2, in a process of its own (`chat.bench.attacks`); a server chat-bench spawns gets the
limits the attack runs into (`--max-per-ip 100 --msg-rate 100 ...`), so keep the members under
100 and each sender under 100 messages/s.

Budgets (`make perf`): `--max-p99-ms`, `--max-rss-growth-mib`, `--max-rss-per-conn-kib` are
checked against the medians over the runs (a p99 also needs `--min-samples` latency samples in
every run); with any budget, every run must also lose nothing and every attack must have been
handled. chat-bench prints one line per budget and exits 1 if one is missed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from chat.bench import attacks, report, scenarios
from chat.bench.cluster import Cluster, spread
from chat.bench.frames import DIALECTS
from chat.bench.servers import NGIRCD_LOGINS_AT_ONCE, ngircd_binary, spawn
from chat.bench.workers import WorkerConfig
from chat.settings import version

SOCKETS_PER_WORKER = 19_000


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    g = common.add_argument_group("target")
    g.add_argument("--host", default="127.0.0.1", help="server address (loopback only)")
    g.add_argument("--port", type=int, default=7000)
    g.add_argument("--server-pid", type=int, default=0, help="server PID, for RSS and CPU")
    g.add_argument("--spawn", action="store_true", help="start chat-server for each run")
    g.add_argument(
        "--compare-floor",
        action="store_true",
        help="start chat-server and the floor for each run, alternate, print ratios",
    )
    g.add_argument(
        "--compare-ngircd",
        action="store_true",
        help="start chat-server (json and irc) and ngircd for each run, alternate, print ratios",
    )
    g.add_argument(
        "--spawn-cluster",
        metavar="N[,M...]",
        help="start nats-server and N chat-server nodes for each run (a list: alternate them)",
    )
    g.add_argument(
        "--compare-single",
        action="store_true",
        help="with --spawn-cluster: alternate with a single chat-server, print cluster/single",
    )
    g.add_argument("--ports", metavar="P1,P2,...", help="the nodes of a cluster you started")
    g.add_argument("--server-pids", metavar="PID1,...", help="their PIDs (same order)")
    g.add_argument("--nats-pid", type=int, default=0, help="your nats-server's PID, for its CPU")
    g.add_argument(
        "--server-loop",
        default="auto",
        choices=["auto", "asyncio", "uvloop"],
        help="--loop of the servers chat-bench starts",
    )
    g.add_argument(
        "--server-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra chat-server argument for --spawn (repeatable: --server-arg=--x)",
    )
    g = common.add_argument_group("load")
    g.add_argument(
        "--dialect",
        choices=["json", "text", "irc"],
        help="what the load speaks (default json; --compare-ngircd: irc and json)",
    )
    g.add_argument("--workers", type=int, default=2, help="load processes")
    g.add_argument(
        "--loop",
        default="auto",
        choices=["auto", "asyncio", "uvloop"],
        help="event loop of the load processes",
    )
    g.add_argument("--concurrency", type=int, default=200, help="logins in progress per worker")
    g.add_argument("--timeout", type=float, default=60.0, help="bound on each phase, seconds")
    g.add_argument("--runs", type=int, default=1, help="runs per server (medians reported)")
    g.add_argument("--json", metavar="FILE", help="write every result to FILE as JSON")
    g = common.add_argument_group("budgets (exit 1 when one is missed)")
    g.add_argument("--max-p99-ms", type=float, help="latency p99 of the probes, median of runs")
    g.add_argument(
        "--min-samples",
        type=int,
        default=1000,
        help="latency samples each run needs for --max-p99-ms to mean anything",
    )
    g.add_argument(
        "--max-rss-growth-mib",
        type=float,
        help="growth of the server's RSS while the traffic runs (after everyone is in)",
    )
    g.add_argument(
        "--max-rss-per-conn-kib", type=float, help="server RSS per connection held (connections)"
    )

    p = argparse.ArgumentParser(
        prog="chat-bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = p.add_subparsers(dest="scenario", required=True)

    c = sub.add_parser("connections", parents=[common], help="ramp N connections, hold, measure")
    c.add_argument("--members", type=int, default=1000, help="connections to open")
    c.add_argument("--room-size", type=int, default=10, help="members per room")
    c.add_argument(
        "--fill",
        choices=("spread", "in-order"),
        default="spread",
        help="spread: connection i joins room i %% rooms (each join goes to another room); "
        "in-order: rooms fill one after another (a burst of logins shares a room's writes)",
    )
    c.add_argument("--ramp-rate", type=float, default=0.0, help="connections/s cap (0: none)")
    c.add_argument("--hold", type=float, default=5.0, help="seconds to hold (idle CPU window)")

    for name, helptext in (
        ("fanout", "N members in one room, S senders"),
        ("rooms", "many small rooms, senders in each"),
    ):
        t = sub.add_parser(name, parents=[common], help=helptext)
        if name == "fanout":
            t.add_argument("--members", type=int, default=1000)
            t.add_argument("--senders", type=int, default=4)
        else:
            t.add_argument("--rooms", type=int, default=100)
            t.add_argument("--room-size", type=int, default=10)
            t.add_argument("--senders", type=int, default=1, help="senders per room")
        mode = t.add_mutually_exclusive_group()
        mode.add_argument("--rate", type=float, default=0.0, help="messages/s in, all senders")
        mode.add_argument("--inflight", type=int, default=0, help="messages in flight per sender")
        t.add_argument(
            "--messages",
            type=int,
            default=0,
            help="messages per sender, then stop (0: run for --duration)",
        )
        t.add_argument("--size", type=int, default=100, help="characters per message text")
        t.add_argument("--probes", type=int, default=8, help="members that time deliveries")
        t.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first")
        t.add_argument("--duration", type=float, default=5.0, help="measured seconds")
        t.add_argument(
            "--attack",
            choices=attacks.KINDS,
            help="a hostile client beside the traffic, from 127.0.0.2 (chat.bench.attacks)",
        )

    s = sub.add_parser(
        "soak",
        parents=[common],
        help="mixed load for minutes: rooms at a steady rate, churn, RSS sampled, zero loss",
    )
    s.add_argument("--rooms", type=int, default=50)
    s.add_argument("--room-size", type=int, default=20)
    s.add_argument("--senders", type=int, default=2, help="senders per room")
    s.add_argument("--rate", type=float, default=200.0, help="messages/s in, all senders")
    s.add_argument("--minutes", type=float, default=10.0, help="how long the load runs")
    s.add_argument("--churn", type=float, default=20.0, help="connect-login-quit cycles/s")
    s.add_argument("--size", type=int, default=100, help="characters per message text")
    s.add_argument("--probes", type=int, default=8, help="members that time deliveries")
    return p


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("chat-bench only loads servers on this machine (--host 127.0.0.1)")
    if args.scenario == "soak":  # an exact count over the whole run: every message must arrive
        per_sender = args.rate / (args.rooms * min(args.senders, args.room_size))
        args.messages = max(1, round(per_sender * args.minutes * 60))
        args.inflight, args.warmup, args.duration = 0, 0.0, args.minutes * 60
        args.timeout = max(args.timeout, args.minutes * 60 + 120)
    if args.scenario != "connections" and not args.rate and not args.inflight:
        args.inflight = 20
    check_dialect(args)
    args.attack = getattr(args, "attack", None)
    if args.attack and (args.compare_floor or args.spawn_cluster or args.compare_ngircd):
        raise SystemExit("--attack goes with --spawn or a server you started, one process")
    args.clusters = cluster_sizes(args.spawn_cluster)
    if args.compare_single and not args.clusters:
        raise SystemExit("--compare-single needs --spawn-cluster N")
    if args.clusters and (args.compare_floor or args.spawn or args.ports or args.compare_ngircd):
        raise SystemExit("--spawn-cluster goes with none of --spawn, --compare-floor, --ports")
    if args.compare_ngircd:
        ngircd_binary()  # a missing binary is one line now, not a traceback after a run
    plan = make_plan(args)
    if len(plan.members) > SOCKETS_PER_WORKER * args.workers:
        need = -(-len(plan.members) // SOCKETS_PER_WORKER)
        raise SystemExit(f"{len(plan.members):,} sockets need --workers {need} or more")
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
    if not all(met for _, met in verdicts):
        sys.exit(1)


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


def check_dialect(args: argparse.Namespace) -> None:
    """Settle `args.dialect` (the load's dialect where one server is measured) or exit."""
    if args.compare_ngircd:
        if args.dialect not in (None, "irc"):
            raise SystemExit("--compare-ngircd measures the irc dialect (and json beside it)")
        if args.compare_floor:
            raise SystemExit("--compare-ngircd and --compare-floor: one at a time")
        args.dialect = "irc"
    args.dialect = args.dialect or "json"
    if args.compare_floor and args.dialect != "json":
        raise SystemExit("the floor speaks the json dialect only")
    if args.dialect == "irc" and (args.spawn_cluster or args.scenario == "soak"):
        raise SystemExit("--dialect irc goes with --spawn, --compare-ngircd or --port (not yet "
                         "with clusters or soak)")  # fmt: skip
    if args.dialect == "irc" and getattr(args, "attack", None):
        raise SystemExit("--attack speaks json and text: not with --dialect irc")


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


def cluster_sizes(spec: str | None) -> list[int]:
    if not spec:
        return []
    try:
        sizes = [int(x) for x in spec.split(",")]
    except ValueError:
        raise SystemExit(f"--spawn-cluster takes node counts (2 or 2,4), not {spec!r}") from None
    if not sizes or min(sizes) < 1:
        raise SystemExit("--spawn-cluster: at least one node")
    return sizes


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


if __name__ == "__main__":
    main()
