#!/usr/bin/env bash
# bench/ingest: durable CSV ingest of flights3m (3,000,000 rows) through gRPC
# into RocksDB, against pandas read_csv (parse only, no storage) on the same
# file, in the same run. Prints rows/s of both, the ratio and our peak RSS.
#
# Usage: bench/ingest/run.sh [BUILD_DIR] [REPEATS]
# Targets (DESIGN.md §6): >= 3x pandas rows/s, server peak RSS <= 256 MB.
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${1:-build}"
repeats="${2:-3}"
bin="$build/bin"
data="../shared/data/flights3m.csv.gz"
[ -f "$data" ] || { echo "missing $data" >&2; exit 1; }

source bench/lib.sh
work="$(mktemp -d "${TMPDIR:-/tmp}/mlpipe-bench-ingest.XXXXXX")"
trap 'stop_server; rm -rf "$work"' EXIT

csv="$work/flights3m.csv"
gzip -dc "$data" > "$csv"
rows=$(( $(wc -l < "$csv") - 1 ))
bytes=$(stat -c %s "$csv")
echo "input: $rows rows, $bytes bytes (decompressed to $csv)"

now() { date +%s.%N; }
best_ours=""; best_pandas=""; peak_rss_kb=0
for i in $(seq 1 "$repeats"); do
  # A fresh server and store each round: the first write of a new dataset.
  start_server "$bin" "$work"
  t0=$(now)
  "$bin/mlpipe" ingest --dataset flights --file "$csv" > "$work/ingest.out"
  t1=$(now)
  rss=$(awk '/VmHWM/ {print $2}' "/proc/$server_pid/status")
  stop_server
  ours=$(echo "$t1 - $t0" | bc -l)

  pandas_out=$(/usr/bin/python3 bench/ingest/pandas_read_csv.py "$csv")
  pandas_rows=${pandas_out% *}
  pandas=${pandas_out#* }
  [ "$pandas_rows" = "$rows" ] || { echo "pandas read $pandas_rows rows, expected $rows" >&2; exit 1; }

  printf 'round %d: mlpipe %.3f s (%s), pandas %.3f s, server peak RSS %d MB\n' \
    "$i" "$ours" "$(cat "$work/ingest.out")" "$pandas" $((rss / 1024))
  if [ -z "$best_ours" ] || (( $(echo "$ours < $best_ours" | bc -l) )); then best_ours=$ours; fi
  if [ -z "$best_pandas" ] || (( $(echo "$pandas < $best_pandas" | bc -l) )); then best_pandas=$pandas; fi
  (( rss > peak_rss_kb )) && peak_rss_kb=$rss
done

ours_rps=$(echo "$rows / $best_ours" | bc -l)
pandas_rps=$(echo "$rows / $best_pandas" | bc -l)
ratio=$(echo "$ours_rps / $pandas_rps" | bc -l)
echo
echo "bench/ingest (best of $repeats, $(nproc) cores)"
printf '  mlpipe ingest (CLI -> gRPC -> RocksDB, durable): %10.0f rows/s  (%.3f s)\n' "$ours_rps" "$best_ours"
printf '  pandas read_csv (parse only):                    %10.0f rows/s  (%.3f s)\n' "$pandas_rps" "$best_pandas"
printf '  ratio: %.2fx pandas   (target >= 3x)\n' "$ratio"
printf '  server peak RSS: %d MB (target <= 256 MB)\n' $((peak_rss_kb / 1024))
machine
result ingest.rows_per_s_vs_pandas "$ratio" ">=" 3
result ingest.peak_rss_mb $((peak_rss_kb / 1024)) "<=" 256
