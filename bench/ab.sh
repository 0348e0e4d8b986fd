#!/usr/bin/env bash
# A/B two versions of the server core under the same chat-bench fan-out load, alternating runs.
#
#   git archive <old-commit> chat | tar -x -C /tmp/old      # the "before" tree
#   bench/ab.sh /tmp/old . 3                                 # 3 pairs, old then new each time
#   LOOP=asyncio bench/ab.sh /tmp/old . 3 --members 500      # other loop / extra chat-bench args
#   LOAD='--rate 200' bench/ab.sh /tmp/old . 3 --duration 10      # a steady rate: its p99
#
# Each run starts a fresh chat-server from <tree> on a random free-ish loopback port,
# drives `chat-bench fanout --inflight` against it, and prints deliveries/s and server CPU.
# Quote the median of the pairs; this machine is noisy.
set -euo pipefail
old=$1 new=$2 runs=${3:-3}
shift $(( $# < 3 ? $# : 3 ))
cd "$(dirname "$0")/.."
py=$PWD/.venv/bin/python
for i in $(seq 1 "$runs"); do
  for side in old new; do
    tree=$old; [ "$side" = new ] && tree=$new
    port=$(( 20000 + RANDOM % 20000 ))
    # Run from the tree itself: `python -m` puts the working directory first on sys.path, so
    # PYTHONPATH alone would still import this checkout's `chat`.
    (cd "$tree" && exec "$py" -m chat --port "$port" --log-level warning --max-per-ip 0 \
      --msg-rate 0 --max-clients 20000 --loop "${LOOP:-auto}" 2>/dev/null) &
    pid=$!
    for _ in $(seq 50); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
    out=$(mktemp)
    $py -m chat.bench.cli fanout --port "$port" --server-pid "$pid" --members 1000 --senders 4 \
      ${LOAD:---inflight 50} --duration 5 --json "$out" "$@" > /dev/null
    $py - "$out" "$side" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))["runs"]["given"][0]
print(
    f"{sys.argv[2]:4} {run['deliveries_per_s']:>12,.0f} deliveries/s"
    f"  server CPU {run.get('server_cpu_pct', 0):3.0f}%"
    f"  p50 {run.get('lat_p50_ms', 0):6.2f} ms  p99 {run.get('lat_p99_ms', 0):6.2f} ms"
    f"  deliv/write {run.get('deliveries_per_write', 0):5.1f}"
)
PY
    rm -f "$out"
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
done
