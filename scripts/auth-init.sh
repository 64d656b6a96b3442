#!/usr/bin/env bash
# Credentials for a new mlpipe installation: one random bearer token per
# service identity, one admin token, the policy that maps their SHA-256 to
# roles (docs/security.md), and the Ed25519 key pair that signs and verifies
# model artifacts.
#
# Usage: scripts/auth-init.sh [--force] OUTDIR
#
#   OUTDIR/policy.yaml                 the --auth_policy file (hashes only)
#   OUTDIR/identities/<service>.token  each service's --auth_token_file
#                                      (ingest prep split train evaluate score
#                                      monitor orchestrator; train-workers use
#                                      train's), mode 600
#   OUTDIR/admin.token                 for `mlpipe --token-file`, mode 600
#   OUTDIR/signing/signing.pem         train's --artifact_signing_key (Ed25519
#                                      private key), mode 600
#   OUTDIR/signing/verify.pem          its public key: the
#                                      --artifact_verify_keys of score,
#                                      evaluate and monitor
#   OUTDIR/redis/<user>.password       the Redis online store's users' passwords
#                                      (prep writes, score reads, replica and
#                                      sentinel in prod), mode 600
#   OUTDIR/redis/users.acl             Redis's ACL file: the default user off,
#                                      each user its commands on mlpipe's keys
#                                      only, passwords as SHA-256 (redis.yaml)
#
# An existing policy.yaml is never overwritten without --force. Existing token
# files and signing keys are always kept (delete one to get a new one; a
# missing verify.pem is derived from signing.pem); --force rewrites
# policy.yaml from the tokens present, keeping the previous file as
# policy.yaml.bak (principals added to it by hand must be added again).
# Needs openssl, sha256sum and coreutils. Prints the kubectl commands that
# create the Secrets mlpipe-auth, mlpipe-identities and mlpipe-signing
# (docs/deploy.md).
set -euo pipefail

usage() {
  grep -m1 '^# Usage: ' "$0" | sed 's/^# //' >&2
  exit 2
}

force=0
out=""
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h | --help) usage ;;
    -*) echo "auth-init.sh: unknown option $arg" >&2; usage ;;
    *) [ -z "$out" ] || usage; out="$arg" ;;
  esac
done
[ -n "$out" ] || usage
command -v openssl >/dev/null || { echo "auth-init.sh: openssl is missing" >&2; exit 1; }

services=(ingest prep split train evaluate score monitor orchestrator)
policy="$out/policy.yaml"
if [ -e "$policy" ] && [ "$force" -eq 0 ]; then
  echo "auth-init.sh: $policy exists; not overwritten (--force rewrites it" \
    "from the token files in $out)" >&2
  exit 1
fi

umask 077
mkdir -p "$out/identities"

# A token file is kept when present, else made: 256 random bits in hex.
make_token() {
  if [ ! -s "$1" ]; then
    openssl rand -hex 32 | tr -d '\n' > "$1.tmp"
    mv "$1.tmp" "$1"
  fi
  chmod 600 "$1"
}
make_token "$out/admin.token"
for s in "${services[@]}"; do make_token "$out/identities/$s.token"; done

# The artifact signing key pair, kept when present. A new private key always
# gets a new verify.pem (an old one would not match it); an existing one that
# does not match signing.pem is an error, not silently replaced.
mkdir -p "$out/signing"
signing="$out/signing/signing.pem"
verify="$out/signing/verify.pem"
if [ ! -s "$signing" ]; then
  openssl genpkey -algorithm ed25519 -out "$signing.tmp" 2>/dev/null
  mv "$signing.tmp" "$signing"
  rm -f "$verify"
fi
chmod 600 "$signing"
openssl pkey -in "$signing" -pubout -out "$verify.tmp"
if [ -s "$verify" ] && ! cmp -s "$verify" "$verify.tmp"; then
  rm -f "$verify.tmp"
  echo "auth-init.sh: $verify is not the public key of $signing (delete it to" \
    "derive it again)" >&2
  exit 1
fi
mv "$verify.tmp" "$verify"
chmod 644 "$verify"

# The Redis online store's users (deploy/k8s/base/redis.yaml): prep writes,
# score reads, only mlpipe's keys; replica and sentinel for prod's
# replication and failover. Passwords kept when present; the ACL file holds
# only their SHA-256.
mkdir -p "$out/redis"
for u in prep score replica sentinel; do make_token "$out/redis/$u.password"; done
redis_hash() { tr -d '[:space:]' < "$out/redis/$1.password" | sha256sum | cut -d' ' -f1; }
{
  echo "user default off"
  echo "user prep on #$(redis_hash prep) ~mlpipe:online:* resetchannels -@all +get +set +mset +select +role +ping"
  echo "user score on #$(redis_hash score) ~mlpipe:online:* resetchannels -@all +get +mget +exists +select +role +ping"
  echo "user replica on #$(redis_hash replica) resetchannels -@all +psync +replconf +ping"
  echo "user sentinel on #$(redis_hash sentinel) allchannels -@all +multi +slaveof +ping +exec +subscribe +config|rewrite +role +publish +info +client|setname +client|kill +script|kill"
} > "$out/redis/users.acl.tmp"
chmod 644 "$out/redis/users.acl.tmp"
mv "$out/redis/users.acl.tmp" "$out/redis/users.acl"

# The lowercase hex SHA-256 of a token file's token (whitespace stripped, as
# the servers and the CLI read it).
hash_of() {
  local token
  token="$(tr -d '[:space:]' < "$1")"
  [ -n "$token" ] || { echo "auth-init.sh: $1 is empty" >&2; exit 1; }
  printf %s "$token" | sha256sum | cut -d' ' -f1
}
admin_hash="$(hash_of "$out/admin.token")"
declare -A hashes
for s in "${services[@]}"; do
  hashes[$s]="$(hash_of "$out/identities/$s.token")"
done

tmp="$policy.tmp"
{
  cat <<'END'
# mlpipe authorization policy (--auth_policy), written by scripts/auth-init.sh.
# Principals are known by the SHA-256 of their bearer token (never the token):
#   printf %s "$TOKEN" | sha256sum
# Roles: docs/security.md (or common/auth/policy.cc). Every service identity
# below holds only its service role; the admin may call everything.
#
# To add a person or an application, make a token, hash it, add a principal:
#   openssl rand -hex 32 > scorer.token
#   printf %s "$(cat scorer.token)" | sha256sum
# and below, under principals:
#   fraud-app:                  # an application that only predicts
#     token_sha256: <hash>
#     roles: [scorer]
#   alice:                      # a person who looks, but changes nothing
#     token_sha256: <hash>
#     roles: [reader]
# Rotation: list both hashes (token_sha256: [<new>, <old>]) until every
# client has the new token, then drop the old one. A client certificate
# (mutual TLS) instead of a token: certificate: {common_name: fraud-app}.
# After editing, update the Secret mlpipe-auth and restart the pods.
principals:
  admin:
END
  printf '    token_sha256: %s\n    roles: [admin]\n' "$admin_hash"
  for s in "${services[@]}"; do
    printf '  %s:\n    token_sha256: %s\n    roles: [service-%s]\n' "$s" "${hashes[$s]}" "$s"
  done
} > "$tmp"
chmod 644 "$tmp"
if [ -e "$policy" ]; then
  cp -p "$policy" "$policy.bak"
fi
mv "$tmp" "$policy"

cat <<END
wrote $policy (admin and ${#services[@]} service identities)
tokens: $out/admin.token, $out/identities/<service>.token (mode 600; keep them secret)
artifact signing key: $signing (mode 600; keep it secret), its public key $verify

Kubernetes Secrets (namespace mlpipe; re-running updates them):
  kubectl apply -f deploy/k8s/base/namespace.yaml
  kubectl -n mlpipe create secret generic mlpipe-auth --from-file=policy.yaml=$policy \\
    --dry-run=client -o yaml | kubectl apply -f -
  kubectl -n mlpipe create secret generic mlpipe-identities --from-file=$out/identities \\
    --dry-run=client -o yaml | kubectl apply -f -
  kubectl -n mlpipe create secret generic mlpipe-signing --from-file=signing.pem=$signing \\
    --from-file=verify.pem=$verify --dry-run=client -o yaml | kubectl apply -f -
  kubectl -n mlpipe create secret generic mlpipe-redis --from-file=$out/redis \\
    --dry-run=client -o yaml | kubectl apply -f -
The CLI as admin:
  mlpipe --token-file $out/admin.token status
END
