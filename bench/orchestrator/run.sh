#!/usr/bin/env bash
# bench/orchestrator: orchestration overhead. A 100-step DAG of no-op steps
# (as a chain, where every step waits for the one before, and as 10 layers of
# 10), run cold (--no-cache) and then fully cached, on mlpipe-standalone.
# Times come from the run's own created_at / finished_at.
#
# Usage: bench/orchestrator/run.sh [BUILD_DIR] [REPEATS]
# Targets (DESIGN.md §6): <= 5 ms overhead per step; a fully cached re-run
# <= 2% of the cold run.
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${1:-build}"
repeats="${2:-5}"
bin="$build/bin"
source bench/lib.sh
work="$(mktemp -d "${TMPDIR:-/tmp}/mlpipe-bench-orch.XXXXXX")"
trap 'stop_server; rm -rf "$work"' EXIT
start_server "$bin" "$work" --enable_test_steps --max_parallel_steps 10

for shape in chain:1 layers:10; do
  name=${shape%%:*}; width=${shape#*:}
  /usr/bin/python3 bench/orchestrator/make_dag.py 100 "$width" > "$work/$name.yaml"
  best_cold=""; best_cached=""
  for i in $(seq 1 "$repeats"); do
    cold=$("$bin/mlpipe" --output json run "$work/$name.yaml" --watch --no-cache | /usr/bin/python3 bench/orchestrator/run_stats.py)
    cached=$("$bin/mlpipe" --output json run "$work/$name.yaml" --watch | /usr/bin/python3 bench/orchestrator/run_stats.py)
    echo "$name round $i: cold $cold | cached $cached"
    c=${cold%% *}; k=${cached%% *}
    if [ -z "$best_cold" ] || (( $(echo "$c < $best_cold" | bc -l) )); then best_cold=$c; fi
    if [ -z "$best_cached" ] || (( $(echo "$k < $best_cached" | bc -l) )); then best_cached=$k; fi
  done
  per_step=$(echo "$best_cold * 1000 / 100" | bc -l)
  fraction=$(echo "100 * $best_cached / $best_cold" | bc -l)
  printf '%s (100 no-op steps, best of %d): cold %.3f s = %.2f ms/step (target <= 5); cached re-run %.4f s = %.2f%% of cold (target <= 2%%)\n' \
    "$name" "$repeats" "$best_cold" "$per_step" "$best_cached" "$fraction"
  result "orchestrator.$name.ms_per_step" "$per_step" "<=" 5
  result "orchestrator.$name.cached_pct_of_cold" "$fraction" "<=" 2
done
