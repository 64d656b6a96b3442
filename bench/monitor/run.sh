#!/usr/bin/env bash
# bench/monitor: a drift report over FEATURES numeric features, ROWS
# reference rows against ROWS current rows (generated with fixed seeds: normal,
# log-normal, exponential, uniform and Poisson shapes; every fourth feature
# moved in the current rows), next to scipy + numpy on the same values in the
# same run.
#
# Ours (bench/monitor/monitor_bench.cc): the monitor's profiles (KLL
# sketches, mergeable, bounded: what the service keeps per window) of both
# sets from the raw values, the features spread over THREADS threads, then
# the report (KS + p-value, PSI, Jensen-Shannon, Wasserstein, missing and
# out-of-range rates per feature). The peer: scipy.stats.ks_2samp and a numpy
# PSI per feature (DESIGN.md section 6), and separately the same plus
# wasserstein_distance and jensenshannon. Prints times, the ratios, and how
# far the sketch-based statistics are from the exact ones (the documented
# bounds: KS within 2 x 1.66% with 99% confidence for k = 200).
#
# Usage: bench/monitor/run.sh [BUILD_DIR] [ROWS] [FEATURES] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${1:-build}"
rows="${2:-1000000}"
features="${3:-20}"
threads="${4:-2}"
work="$(mktemp -d "${TMPDIR:-/tmp}/mlpipe-bench-monitor.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cmake --build "$build" --target monitor_bench > /dev/null
"$build/bin/monitor_bench" generate "$rows" "$features" "$work"
ours=$("$build/bin/monitor_bench" report "$rows" "$features" "$work" "$threads")
peer=$(/usr/bin/python3 bench/monitor/peer.py "$rows" "$features" "$work")
/usr/bin/python3 - "$rows" "$features" "$threads" "$ours" "$peer" <<'PY'
import json, sys
rows, features, threads = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
ours, peer = json.loads(sys.argv[4]), json.loads(sys.argv[5])
print(f"bench/monitor: drift report, {features} features, {rows:,} reference vs {rows:,} current rows")
print(f"  mlpipe (profiles from raw values on {threads} threads + report): {ours['total_s']:.3f} s "
      f"(profiles {ours['profile_s']:.3f} s, report {ours['compare_s']:.4f} s); "
      f"{ours['drifted']} features drifted; both profiles {ours['profile_bytes'] / 1024:.0f} KiB")
print(f"  mlpipe report from kept profiles (GetReport): {ours['report_only_s'] * 1e3:.1f} ms")
print(f"  scipy ks_2samp + numpy PSI: {peer['ks_psi_s']:.3f} s -> {peer['ks_psi_s'] / ours['total_s']:.1f}x "
      f"(target >= 10x)")
print(f"  ... + wasserstein_distance + jensenshannon: {peer['all_s']:.3f} s -> "
      f"{peer['all_s'] / ours['total_s']:.1f}x")
worst = {k: 0.0 for k in ("ks", "psi", "js", "wasserstein_std")}
for o, p in zip(ours["fields"], peer["fields"]):
    for k in worst:
        worst[k] = max(worst[k], abs(o[k] - p[k]))
print("  largest difference from the exact statistics: " +
      ", ".join(f"{k} {v:.4g}" for k, v in worst.items()) +
      " (KS bound 0.0332 at 99%)")
drifted_peer = sum(1 for p in peer["fields"] if p["psi"] >= 0.2)
print(f"  features with PSI >= 0.2: mlpipe {ours['drifted']}, numpy {drifted_peer}")
sys.path.insert(0, "bench")
from result import result
result("monitor.speed_vs_scipy", peer["ks_psi_s"] / ours["total_s"], ">=", 10)
PY
