#!/usr/bin/env bash
# Runs every benchmark (bench/*), each against its peer in the same run, and
# ends with a table of their RESULT lines (bench/result.py). Exits non-zero
# when a figure misses its target (with the 10% margin) or a bench fails.
#
# Usage: scripts/bench.sh [BUILD_DIR]   (BENCHES="ingest score" for some)
# The full log is kept in $BUILD_DIR/bench.log.
set -uo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
benches=(${BENCHES:-ingest push orchestrator prep online split score train distributed monitor drift canary})
log="$build/bench.log"
source bench/lib.sh
machine | tee "$log"
failed=()
for b in "${benches[@]}"; do
  case "$b" in
    online) script=(bench/prep/online.sh --redis) ;;
    drift) script=(bench/monitor/scale.sh) ;;
    distributed) script=(bench/train/run.sh --distributed 3) ;;
    canary) script=(bench/monitor/canary.sh) ;;
    push) script=(bench/ingest/push.sh) ;;
    *) script=("bench/$b/run.sh") ;;
  esac
  echo "== ${script[*]}" | tee -a "$log"
  if ! "${script[@]}" "$build" 2>&1 | tee -a "$log"; then
    failed+=("$b")
  fi
done

echo
echo "== RESULT lines ($(date -u +%FT%TZ), $(git rev-parse --short HEAD 2>/dev/null))"
grep '^RESULT ' "$log" | awk '{
  ok = $5; sub(/^ok=/, "", ok); printf "%-40s %-16s %-12s %-4s %s\n", $2, $3, $4, ok, $6
  if (ok != "yes") bad++ } END { exit bad > 0 }'
missed=$?
if [ ${#failed[@]} -gt 0 ]; then
  echo "bench: failed to run: ${failed[*]}" >&2
  exit 1
fi
if [ "$missed" -ne 0 ]; then
  echo "bench: some figures miss their targets (ok=no above)" >&2
  exit 1
fi
echo "bench: every figure meets its target with a 10% margin"
