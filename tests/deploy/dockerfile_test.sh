#!/usr/bin/env bash
# docker/Dockerfile, checked without a Docker engine: its build stage installs
# the packages scripts/install-deps.sh builds with and builds every server
# binary CMake defines; its runtime stage installs the Debian package of every
# shared library those binaries link (ldd + dpkg on the binaries built here),
# runs as a non-root user and exposes the gRPC and metrics ports.
# Usage: tests/deploy/dockerfile_test.sh BIN_DIR
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${1:?BIN_DIR}"
dockerfile="$root/docker/Dockerfile"
fail=0
problem() { echo "Dockerfile: $*" >&2; fail=1; }

# The apt-get install list of stage N (1: build, 2: runtime).
stage_packages() {
  awk -v want="$1" '
    /^FROM / { stage++ }
    stage == want && /apt-get install/ { on = 1; next }
    on { line = $0; sub(/&&.*/, "", line); gsub(/\\/, "", line); print line
         if ($0 ~ /&&/) on = 0 }' "$dockerfile" | tr ' ' '\n' | grep -v '^$' | sort -u
}
build_pkgs="$(stage_packages 1)"
runtime_pkgs="$(stage_packages 2)"
[ -n "$runtime_pkgs" ] || problem "no runtime packages found"

# 1. The build stage installs what install-deps.sh builds with.
deps_pkgs="$(sed -n '/^build_pkgs=(/,/^)/p' "$root/scripts/install-deps.sh" \
  | sed 's/build_pkgs=(//; s/)//; s/#.*//' | tr ' ' '\n' | grep -v '^$' | sort -u)"
if [ "$build_pkgs" != "$deps_pkgs" ]; then
  problem "build stage packages differ from scripts/install-deps.sh build:"
  diff <(echo "$build_pkgs") <(echo "$deps_pkgs") >&2 || true
fi

# 2. Every server binary CMake defines is built and copied.
defined="$(grep -ho 'add_executable(mlpipe-[a-z-]*' "$root"/services/*/CMakeLists.txt \
  | sed 's/add_executable(//' | sort -u)"
for b in $defined mlpipe; do
  grep -qE "(^|[[:space:]])$b([[:space:]]|$)" <(sed -n '/--target/,/&&/p' "$dockerfile") \
    || problem "does not build $b"
done

# 3. The runtime stage has the package of every library the binaries link.
essential="libc6 libgcc-s1 libstdc++6 zlib1g libbz2-1.0 liblzma5 libselinux1"
libs="$(for b in $defined mlpipe; do ldd "$bin/$b"; done | awk '/=>/ { print $3 }' | sort -u \
  | xargs readlink -f | sort -u)"
# Debian's merged /usr: a library may be registered under /lib or /usr/lib.
needed="$(for lib in $libs; do echo "$lib"; echo "${lib#/usr}"; done \
  | xargs dpkg -S 2>/dev/null | cut -d: -f1 | sort -u || true)"
for p in $needed; do
  case " $essential " in *" $p "*) continue ;; esac
  echo "$runtime_pkgs" | grep -qx "$p" || problem "runtime stage lacks $p"
done
echo "runtime libraries: $(echo "$needed" | wc -l) packages, all installed"

# 4. Non-root, the ports.
grep -qE '^USER 10001' "$dockerfile" || problem "must run as user 10001"
grep -qE '^EXPOSE 7000 9100' "$dockerfile" || problem "must expose 7000 and 9100"
[ -f "$root/.dockerignore" ] || problem ".dockerignore is missing"
exit $fail
