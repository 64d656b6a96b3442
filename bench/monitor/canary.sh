#!/usr/bin/env bash
# bench/monitor canary: the cost of one canary check (issue 27) over ROWS
# logged predictions with actuals (default 1,000,000, half each arm):
# every record into its arm's bounded evidence, then the analysis (AUC with
# DeLong's variance, latency p99 ratio, error rates, confidence sequences,
# the decision). The peer (bench/monitor/canary_peer.py): scikit-learn's
# roc_auc_score and numpy / scipy DeLong (fast midrank) on the same records,
# data already in memory; its time and the ratio are printed.
#
# Usage: bench/monitor/canary.sh [BUILD_DIR] [ROWS]
# Target (issue 27): <= 1 s a check at 1M predictions.
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${1:-build}"
rows="${2:-1000000}"
source bench/lib.sh
work="$(mktemp -d "${TMPDIR:-/tmp}/mlpipe-bench-canary.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cmake --build "$build" --target canary_bench > /dev/null
ours=$("$build/bin/canary_bench" "$rows" "$work")
theirs=$(/usr/bin/python3 bench/monitor/canary_peer.py "$work")
/usr/bin/python3 - "$ours" "$theirs" <<'PY'
import json, sys
ours, peer = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"bench/monitor canary check over {ours['rows']:,} predictions with actuals")
print(f"  mlpipe: {ours['total_s']:.3f} s (evidence {ours['accumulate_s']:.3f} s, "
      f"analysis {ours['analyze_s'] * 1e3:.2f} ms), decision {ours['decision']}; "
      f"AUC canary {ours['auc_canary']:.5f}, primary {ours['auc_primary']:.5f}")
print(f"  peer (scikit-learn AUC + numpy DeLong): {peer['seconds']:.3f} s; AUC canary "
      f"{peer['auc_canary']:.5f}, primary {peer['auc_primary']:.5f}; "
      f"ratio {ours['total_s'] / peer['seconds']:.2f}x")
sys.path.insert(0, "bench")
from result import result
result("monitor.canary_check_1m_seconds", ours["total_s"] * 1e6 / ours["rows"], "<=", 1)
PY
