#!/usr/bin/env bash
# The Kubernetes manifests: `kubectl kustomize` renders the base and each
# overlay, and every rendered object validates against the Kubernetes schemas
# (npm kubernetes-models) and mlpipe's own rules (probes, limits, budgets,
# network policies; validate_manifests.js).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
command -v kubectl >/dev/null || { echo "kubectl is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
[ -d "$root/tests/deploy/node_modules/kubernetes-models" ] || {
  echo "tests/deploy/node_modules is missing: npm ci --prefix tests/deploy (make test does it)" >&2; exit 1; }
files=()
for target in base overlays/dev overlays/prod; do
  out="$work/$(echo "$target" | tr / -).yaml"
  kubectl kustomize "$root/deploy/k8s/$target" > "$out"
  echo "rendered deploy/k8s/$target: $(grep -c '^kind:' "$out") objects"
  files+=("$out")
done
# The overlays differ from the base where they say they do.
grep -q 'image: mlpipe:dev' "$work/overlays-dev.yaml"
grep -q 'image: ghcr.io/mlpipe/mlpipe:0.9.0' "$work/overlays-prod.yaml"
[ "$(grep -c -- '--tls_cert=/etc/mlpipe/tls/tls.crt' "$work/overlays-prod.yaml")" -eq 9 ]
! grep -q -- '--tls_cert' "$work/overlays-dev.yaml"
node "$root/tests/deploy/validate_manifests.js" "${files[@]}"
