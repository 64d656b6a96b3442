#!/usr/bin/env bash
# bench/prep: statistics of every column + fit + apply of the same transforms
# (impute, quantile clip, standard / min-max scale, log1p, one-hot with
# max_categories) on flights3m (3,000,000 rows), mlpipe's common/features
# against pandas describe + a scikit-learn ColumnTransformer, same run, data
# loaded beforehand on both sides (untimed). In process for now: the prep
# service's Prepare will run this same code.
#
# Usage: bench/prep/run.sh [BUILD_DIR] [REPEATS]
# Target (DESIGN.md §6): >= 3x.
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${1:-build}"
repeats="${2:-3}"
work="$(mktemp -d "${TMPDIR:-/tmp}/mlpipe-bench-prep.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cmake --build "$build" --target prep_bench > /dev/null
gzip -dc ../shared/data/flights3m.csv.gz > "$work/flights3m.csv"
best_ours=""; best_peer=""
for i in $(seq 1 "$repeats"); do
  ours=$("$build/bin/prep_bench" "$work/flights3m.csv" bench/prep/transforms.json)
  peer=$(/usr/bin/python3 bench/prep/sklearn_peer.py "$work/flights3m.csv")
  echo "round $i: mlpipe $ours"
  echo "         sklearn $peer"
  o=$(echo "$ours" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
  p=$(echo "$peer" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
  if [ -z "$best_ours" ] || (( $(echo "$o < $best_ours" | bc -l) )); then best_ours=$o; fi
  if [ -z "$best_peer" ] || (( $(echo "$p < $best_peer" | bc -l) )); then best_peer=$p; fi
done
printf '\nbench/prep (best of %d): mlpipe %.3f s, pandas + scikit-learn %.3f s -> %.2fx (target >= 3x)\n' \
  "$repeats" "$best_ours" "$best_peer" "$(echo "$best_peer / $best_ours" | bc -l)"
source bench/lib.sh
result prep.speed_vs_sklearn "$(echo "$best_peer / $best_ours" | bc -l)" ">=" 3
