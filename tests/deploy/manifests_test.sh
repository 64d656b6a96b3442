#!/usr/bin/env bash
# The Kubernetes manifests: `kubectl kustomize` renders the base and each
# overlay, and every rendered object validates against the Kubernetes schemas
# (npm kubernetes-models) and mlpipe's own rules (probes, limits, budgets,
# network policies, the auth policy and service identities, the model
# signing keys; validate_manifests.js).
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
# expect N TEXT FILE: exactly N lines of FILE hold TEXT, else exit 1 saying
# so. (Not `! grep -q`: set -e ignores a negated command's status.)
expect() {
  local n
  n="$(grep -c -- "$2" "$3" || true)"
  [ "$n" -eq "$1" ] || { echo "${3#"$work"/}: $n lines with '$2', expected $1" >&2; exit 1; }
}
# The overlays differ from the base where they say they do.
grep -q 'image: mlpipe:dev' "$work/overlays-dev.yaml"
grep -q 'image: ghcr.io/mlpipe/mlpipe:0.9.0' "$work/overlays-prod.yaml"
expect 9 '--tls_cert=/etc/mlpipe/tls/tls.crt' "$work/overlays-prod.yaml"
expect 0 '--tls_cert' "$work/overlays-dev.yaml"
for f in "${files[@]}"; do
  # Every workload of every overlay authorizes calls (validate_manifests.js
  # checks each one's policy and identity volumes).
  expect 9 '--auth_policy=/etc/mlpipe/auth/policy.yaml' "$f"
  expect 0 '--insecure_no_auth' "$f"
  # train alone signs models, with the one private key mounted anywhere;
  # score, evaluate and monitor verify them (validate_manifests.js checks
  # which workload has which, and how each is mounted).
  expect 1 '--artifact_signing_key=/etc/mlpipe/signing/signing.pem' "$f"
  expect 1 '--artifact_signing_key' "$f"
  expect 1 'key: signing.pem' "$f"
  expect 3 '--artifact_verify_keys=/etc/mlpipe/signing/verify.pem' "$f"
done
node "$root/tests/deploy/validate_manifests.js" "${files[@]}"
