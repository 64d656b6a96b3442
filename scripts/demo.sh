#!/usr/bin/env bash
# The main job: starts the embedded standalone platform, runs the example
# pipeline examples/credit/pipeline.yaml (ingest credit.csv, validate,
# stratified split, features fitted on the training part, train logistic
# regression and GBDT candidates, evaluate them on the test part, deploy the
# blessed best model as `production`) through the orchestrator twice (the
# second run is cached), shows the datasets, the split, the feature set, the
# models and the evaluation, evaluates the other model against production
# and writes the HTML report, scores rows over gRPC (mlpipe predict), canaries
# the other model, batch-scores the dataset, sends predictions of shifted data
# and their actuals and shows the monitoring report (drift, performance,
# alerts; build/monitor-report.html), trains once more ad hoc with
# `mlpipe train`, prints a summary and stops the server.
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
  --bind 127.0.0.1 --port_file "$work/ports" --monitor_window_rows 250 2> "$work/server.log" &
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
  other="credit:1"; [ "$best" = "credit:1" ] && other="credit:2"
  if [ -n "$best" ]; then
    echo "== mlpipe aliases history credit@production   (the deploy step pointed it at $best)"
    "$bin/mlpipe" aliases history credit@production
    echo "== mlpipe eval run --models $other --alias production"
    "$bin/mlpipe" eval run --models "$other" --alias production --slices Home \
      || echo "(exit $?: $other is not blessed against $best)"
  fi
  echo "== mlpipe eval report $evaluation --html $work/report.html"
  "$bin/mlpipe" eval report "$evaluation" --html "$work/report.html"
  mkdir -p build && cp "$work/report.html" build/evaluation-report.html
  echo "   (kept as build/evaluation-report.html)"
fi
echo "== mlpipe deployments list   (what the deploy step serves)"
"$bin/mlpipe" deployments list
echo "== mlpipe predict --json '{...}'   (raw fields over gRPC; the model's own transform is applied)"
row='{"Seniority": 9, "Home": "rent", "Time": 60, "Age": 30, "Marital": "married", "Records": "no", "Job": "freelance", "Expenses": 73, "Income": 129, "Assets": 0, "Debt": 0, "Amount": 800, "Price": 846}'
"$bin/mlpipe" predict --json "$row"
head -6 examples/credit/credit.csv | tail -5 | awk -F, '{ gsub(/"/, "");
  printf "{\"Seniority\": %s, \"Home\": \"%s\", \"Time\": %s, \"Age\": %s, \"Marital\": \"%s\", \"Records\": \"%s\", \"Job\": \"%s\", \"Expenses\": %s, \"Income\": %s, \"Assets\": %s, \"Debt\": %s, \"Amount\": %s, \"Price\": %s}\n", $2,$3,$4,$5,$6,$7,$8,$9,($10==""?"null":$10),($11==""?"null":$11),($12==""?"null":$12),$13,$14 }' > "$work/rows.jsonl"
echo "== mlpipe predict --file rows.jsonl   (five rows of credit.csv)"
"$bin/mlpipe" predict --file "$work/rows.jsonl"
echo "== mlpipe predict --json '{\"Seniority\": \"nine\"}'   (bad input: every bad field named, exit 4)"
"$bin/mlpipe" predict --json '{"Seniority": "nine", "Colour": "red"}' || echo "(exit $?)"
if [ -n "${other:-}" ]; then
  echo "== mlpipe deploy $other --canary 10   (a canary beside ${best:-production}; sticky by --routing-key)"
  "$bin/mlpipe" deploy "$other" --canary 10
  for user in alice bob carol dave erin frank; do
    printf '%s -> ' "$user"; "$bin/mlpipe" predict --routing-key "$user" --json "$row" | head -1
  done
  echo "== mlpipe rollback --reason demo   (back to the route before the canary)"
  "$bin/mlpipe" rollback --reason demo
fi
echo "== mlpipe batch-score --model credit --dataset credit --keep Status --out $work/scores.csv"
"$bin/mlpipe" batch-score --model credit --dataset credit --keep Status --out "$work/scores.csv"
head -3 "$work/scores.csv"
echo "== monitoring: 500 rows of credit.csv with incomes tripled, scored by production"
awk -F, 'NR > 1 && NR <= 501 { gsub(/"/, "");
  printf "{\"Seniority\": %s, \"Home\": \"%s\", \"Time\": %s, \"Age\": %s, \"Marital\": \"%s\", \"Records\": \"%s\", \"Job\": \"%s\", \"Expenses\": %s, \"Income\": %s, \"Assets\": %s, \"Debt\": %s, \"Amount\": %s, \"Price\": %s}\n", $2,$3,$4,$5,$6,$7,$8,$9,($10==""?"null":$10*3),($11==""?"null":$11),($12==""?"null":$12),$13,$14 }' \
  examples/credit/credit.csv > "$work/shifted.jsonl"
"$bin/mlpipe" --output json predict --file "$work/shifted.jsonl" > "$work/shifted.json"
echo "   $(grep -c '"prediction_id"' "$work/shifted.json") predictions logged"
sleep 1  # The prediction log reaches the monitor within its flush interval.
echo "== mlpipe actuals send actuals.csv   (what became of those loans, by prediction id)"
{ echo "prediction_id,actual"
  paste -d, <(grep -o '"prediction_id": *"[^"]*"' "$work/shifted.json" | cut -d'"' -f4) \
            <(awk -F, 'NR > 1 && NR <= 501 { gsub(/"/, ""); print $1 }' examples/credit/credit.csv)
} > "$work/actuals.csv"
"$bin/mlpipe" actuals send "$work/actuals.csv"
echo "== mlpipe monitor report credit --html build/monitor-report.html"
mkdir -p build
"$bin/mlpipe" monitor report credit --html build/monitor-report.html
echo "== mlpipe alerts list"
"$bin/mlpipe" alerts list
if [ -n "$split" ] && [ -n "$fs" ]; then
  echo "== mlpipe train --split $split --config examples/credit/train.yaml   (ad hoc, 5-fold CV)"
  "$bin/mlpipe" train --split "$split" --feature-set "$fs" --config examples/credit/train.yaml
fi
echo "== metrics (excerpt)"
if command -v curl >/dev/null; then
  curl -s "http://127.0.0.1:$metrics_port/metrics" \
    | grep -E '^mlpipe_(ingest_(rows|batches)_total|orchestrator_(runs_total|cache_lookups_total)|split_splits_created_total|train_(jobs_total|trials_total))' || true
  curl -s "http://127.0.0.1:$metrics_port/metrics" | grep -E '^mlpipe_evaluate_' || true
  curl -s "http://127.0.0.1:$metrics_port/metrics" \
    | grep -E '^mlpipe_score_(predictions_total|requests_total|fallbacks_total|loaded_versions|log_)' | grep -v ' 0$' || true
  curl -s "http://127.0.0.1:$metrics_port/metrics" \
    | grep -E '^mlpipe_monitor_(drifted_fields|performance|alerts_total|logged_predictions_total|actuals_total)' | grep -v ' 0$' || true
fi
echo
echo "== summary"
if [ -n "${best:-}" ]; then
  echo "best model    $best (blessed by the evaluate step, deployed as credit@production)"
  auc="$(echo "$last_run" | tr -d ' \n' | grep -o '"auc":[0-9.]*' | head -1 | cut -d: -f2)"
  [ -n "$auc" ] && echo "test auc      $auc (the evaluate step, 668 held-out rows)"
fi
echo "predictions   $("$bin/mlpipe" predict --json "$row" | sed -n 3p)"
echo "monitoring    $("$bin/mlpipe" alerts list | tail -n +2 | wc -l) alert(s); report in build/monitor-report.html"
echo "metrics       were at http://127.0.0.1:$metrics_port/metrics (mlpipe_score_*, mlpipe_monitor_* above); report in build/evaluation-report.html"
echo "== stopping the server"
kill -TERM "$server_pid"; wait "$server_pid"; server_pid=""
echo "demo finished"
