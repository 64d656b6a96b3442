#!/usr/bin/env bash
# bench/train --distributed N: one GBDT (200 trees, depth 6, eta 0.1, hist)
# on flights3m trained by N worker processes over XGBoost's collective, each
# holding only its shard of the rows, against the same model trained by one
# process holding every row, in the same run.
#
# The topology, on loopback: mlpipe-standalone (ingest, prep, split and the
# coordinating train service, with --train_replicas) and N mlpipe-train
# replicas reading from it. Both sides train through the same path: the
# candidate's `distributed: {workers: K}` makes the replicas run K shard
# processes (mlpipe-train-shard); K = 1 is the one process with every row.
# Each shard process reports its peak resident memory (getrusage), so the
# comparison is process for process. Threads: the single process gets 2
# (the machine's cores), each of the N shards max(1, 2 / N).
#
# Prints wall times and their ratio, eval AUCs and their difference, and
# each shard's peak RSS against the single process's; RESULT lines for the
# AUC difference (<= 0.002) and the largest shard's peak RSS (<= 45% of the
# single process's).
#
# Usage: bench/train/run.sh --distributed N [BUILD_DIR] [ROWS]   (ROWS: first N rows; default all)
set -euo pipefail
cd "$(dirname "$0")/../.."
workers="${1:?N}"
[[ "$workers" =~ ^[1-9][0-9]*$ ]] || { echo "N: a number of workers >= 1, got $workers" >&2; exit 2; }
build="${2:-build}"
limit="${3:-0}"
bin="$build/bin"
data="../shared/data/flights3m.csv.gz"
[ -f "$data" ] || { echo "missing $data" >&2; exit 1; }
source bench/lib.sh
work="$(mktemp -d "${TMPDIR:-/tmp}/mlpipe-bench-dist.XXXXXX")"
replica_pids=()
cleanup() {
  if (( ${#replica_pids[@]} )); then
    for p in "${replica_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait "${replica_pids[@]}" 2>/dev/null || true
  fi
  stop_server
  rm -rf "$work"
}
trap cleanup EXIT
cmake --build "$build" --target mlpipe mlpipe-standalone mlpipe-train mlpipe-train-shard > /dev/null

csv="$work/flights.csv"
flights_late_csv "$limit" "$csv"
rows=$(( $(wc -l < "$csv") - 1 ))
flights_pipeline train-dist-bench 0.8 0.2 > "$work/pipeline.yaml"
gbdt_yaml() {  # NAME WORKERS THREADS
  cat > "$work/$1.yaml" <<YAML
model: flights-$1
positive_class: "yes"
threads_per_candidate: $3
checkpoint_every: 50
candidates:
  - {name: gbdt, algorithm: gbdt, distributed: {workers: $2},
     params: {rounds: 200, max_depth: 6, eta: 0.1}}
YAML
}
shard_threads=$(( 2 / workers )); (( shard_threads >= 1 )) || shard_threads=1
gbdt_yaml single 1 2
gbdt_yaml sharded "$workers" "$shard_threads"

# Ports for the replicas, from the OS.
ports=$(/usr/bin/python3 - "$workers" <<'PY'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks: s.close()
PY
)
targets=$(for p in $ports; do printf '127.0.0.1:%s,' "$p"; done)
start_server "$bin" "$work" --train_replicas="ipv4:${targets%,}" --train_tracker_host=127.0.0.1
k=0
for p in $ports; do
  "$bin/mlpipe-train" --data_dir "$work/replica$k" --grpc_port "$p" --metrics_port -1 \
    --bind 127.0.0.1 --split_address "$MLPIPE_SERVER" --prep_address "$MLPIPE_SERVER" \
    2> "$work/replica$k.log" &
  replica_pids+=($!)
  k=$((k + 1))
done
"$bin/mlpipe" --output json run "$work/pipeline.yaml" --watch > "$work/run.json"
split=$(grep -o '"split": *"sp-[0-9a-f]*"' "$work/run.json" | head -1 | grep -o 'sp-[0-9a-f]*')
fs=$(grep -o '"feature_set": *"fs-[0-9a-f]*"' "$work/run.json" | head -1 | grep -o 'fs-[0-9a-f]*')
echo "split $split, feature set $fs ($rows rows); $workers replicas"

now() { date +%s.%N; }
train() {  # NAME -> wall seconds
  local t0 t1
  t0=$(now)
  "$bin/mlpipe" --output json train --split "$split" --feature-set "$fs" \
    --config "$work/$1.yaml" > "$work/$1.out" \
    || { echo "mlpipe train ($1) failed" >&2; exit 1; }
  t1=$(now)
  echo "$t1 - $t0" | bc -l
}
single_s=$(train single) || exit 1
sharded_s=$(train sharded) || exit 1
for name in single sharded; do  # The job (with its trials) is in $name.out.
  "$bin/mlpipe" --output json models show "flights-$name" > "$work/$name.model"
done
"$bin/mlpipe" models show flights-sharded | grep -E "workers|timings"

/usr/bin/python3 - "$rows" "$workers" "$single_s" "$sharded_s" "$shard_threads" "$work" <<'PY'
import json, sys
rows, n = int(sys.argv[1]), int(sys.argv[2])
single_s, sharded_s, threads = float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
work = sys.argv[6]
def load(name):
    model = json.load(open(f"{work}/{name}.model"))
    trial = json.load(open(f"{work}/{name}.out"))["trials"][0]
    auc = [m["value"] for m in model["eval_metrics"] if m["name"] == "auc"][0]
    rss = [int(v) / 2**20 for v in trial.get("shard_peak_rss_bytes", [])]
    return auc, rss, model
auc1, rss1, m1 = load("single")
aucn, rssn, mn = load("sharded")
print(f"bench/train --distributed {n} ({rows:,} rows, 80% train; GBDT 200 trees depth 6)")
print(f"  one process, every row, 2 threads: {single_s:.1f} s, eval AUC {auc1:.6f}, "
      f"peak RSS {rss1[0]:,.0f} MB, {int(m1['train_rows']):,} training rows")
print(f"  {n} shard processes, {threads} thread(s) each: {sharded_s:.1f} s, eval AUC {aucn:.6f}, "
      f"peak RSS " + ", ".join(f"{r:,.0f} MB" for r in rssn) +
      f", {int(mn['train_rows']):,} training rows over the shards")
print(f"  wall time ratio (sharded / one): {sharded_s / single_s:.2f}x "
      f"(every process on this one 2-core machine)")
print(f"  AUC difference {abs(aucn - auc1):.6f}; largest shard peak RSS "
      f"{max(rssn) / rss1[0] * 100:.1f}% of the single process's")
print(f"  workers: {', '.join(mn['workers'])}")
sys.path.insert(0, "bench")
from result import result
result("train.distributed_auc_diff", abs(aucn - auc1), "<=", 0.002)
result("train.distributed_peak_rss_vs_single", max(rssn) / rss1[0], "<=", 0.45)
PY
