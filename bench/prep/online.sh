#!/usr/bin/env bash
# bench/prep/online.sh: online feature look-ups through the platform. Ingests
# an accounts table (KEYS entity keys, two rows each with event times), runs a
# prepare step with entity_key + event_timestamp (which materializes the
# online store), then times GetOnlineFeatures for one random key per call over
# gRPC (loopback TCP), next to grpc.health.v1 Check on the same server as the
# no-work floor. Prints p50 / p99.
#
# Usage: bench/prep/online.sh [BUILD_DIR] [KEYS] [CALLS]
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${1:-build}"
keys="${2:-100000}"
calls="${3:-20000}"
bin="$build/bin"
work="$(mktemp -d "${TMPDIR:-/tmp}/mlpipe-bench-online.XXXXXX")"
source bench/lib.sh
trap 'stop_server; rm -rf "$work"' EXIT
cmake --build "$build" --target online_bench mlpipe mlpipe-standalone > /dev/null
/usr/bin/python3 - "$work/accounts.csv" "$keys" <<'PY'
import random, sys
random.seed(7)
with open(sys.argv[1], "w") as f:
    f.write("id,ts,balance,age,tier\n")
    for day in (1, 2):
        for k in range(int(sys.argv[2])):
            f.write(f"{k},2024-01-0{day}T00:00:00,{random.uniform(0, 1e4):.2f},"
                    f"{random.randint(18, 90)},{random.choice(['gold', 'silver', 'bronze'])}\n")
PY
cat > "$work/online.yaml" <<YAML
apiVersion: mlpipe/v1
kind: Pipeline
metadata: {name: online-bench}
spec:
  dataset: accounts
  steps:
    - {name: load, type: ingest, file: accounts.csv}
    - name: features
      type: prepare
      after: [load]
      entity_key: id
      event_timestamp: ts
      transforms:
        - {columns: [balance, age], impute: median, scale: standard}
        - {columns: [tier], one_hot: true}
YAML
start_server "$bin" "$work"
t0=$(date +%s.%N)
"$bin/mlpipe" --output json run "$work/online.yaml" --watch > "$work/run.json"
t1=$(date +%s.%N)
fs=$(grep -o '"feature_set": *"fs-[0-9a-f]*"' "$work/run.json" | head -1 | grep -o 'fs-[0-9a-f]*')
printf 'ingest + prepare (%d rows, %d keys into the online store): %.2f s\n' \
  "$((2 * keys))" "$keys" "$(echo "$t1 - $t0" | bc -l)"
out=$("$build/bin/online_bench" "$MLPIPE_SERVER" "$fs" "$keys" "$calls")
echo "$out"
echo "$out" | /usr/bin/python3 -c '
import json, sys
r = json.load(sys.stdin)
print("bench/prep online: GetOnlineFeatures 1 key p50 %.0f us, p99 %.0f us; no-op RPC p50 %.0f us, p99 %.0f us (p50 %.2fx the no-op)" % (
    r["lookup_p50_us"], r["lookup_p99_us"], r["noop_p50_us"], r["noop_p99_us"],
    r["lookup_p50_us"] / r["noop_p50_us"]))
sys.path.insert(0, "bench")
from result import result
result("online.lookup_p50_vs_noop", r["lookup_p50_us"] / r["noop_p50_us"], "<=", 1.5)'
