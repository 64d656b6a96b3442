#!/usr/bin/env bash
# Builds the fuzz targets (tests/reliability/fuzz) with clang's libFuzzer,
# ASan and UBSan in build-fuzz, and runs each on its corpus for SECONDS
# (default $FUZZ_SECONDS, else 60). Fails when a target finds a crash, a
# leak, undefined behaviour, a slow input (> 10 s) or an allocation over
# 1 GiB; the input is left in build-fuzz/findings/<target>/ (add it to the
# target's corpus once fixed). New coverage-increasing inputs collect in
# build-fuzz/corpus/<target>/, outside the repository.
#
# Usage: scripts/fuzz.sh [SECONDS]   (FUZZ_TARGETS="csv frame" for a few)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-${FUZZ_SECONDS:-60}}"
build="${FUZZ_BUILD_DIR:-build-fuzz}"
targets=(${FUZZ_TARGETS:-csv jsonl frame infer predict pipeline artifact stored_records})

if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$(dirname "$PWD")}" CCACHE_NOHASHDIR=1
fi
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++ -DMLPIPE_FUZZ=ON -DMLPIPE_WERROR=OFF
fi
cmake --build "$build" -j "${JOBS:-2}" --target "${targets[@]/%/_fuzz}"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
failed=()
for t in "${targets[@]}"; do
  mkdir -p "$build/corpus/$t" "$build/findings/$t" "$build/logs"
  log="$build/logs/$t.log"
  echo "== $t: ${seconds} s"
  if ! "$build/fuzz/${t}_fuzz" "$build/corpus/$t" "tests/reliability/fuzz/corpus/$t" \
      -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=1024 \
      -timeout=10 -artifact_prefix="$build/findings/$t/" -print_final_stats=1 \
      >"$log" 2>&1; then
    failed+=("$t")
    grep -E "ERROR|SUMMARY|Test unit written" "$log" | head -5 || true
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  echo "   ${runs:-?} executions; log: $log"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in: ${failed[*]} (see $build/findings/)" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${seconds} s each, no findings"
