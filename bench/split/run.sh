#!/usr/bin/env bash
# bench/split: a stratified split (by delay, a continuous label: deciles) of
# the flights3m feature set, then the train part streamed over gRPC
# (ReadSplit with labels), next to scikit-learn's train_test_split(stratify)
# on the same features held in memory, in the same run.
#
# Ours: CreateSplit reads the label column from the feature store, assigns
# 3M rows, stores one byte per row in RocksDB (fsync) and answers; ReadSplit
# reads the stored feature chunks, filters them and streams frames. The peer
# does none of the I/O: its data is already in memory. Prints both and the
# ratios.
#
# Usage: bench/split/run.sh [BUILD_DIR] [ROWS]   (ROWS: first N rows; default all)
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${1:-build}"
limit="${2:-0}"
bin="$build/bin"
data="../shared/data/flights3m.csv.gz"
[ -f "$data" ] || { echo "missing $data" >&2; exit 1; }
source bench/lib.sh
work="$(mktemp -d "${TMPDIR:-/tmp}/mlpipe-bench-split.XXXXXX")"
trap 'stop_server; rm -rf "$work"' EXIT
cmake --build "$build" --target split_bench mlpipe mlpipe-standalone > /dev/null

csv="$work/flights.csv"
if [ "$limit" -gt 0 ]; then
  gzip -dc "$data" | head -n $((limit + 1)) > "$csv" || true
else
  gzip -dc "$data" > "$csv"
fi
rows=$(( $(wc -l < "$csv") - 1 ))
cat > "$work/features.yaml" <<YAML
apiVersion: mlpipe/v1
kind: Pipeline
metadata: {name: split-bench}
spec:
  dataset: flights
  label: delay
  steps:
    - {name: load, type: ingest, file: flights.csv}
    - name: features
      type: prepare
      after: [load]
      transforms:
        - {columns: [distance], scale: standard}
        - {columns: [origin, destination], one_hot: {max_categories: 20}}
YAML
start_server "$bin" "$work"
now() { date +%s.%N; }
"$bin/mlpipe" --output json run "$work/features.yaml" --watch > "$work/run.json"
fs=$(grep -o '"feature_set": *"fs-[0-9a-f]*"' "$work/run.json" | head -1 | grep -o 'fs-[0-9a-f]*')
echo "feature set $fs ($rows rows)"

t0=$(now)
"$bin/mlpipe" --output json splits create --feature-set "$fs" --strategy stratified \
  --ratios train=0.8,eval=0.1,test=0.1 --seed 1 > "$work/split.json"
t1=$(now)
split=$(grep -o '"id": *"sp-[0-9a-f]*"' "$work/split.json" | head -1 | grep -o 'sp-[0-9a-f]*')
"$bin/mlpipe" splits show "$split"
create_s=$(echo "$t1 - $t0" | bc -l)
stream=$("$build/bin/split_bench" "$MLPIPE_SERVER" "$split" train)
stop_server

peer=$(/usr/bin/python3 bench/split/sklearn_peer.py "$csv")
echo "ours: create ${create_s}s; stream $stream"
echo "peer: $peer"
/usr/bin/python3 - "$rows" "$create_s" "$stream" "$peer" <<'PY'
import json, sys
rows, create = int(sys.argv[1]), float(sys.argv[2])
ours, peer = json.loads(sys.argv[3]), json.loads(sys.argv[4])
print(f"bench/split ({rows:,} rows)")
print(f"  create stratified split: mlpipe {create:.3f} s ({rows / create:,.0f} rows/s, "
      f"durable, through the CLI); scikit-learn train_test_split x2 in memory "
      f"{peer['split_s']:.3f} s ({rows / peer['split_s']:,.0f} rows/s): "
      f"{peer['split_s'] / create:.2f}x the peer's speed")
print(f"  stream the train part: mlpipe ReadSplit {ours['rows']:,} rows x {ours['columns']} "
      f"columns in {ours['seconds']:.3f} s = {ours['rows_per_s']:,.0f} rows/s "
      f"({ours['mb_per_s']:.0f} MB/s over gRPC); numpy take in memory "
      f"{peer['train_rows'] / peer['take_s']:,.0f} rows/s")
sys.path.insert(0, "bench")
from result import result
result("split.create_vs_sklearn", peer["split_s"] / create, ">=", 1)
PY
