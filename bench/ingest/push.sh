#!/usr/bin/env bash
# bench/ingest/push: streaming push (Ingestion/Push) on the embedded
# standalone platform, next to the peer a user would otherwise push events
# to, in one run.
#
# Data: flights3m's first 200,000 rows, ingested by a pipeline that prepares
# an online feature set keyed by origin (event time: date), so every pushed
# row is also applied to the online store.
#
# Ours (bench/ingest/push_bench.cc): 4 producers, each a PushClient on its own
# connection, push messages of ROWS rows (the dataset's own rows), durable
# (each group commit is fdatasync'ed before its acknowledgement):
#   - throughput: as fast as acknowledgements allow, SECONDS; the rows/s
#     acknowledged, and the rows/s that reached versions (sustained);
#   - at RATE rows/s (the target's 500,000) for SECONDS: acknowledgement
#     latency (commit p99) and, from a fifth producer pushing a row with a
#     new key every 20 ms, the time until Prep/GetOnlineFeatures serves it
#     (push-to-online visibility p50/p99).
# Peer: Redis 7 streams (XADD, one entry per row, the same five fields),
# AOF with appendfsync always (durable like ours), 4 clients pipelining 100
# commands each (redis-benchmark): the durable event log a user would
# otherwise run beside the platform.
#
# Sustained is what reached dataset versions: the rows of the throughput phase
# over the phase and the compaction of its backlog (FlushPushes) together.
#
# Usage: [SERVER_FLAGS="--push_pace_background_mib=0 ..."] bench/ingest/push.sh [BUILD_DIR]
# Targets (issue 28): >= 500,000 rows/s durable from 4 producers (sustained:
# compaction keeps up), push-to-online visibility p99 <= 50 ms at 500,000
# rows/s.
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${1:-build}"
bin="$build/bin"
rows_per_message="${ROWS:-1000}"
seconds="${SECONDS_PER_PHASE:-20}"
rate="${RATE:-500000}"
source bench/lib.sh
ninja -C "$build" push_bench mlpipe-standalone mlpipe > /dev/null
work="$(mktemp -d "${TMPDIR:-/tmp}/mlpipe-bench-push.XXXXXX")"
redis_pid=""
trap 'stop_server; [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null; rm -rf "$work"' EXIT

gzip -dc ../shared/data/flights3m.csv.gz | head -n 200001 > "$work/flights.csv" || true
cat > "$work/pipeline.yaml" <<EOF
apiVersion: mlpipe/v1
kind: Pipeline
metadata: {name: push-bench}
spec:
  dataset: flights
  steps:
    - {name: load, type: ingest, file: $work/flights.csv}
    - name: features
      type: prepare
      after: [load]
      entity_key: origin
      event_timestamp: date
      transforms:
        - {columns: [delay, distance], impute: median, scale: standard}
EOF

metric() {  # metric NAME: its value from the server's /metrics
  curl -s "http://127.0.0.1:$metrics_port/metrics" | awk -v n="$1" '$1 == n {print $2}'
}

# shellcheck disable=SC2086 # SERVER_FLAGS: words.
keep_data=0 start_server "$bin" "$work" --metrics_port 0 ${SERVER_FLAGS:-}
read -r _ metrics_port < "$work/ports"
"$bin/mlpipe" run "$work/pipeline.yaml" --watch > "$work/run.out"
fs=$("$bin/mlpipe" --output json runs list | grep -o 'fs-[0-9a-f]*' | head -1)
[ -n "$fs" ] || { echo "no feature set: $(cat "$work/run.out")" >&2; exit 1; }

echo "throughput: 4 producers, $rows_per_message rows a message, ${seconds}s"
now() { date +%s.%N; }
compacted() { echo $(( $(metric mlpipe_ingest_push_rows_total) - $(metric mlpipe_ingest_push_pending_rows) )); }
compacted0=$(compacted)
t0=$(now)
peak=$("$bin/push_bench" --server "$MLPIPE_SERVER" --dataset flights \
  --rows "$rows_per_message" --seconds "$seconds" --warmup 2)
echo "  $peak"
peak_rps=$(sed -n 's/.*rows_per_s=\([0-9]*\).*/\1/p' <<< "$peak")
# Sustained: every row of the phase in a dataset version, the backlog
# compaction had left included, over the phase and the drain together.
"$bin/mlpipe" push --dataset flights --file /dev/null --flush > /dev/null
t1=$(now)
compacted1=$(compacted)
sustained=$(echo "($compacted1 - $compacted0) / ($t1 - $t0)" | bc -l)
printf '  pushed and compacted into versions: %.0f rows/s over %.1f s\n' "$sustained" "$(echo "$t1 - $t0" | bc -l)"

echo "latency: $rate rows/s for ${seconds}s, and a probe row every 20 ms"
at_rate=$("$bin/push_bench" --server "$MLPIPE_SERVER" --dataset flights \
  --rows "$rows_per_message" --seconds "$seconds" --warmup 2 --rate "$rate" \
  --probe "$fs" --probe-key origin)
echo "  $at_rate"
stop_server
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<< "$at_rate"; }

# The peer: Redis streams, durable.
redis_port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/redis"
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work/redis" \
  --appendonly yes --appendfsync always --save '' --daemonize no \
  > "$work/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 1 100); do redis-cli -p "$redis_port" ping > /dev/null 2>&1 && break; sleep 0.05; done
redis_out=$(redis-benchmark -p "$redis_port" -c 4 -P 100 -n 2000000 -q \
  XADD events '*' date 2001-01-01T00:01:00 delay 33 distance 2176 origin LAS destination PHL \
  2>/dev/null | tr '\r' '\n' | grep -i 'requests per second' | tail -1)
redis_rps=$(sed -n 's/.*: \([0-9.]*\) requests per second.*/\1/p' <<< "$redis_out")
echo "peer: Redis XADD (AOF, appendfsync always), 4 clients pipelining 100: ${redis_rps} rows/s"

echo
echo "bench/ingest/push ($(nproc) cores)"
printf '  mlpipe push, durable, 4 producers:  %10d rows/s acknowledged, %.0f rows/s sustained (compacted)\n' "$peak_rps" "$sustained"
printf '  Redis XADD, AOF always, 4 clients:  %10.0f rows/s\n' "$redis_rps"
printf '  at %d rows/s: commit p50 %s ms, p99 %s ms; online visible p50 %s ms, p99 %s ms\n' \
  "$rate" "$(field ack_p50_ms)" "$(field ack_p99_ms)" "$(field visible_p50_ms)" "$(field visible_p99_ms)"
machine
result ingest.push_rows_per_s_sustained "$sustained" ">=" 500000
result ingest.push_vs_redis_xadd "$(echo "$peak_rps / $redis_rps" | bc -l)" ">=" 1
result ingest.push_online_visible_p99_ms "$(field visible_p99_ms)" "<=" 50
echo "ingest.push_commit_p99_ms=$(field ack_p99_ms) (reported, no target)"
