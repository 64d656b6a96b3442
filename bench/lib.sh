# Shared by the bench scripts (source it). Starts and stops mlpipe-standalone
# on OS-chosen ports with its data under $work.
#   start_server BIN_DIR WORK_DIR [extra flags...]  sets server_pid, MLPIPE_SERVER
#                               (a fresh data directory; keep_data=1 keeps it)
#   stop_server
#   flights_late_csv LIMIT OUT  flights3m's first LIMIT rows (0: all) as CSV with
#                               the label late = yes when delay > 15 minutes
#   flights_pipeline NAME TRAIN EVAL  prints the pipeline the benchmarks run on
#                               it: ingest flights.csv, a stratified TRAIN/EVAL
#                               split, features fitted on the train part
start_server() {
  local bin="$1" work="$2"
  shift 2
  [ "${keep_data:-0}" = 1 ] || rm -rf "$work/data"
  rm -f "$work/ports"
  "$bin/mlpipe-standalone" --data_dir "$work/data" --grpc_port 0 --metrics_port -1 \
    --bind 127.0.0.1 --port_file "$work/ports" "$@" 2> "$work/server.log" &
  server_pid=$!
  for _ in $(seq 1 300); do [ -s "$work/ports" ] && break; sleep 0.05; done
  [ -s "$work/ports" ] || { echo "server did not start: $(cat "$work/server.log")" >&2; exit 1; }
  local port
  read -r port _ < "$work/ports"
  export MLPIPE_SERVER="127.0.0.1:$port"
}

# wait_serving BIN_DIR SERVICE: until grpc.health.v1 says SERVICE (e.g.
# mlpipe.v1.Scoring, once its deployed models are loaded) is SERVING.
wait_serving() {
  for _ in $(seq 1 600); do
    "$1/mlpipe" status 2>/dev/null | grep -q "$2 *SERVING" && return 0
    sleep 0.1
  done
  echo "$2 is not serving" >&2
  exit 1
}

stop_server() {
  if [ -n "${server_pid:-}" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"
    wait "$server_pid" || true
  fi
  server_pid=""
}

flights_late_csv() {
  local limit="$1" out="$2"
  {
    if [ "$limit" -gt 0 ]; then gzip -dc ../shared/data/flights3m.csv.gz | head -n $((limit + 1)) || true
    else gzip -dc ../shared/data/flights3m.csv.gz; fi
  } | awk -F, 'NR == 1 { print $0 ",late"; next } { print $0 "," ($2 > 15 ? "yes" : "no") }' > "$out"
}

# result NAME VALUE OP TARGET: prints the RESULT line of one figure
# (bench/result.py: ok=yes only with a 10% margin).
result() {
  /usr/bin/python3 bench/result.py "$@"
}

# machine: one line naming the CPU, its cores and the kernel.
machine() {
  echo "machine: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) cores, Linux $(uname -r)"
}

flights_pipeline() {
  cat <<YAML
apiVersion: mlpipe/v1
kind: Pipeline
metadata: {name: $1}
spec:
  dataset: flights
  label: late
  positive_class: "yes"
  steps:
    - {name: load, type: ingest, file: flights.csv}
    - {name: split, type: split, after: [load], strategy: stratified,
       ratios: {train: $2, eval: $3}, seed: 1}
    - name: features
      type: prepare
      after: [split]
      fit_on: {split: split, part: train}
      transforms:
        - {columns: [distance], scale: standard}
        - {columns: [date], timestamp_parts: [hour, day_of_week, month]}
        - {columns: [origin, destination], one_hot: {max_categories: 20}}
YAML
}
