#!/usr/bin/env bash
# Installs the Debian packages mlpipe needs to build, test and benchmark.
# Idempotent: packages already present are skipped, and apt is not touched at
# all when nothing is missing.
#
# Usage: scripts/install-deps.sh [build|test|bench|fuzz|npm]   (default: test)
#   npm: the Node packages the deploy tests use (tests/deploy, from its
#   package-lock.json), once.
set -euo pipefail

profile="${1:-test}"
root="$(cd "$(dirname "$0")/.." && pwd)"

if [ "$profile" = npm ]; then
  if [ ! -d "$root/tests/deploy/node_modules/kubernetes-models" ]; then
    echo "install-deps: npm ci in tests/deploy"
    npm ci --prefix "$root/tests/deploy" --no-audit --no-fund --loglevel=error
  fi
  exit 0
fi

build_pkgs=(
  cmake ninja-build ccache g++ pkg-config
  libgrpc++-dev protobuf-compiler protobuf-compiler-grpc libprotobuf-dev
  libabsl-dev librocksdb-dev libzstd-dev liblz4-dev libsnappy-dev libbz2-dev zlib1g-dev
  prometheus-cpp-dev libcivetweb-dev libyaml-cpp-dev libssl-dev
  libxgboost-dev xgboost libjemalloc-dev libhiredis-dev
  libgtest-dev libgmock-dev
  python3-xgboost  # XGBoost's tracker (distributed training), copied into the image
)
test_pkgs=(prometheus      # promtool lints /metrics in the tests.
           redis-server    # the Redis online store's tests run a real one
           clang-format    # make test checks the sources' layout
           python3 python3-numpy python3-pandas python3-sklearn python3-xgboost  # reference values in tests
           python3-grpcio  # a Python client calls Predict in a test
           chromium    # renders the evaluation report in a test
           nodejs npm  # validate the Kubernetes manifests (tests/deploy)
           python3-yaml)  # scripts/topology.py reads the manifests
fuzz_pkgs=(clang libclang-rt-14-dev)  # libFuzzer, ASan, UBSan (make fuzz)
bench_pkgs=(redis-server python3 python3-pandas python3-numpy python3-sklearn python3-xgboost
            python3-grpcio python3-scipy time bc)

case "$profile" in
  build) want=("${build_pkgs[@]}") ;;
  test)  want=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
  bench) want=("${build_pkgs[@]}" "${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
  fuzz)  want=("${build_pkgs[@]}" "${fuzz_pkgs[@]}") ;;
  *) echo "usage: $0 [build|test|bench|fuzz]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    # A Node.js or npm installed otherwise than from Debian does as well.
    if [ "$p" = nodejs ] || [ "$p" = npm ]; then
      command -v "${p/nodejs/node}" >/dev/null && continue
    fi
    missing+=("$p")
  fi
done
# kubectl renders the manifests (kubectl kustomize); Debian's is in
# kubernetes-client.
if [ "$profile" != build ] && [ "$profile" != fuzz ] && ! command -v kubectl >/dev/null; then
  missing+=(kubernetes-client)
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root (or: sudo $0 $profile)" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists only when they are absent or older than a day.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
  apt-get update -qq
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
