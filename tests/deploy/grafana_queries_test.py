#!/usr/bin/env python3
"""Every Grafana panel's PromQL query returns data from a real Prometheus.

Starts mlpipe-standalone (with a Redis online store) and Prometheus (Debian's
package) scraping it every second with the rules of deploy/prometheus; runs
the demo pipeline (examples/credit/pipeline.yaml, twice as the demo does) and
a prepare by entity key, pushes rows to its dataset, sends predictions of shifted rows, sets a
monitoring policy and sends actuals; then runs every query of every panel
and template variable of deploy/grafana/dashboards through Prometheus's HTTP
API and fails for any that returns no series.

Usage: grafana_queries_test.py BIN_DIR
"""
import csv
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CliError(Exception):
    """A command that failed; an Exception (not SystemExit), so wait_for retries it."""


def wait_for(check, seconds, what):
    deadline = time.time() + seconds
    last = None
    while time.time() < deadline:
        try:
            if check():
                return
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            last = e
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}" + (f"; last error: {last}" if last else ""))


def main():
    bin_dir = sys.argv[1]
    work = tempfile.mkdtemp(prefix="mlpipe-grafana-")
    procs = []
    try:
        run(bin_dir, work, procs)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


def run(bin_dir, work, procs):
    # The Redis online store (the scoring dashboard's panels read its metrics).
    redis_port = free_port()
    procs.append(subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", work], stdout=subprocess.DEVNULL))
    # The platform.
    ports = os.path.join(work, "ports")
    server_log = open(os.path.join(work, "server.log"), "w")
    procs.append(subprocess.Popen(
        [os.path.join(bin_dir, "mlpipe-standalone"), "--data_dir", os.path.join(work, "data"),
         "--bind", "127.0.0.1", "--grpc_port", "0", "--metrics_port", "0", "--port_file", ports,
         "--monitor_window_rows", "100", "--monitor_performance_rows", "100",
         f"--online_store=redis://127.0.0.1:{redis_port}"],
        stderr=server_log))
    wait_for(lambda: os.path.getsize(ports) > 0, 30, "mlpipe-standalone")
    grpc_port, metrics_port = open(ports).read().split()
    env = dict(os.environ, MLPIPE_SERVER=f"127.0.0.1:{grpc_port}")

    def cli(*args, stdin=None):
        r = subprocess.run([os.path.join(bin_dir, "mlpipe"), *args], env=env,
                           capture_output=True, text=True, input=stdin, timeout=600)
        if r.returncode != 0:
            raise CliError(f"mlpipe {' '.join(args)}: exit {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r.stdout

    # Prometheus, scraping it every second with mlpipe's rules.
    prom_port = free_port()
    config = os.path.join(work, "prometheus.yml")
    rules = os.path.join(ROOT, "deploy", "prometheus", "rules")
    with open(config, "w") as f:
        f.write(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - {rules}/mlpipe-recording.yml
  - {rules}/mlpipe-alerts.yml
scrape_configs:
  - job_name: mlpipe
    static_configs:
      - targets: ['127.0.0.1:{metrics_port}']
        labels: {{service: standalone}}
""")
    prom_log = open(os.path.join(work, "prometheus.log"), "w")
    procs.append(subprocess.Popen(
        ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={work}/tsdb",
         f"--web.listen-address=127.0.0.1:{prom_port}"], stdout=prom_log, stderr=prom_log))
    api = f"http://127.0.0.1:{prom_port}/api/v1"

    def get(path, **params):
        url = f"{api}/{path}?{urllib.parse.urlencode(params, doseq=True)}"
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
        if body.get("status") != "success":
            raise RuntimeError(body)
        return body["data"]

    wait_for(lambda: get("query", query='up{job="mlpipe"} == 1')["result"], 60, "Prometheus to scrape mlpipe")

    # The demo pipeline, twice as the demo runs it (the second from cache),
    # then traffic for scoring and monitoring.
    for _ in range(2):
        cli("run", os.path.join(ROOT, "examples", "credit", "pipeline.yaml"), "--watch")
    # Features online by entity key: prep writes them to Redis.
    with open(os.path.join(work, "accounts.csv"), "w") as f:
        f.write("id,balance,tier\n1,100,gold\n2,50,silver\n")
    with open(os.path.join(work, "accounts.yaml"), "w") as f:
        f.write("apiVersion: mlpipe/v1\nkind: Pipeline\nmetadata: {name: accounts}\n"
                "spec:\n  dataset: accounts\n  steps:\n"
                "    - {name: load, type: ingest, file: accounts.csv}\n"
                "    - {name: features, type: prepare, after: [load], entity_key: id,\n"
                "       transforms: [{columns: [balance], scale: minmax}]}\n")
    cli("run", os.path.join(work, "accounts.yaml"), "--watch")
    # Streaming push to it: the push panels (commit, online lag, pending).
    cli("push", "--dataset", "accounts", "--producer", "grafana-test",
        stdin='{"id": 3, "balance": 70, "tier": "gold"}\n{"id": 1, "balance": 90, "tier": "gold"}\n')
    rows = []
    with open(os.path.join(ROOT, "examples", "credit", "credit.csv")) as f:
        for r in csv.DictReader(f):
            label = r.pop("Status")
            row = {}
            for k, v in r.items():
                if v in ("", "NA"):
                    row[k] = None
                else:
                    try:
                        row[k] = float(v) * (3 if k == "Income" else 1)
                    except ValueError:
                        row[k] = v
            rows.append((row, label))
            if len(rows) == 300:
                break
    jsonl = os.path.join(work, "rows.jsonl")
    with open(jsonl, "w") as f:
        for row, _ in rows:
            f.write(json.dumps(row) + "\n")
    predicted = json.loads(cli("--output", "json", "predict", "--file", jsonl))
    version = predicted["model_version"]
    cli("monitor", "policy", version, "--min-accuracy", "0.5", "--min-actuals", "50")
    # The monitor builds the deployed version's reference from the registry,
    # and the prediction log flushes: until the report has drift.
    wait_for(lambda: json.loads(cli("--output", "json", "monitor", "report", version))["drift"],
             60, "the monitor's report of " + version)
    actuals = os.path.join(work, "actuals.csv")
    with open(actuals, "w") as f:
        f.write("prediction_id,actual\n")
        for p, (_, label) in zip(predicted["predictions"], rows):
            f.write(f"{p['prediction_id']},{label}\n")
    cli("actuals", "send", actuals)
    # A retrained model rolled out as a canary, checked every second: the
    # rollout gauges.
    example = os.path.join(ROOT, "examples", "credit")
    shutil.copy(os.path.join(example, "credit.csv"), work)
    with open(os.path.join(example, "pipeline.yaml")) as f:
        retrain = f.read().replace("interval: 10m", "interval: 1s")
    with open(os.path.join(work, "retrain.yaml"), "w") as f:
        f.write(retrain)
    cli("run", os.path.join(work, "retrain.yaml"), "--no-cache", "--watch")
    wait_for(lambda: json.loads(cli("--output", "json", "rollout", "status", "production"))
             .get("checks"), 30, "a check of the canary rollout")
    cli("predict", "--file", jsonl)  # Fresh rates at query time.
    # A few scrapes and rule evaluations after the last of it.
    time.sleep(6)

    failures = 0
    checked = 0
    for name in sorted(os.listdir(os.path.join(ROOT, "deploy", "grafana", "dashboards"))):
        dashboard = json.load(open(os.path.join(ROOT, "deploy", "grafana", "dashboards", name)))
        for var in dashboard["templating"]["list"]:
            if var["type"] != "query":
                continue
            m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", var["query"]["query"])
            if not m:
                print(f"{name}: variable {var['name']}: cannot read {var['query']['query']}")
                failures += 1
                continue
            selector = substitute(m.group(1))
            values = get(f"label/{m.group(2)}/values", **{"match[]": selector})
            checked += 1
            status = "ok" if values else "NO DATA"
            failures += not values
            print(f"{status:7} {name} variable ${var['name']}: {len(values)} values")
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                query = substitute(target["expr"])
                result = get("query", query=query)["result"]
                checked += 1
                status = "ok" if result else "NO DATA"
                failures += not result
                print(f"{status:7} {name} '{panel['title']}': {len(result)} series")
                if not result:
                    print(f"        {query}")
    print(f"{checked} queries, {failures} without data")
    if failures:
        sys.exit(1)


def substitute(expr):
    """Grafana's variables as the dashboards' defaults give them."""
    for var, value in (("$__rate_interval", "1m"), ("$__range", "5m"), ("$__interval", "15s")):
        expr = expr.replace(var, value)
    # Template variables at "All": any value.
    return re.sub(r"\$(\w+)", ".+", expr)


if __name__ == "__main__":
    try:
        main()
    except CliError as e:
        raise SystemExit(str(e))
