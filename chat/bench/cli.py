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
import sys
from collections.abc import Sequence

from chat.bench import attacks
from chat.bench.compare import compare, make_plan
from chat.bench.servers import ngircd_binary
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
    if not compare(args):
        sys.exit(1)


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


if __name__ == "__main__":
    main()
