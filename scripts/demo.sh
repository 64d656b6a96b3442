#!/usr/bin/env bash
# The main job: starts the embedded standalone platform, runs the example
# pipeline (ingest credit.csv, validate, stratified split, features fitted on
# the training part, train logistic regression and GBDT candidates, evaluate
# them on the test part) through the orchestrator twice (the second run is
# cached), shows the datasets, the split, the feature set, the models and
# the evaluation, points the `production` alias at the best model, evaluates
# again against it and writes the HTML report, trains once more ad hoc with
# `mlpipe train`, and stops the server.
# Usage: scripts/demo.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
bin="$build/bin"
work="$(mktemp -d "${TMPDIR:-/tmp}/mlpipe-demo.XXXXXX")"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"; wait "$server_pid" || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== starting mlpipe-standalone (data in $work/data)"
"$bin/mlpipe-standalone" --data_dir "$work/data" --grpc_port 0 --metrics_port 0 \
  --bind 127.0.0.1 --port_file "$work/ports" 2> "$work/server.log" &
server_pid=$!
for _ in $(seq 1 300); do [ -s "$work/ports" ] && break; sleep 0.05; done
read -r grpc_port metrics_port < "$work/ports"
export MLPIPE_SERVER="127.0.0.1:$grpc_port"
echo "   gRPC on $MLPIPE_SERVER, metrics on http://127.0.0.1:$metrics_port/metrics"

echo "== mlpipe run examples/credit/pipeline.yaml --watch   (the orchestrator runs the pipeline)"
"$bin/mlpipe" run examples/credit/pipeline.yaml --watch
echo "== the same again: nothing changed, so every cacheable step is CACHED"
"$bin/mlpipe" run examples/credit/pipeline.yaml --watch
echo "== mlpipe runs list"
"$bin/mlpipe" runs list
echo "== mlpipe ingest --dataset credit-upload --file examples/credit/credit.csv"
"$bin/mlpipe" ingest --dataset credit-upload --file examples/credit/credit.csv --idempotency-key demo-credit-1
echo "== mlpipe datasets list"
"$bin/mlpipe" datasets list
echo "== mlpipe datasets show credit"
"$bin/mlpipe" datasets show credit
echo "== mlpipe export --dataset credit --out $work/credit.export.csv"
"$bin/mlpipe" export --dataset credit --out "$work/credit.export.csv"
head -3 "$work/credit.export.csv"
echo "== mlpipe stats credit"
"$bin/mlpipe" stats credit
last_run="$("$bin/mlpipe" --output json runs list --limit 1)"
split="$(echo "$last_run" | grep -o '"split": *"sp-[0-9a-f]*"' | head -1 | grep -o 'sp-[0-9a-f]*' || true)"
if [ -n "$split" ]; then
  echo "== mlpipe splits show $split   (the stratified split the split step made)"
  "$bin/mlpipe" splits show "$split"
fi
fs="$(echo "$last_run" | grep -o '"feature_set": *"fs-[0-9a-f]*"' | head -1 | grep -o 'fs-[0-9a-f]*' || true)"
if [ -n "$fs" ]; then
  echo "== mlpipe features show $fs   (the feature set the features step wrote)"
  "$bin/mlpipe" features show "$fs"
fi
echo "== mlpipe models list   (what the train step stored)"
"$bin/mlpipe" models list
echo "== mlpipe models show credit:2"
"$bin/mlpipe" models show credit:2
evaluation="$(echo "$last_run" | grep -o '"evaluation": *"evaluate-op-[0-9a-f]*"' | head -1 | grep -o 'evaluate-op-[0-9a-f]*' || true)"
if [ -n "$evaluation" ]; then
  echo "== mlpipe eval show $evaluation   (the evaluate step: test part, slices by Home and Home x Job)"
  "$bin/mlpipe" eval show "$evaluation"
  best="$("$bin/mlpipe" --output json eval show "$evaluation" | grep -o '"best_model": *"[^"]*"' | grep -o 'credit:[0-9]*' || true)"
  if [ -n "$best" ]; then
    echo "== mlpipe aliases set production $best; mlpipe eval run --models credit:1 --alias production"
    "$bin/mlpipe" aliases set production "$best"
    "$bin/mlpipe" eval run --models credit:1 --alias production --slices Home \
      || echo "(exit $?: credit:1 is not blessed against $best)"
  fi
  echo "== mlpipe eval report $evaluation --html $work/report.html"
  "$bin/mlpipe" eval report "$evaluation" --html "$work/report.html"
  mkdir -p build && cp "$work/report.html" build/evaluation-report.html
  echo "   (kept as build/evaluation-report.html)"
fi
if [ -n "$split" ] && [ -n "$fs" ]; then
  echo "== mlpipe train --split $split --config examples/credit/train.yaml   (ad hoc, 5-fold CV)"
  "$bin/mlpipe" train --split "$split" --feature-set "$fs" --config examples/credit/train.yaml
fi
echo "== metrics (excerpt)"
if command -v curl >/dev/null; then
  curl -s "http://127.0.0.1:$metrics_port/metrics" \
    | grep -E '^mlpipe_(ingest_(rows|batches)_total|orchestrator_(runs_total|cache_lookups_total)|split_splits_created_total|train_(jobs_total|trials_total))' || true
  curl -s "http://127.0.0.1:$metrics_port/metrics" | grep -E '^mlpipe_evaluate_' || true
fi
echo "== stopping the server"
kill -TERM "$server_pid"; wait "$server_pid"; server_pid=""
echo "demo finished"
