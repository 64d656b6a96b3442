#!/usr/bin/env python3
"""The distributed topology on one machine: every service as its own process
on loopback, started from the Kubernetes manifests themselves.

The base manifests (deploy/k8s/base, rendered by `kubectl kustomize`) give
each workload's binary, its arguments and its replicas, and the ConfigMap
mlpipe-config the values of the configuration keys the arguments name
($(INGEST_ADDRESS), ...). Here the addresses are loopback ports instead of
Service names: a replicated service (scoring, training workers) is a static
list that gRPC balances round robin ("ipv4:127.0.0.1:P1,127.0.0.1:P2"), as
dns:/// does over a headless Service in a cluster. Data directories and the
import root are folders under WORKDIR. Calls are authorized as in a cluster:
scripts/auth-init.sh writes WORKDIR/auth (the policy and a token per service
identity, and the key pair that signs model artifacts), the files the
manifests mount from the Secrets mlpipe-auth, mlpipe-identities and
mlpipe-signing are taken from there, and every client call here carries the
admin token (mlpipe --token-file WORKDIR/auth/admin.token). So train signs
every model it stores, and score, evaluate and monitor load only signed ones.

  scripts/topology.py up BIN_DIR WORKDIR       start everything, wait until serving
  scripts/topology.py down WORKDIR             stop what `up` started
  scripts/topology.py example BIN_DIR WORKDIR  up, run the example pipeline
                                               (examples/credit) to a deployed model and
                                               the cluster's (deploy/k8s/base/pipelines),
                                               predict through both scoring replicas
                                               (by entity key too, from the Redis
                                               online store),
                                               check the deployed models are signed and
                                               no call or artifact was refused,
                                               down; exit 0 if all went well
The Redis online store (deploy/k8s/base/redis.yaml) is a redis-server on
loopback with the manifest's redis.conf and ACL file.
Needs kubectl (kustomize), protoc, python3-yaml, python3-grpcio and
redis-server.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Replicas on one machine: the manifests' for scoring (2), fewer workers.
REPLICAS = {"train-workers": 1}
# Where the Secrets' keys are on this machine, below WORKDIR/auth.
SECRETS = {"mlpipe-auth": "", "mlpipe-identities": "identities", "mlpipe-signing": "signing",
           "mlpipe-redis": "redis"}


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def render():
    out = subprocess.run(["kubectl", "kustomize", os.path.join(ROOT, "deploy", "k8s", "base")],
                         check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def plan(bin_dir, work):
    """The processes to start: name, argv, ports, from the manifests."""
    objs = render()
    config = next(o for o in objs if o["kind"] == "ConfigMap"
                  and o["metadata"]["name"].startswith("mlpipe-config"))["data"]
    workloads = [o for o in objs if o["kind"] in ("Deployment", "StatefulSet")]
    pods = []
    redis = [w for w in workloads
             if w["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == "redis"]
    workloads = [w for w in workloads if w not in redis]
    for w in redis:
        pods.append(redis_pod(w, objs, work))
    for w in workloads:
        component = w["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
        replicas = REPLICAS.get(component, w["spec"].get("replicas", 1))
        pod_spec = w["spec"]["template"]["spec"]
        for i in range(replicas):
            pods.append({"component": component, "name": f"{component}-{i}",
                         "container": pod_spec["containers"][0],
                         "files": secret_files(pod_spec, work)})
    ports = free_ports(2 * len(pods))
    for i, p in enumerate(pods):
        p["grpc_port"], p["metrics_port"] = ports[2 * i], ports[2 * i + 1]
        if p["component"] == "online-store":
            p["argv"] = [a.replace("PORT", str(p["grpc_port"])) for a in p["argv"]]

    def address(component):
        ps = [p for p in pods if p["component"] == component]
        if len(ps) == 1:
            return f"127.0.0.1:{ps[0]['grpc_port']}"
        return "ipv4:" + ",".join(f"127.0.0.1:{p['grpc_port']}" for p in ps)

    # The ConfigMap's keys, with loopback addresses for the Services they name.
    values = dict(config)
    for key, value in config.items():
        m = re.fullmatch(r"(?:dns:///)?([a-z-]+?)(?:-pods)?:7000", value)
        if m:
            values[key] = address(m.group(1))
        # The Redis online store: redis://USER@redis:6379.
        m = re.fullmatch(r"(redis://[^@/]*@)?redis:6379", value)
        if m:
            values[key] = (m.group(1) or "redis://") + address("online-store")
    for p in pods:
        if "container" not in p:
            continue
        c = p["container"]
        argv = [os.path.join(bin_dir, os.path.basename(c["command"][0]))]
        # The container's own variables: the downward API's pod IP is
        # loopback here.
        own = dict(values)
        for e in c.get("env", []):
            ref = e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
            if ref == "status.podIP":
                own[e["name"]] = "127.0.0.1"
        for arg in c.get("args", []):
            arg = re.sub(r"\$\((\w+)\)", lambda m: own[m.group(1)], arg)
            flag, _, value = arg.partition("=")
            value = {"--data_dir": os.path.join(work, p["name"], "data"),
                     "--bind": "127.0.0.1",
                     "--grpc_port": str(p["grpc_port"]),
                     "--metrics_port": str(p["metrics_port"]),
                     "--import_root": os.path.join(work, "imports")}.get(flag, value)
            value = p["files"].get(value, value)
            argv.append(f"{flag}={value}")
        argv.append(f"--port_file={os.path.join(work, p['name'], 'ports')}")
        unmapped = [a for a in argv if "=/etc/mlpipe/" in a]
        if unmapped:
            raise SystemExit(f"{p['name']}: no file on this machine for {unmapped}")
        p["argv"] = argv
        p["env"] = secret_env(c, work)
        del p["container"], p["files"]
    return pods, {k: address(k) for k in {p["component"] for p in pods}}


def redis_pod(workload, objs, work):
    """The Redis online store as a local redis-server: its redis.conf from
    the ConfigMap the manifest mounts, on loopback (port PORT, filled in
    later), its data directory and ACL file (the Secret mlpipe-redis's
    users.acl) under WORKDIR."""
    pod_spec = workload["spec"]["template"]["spec"]
    container = pod_spec["containers"][0]
    volume = next(v for v in pod_spec["volumes"] if "configMap" in v)
    conf = next(o for o in objs if o["kind"] == "ConfigMap"
                and o["metadata"]["name"] == volume["configMap"]["name"])["data"]["redis.conf"]
    files = secret_files(pod_spec, work)
    name = f"{workload['metadata']['name']}-0"
    data = os.path.join(work, name, "data")
    os.makedirs(data, exist_ok=True)
    lines = []
    for line in conf.splitlines():
        key, _, value = line.partition(" ")
        if key == "port":
            continue  # --port, chosen with the others.
        value = {"bind": "127.0.0.1", "dir": data}.get(key, value)
        value = files.get(value, value)
        if value.startswith("/etc/"):
            raise SystemExit(f"{name}: no file on this machine for {line}")
        lines.append(f"{key} {value}" if key and not key.startswith("#") else line)
    path = os.path.join(work, name, "redis.conf")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    if container["command"] != ["redis-server"]:
        raise SystemExit(f"{name}: expected the command redis-server, not {container['command']}")
    return {"component": "online-store", "name": name, "env": {},
            "argv": ["redis-server", path, "--port", "PORT"]}


def secret_env(container, work):
    """The container's environment variables from the Secrets
    (secretKeyRef), from their files under WORKDIR/auth."""
    env = {}
    for e in container.get("env", []):
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref and ref["name"] in SECRETS:
            path = os.path.join(work, "auth", SECRETS[ref["name"]], ref["key"])
            env[e["name"]] = open(path).read().strip()
    return env


def secret_files(pod_spec, work):
    """{path in the container: file under WORKDIR/auth} for what the pod
    mounts from the Secrets auth-init.sh makes (its `items`)."""
    container = pod_spec["containers"][0]
    files = {}
    for v in pod_spec.get("volumes", []):
        secret = v.get("secret", {}).get("secretName")
        if secret not in SECRETS:
            continue
        mount = next(m["mountPath"] for m in container["volumeMounts"] if m["name"] == v["name"])
        for item in v["secret"]["items"]:
            files[f"{mount}/{item['path']}"] = os.path.join(work, "auth", SECRETS[secret], item["key"])
    return files


def auth_init(work):
    """WORKDIR/auth: the policy, the tokens and the signing keys (kept when
    already there)."""
    subprocess.run(["bash", os.path.join(ROOT, "scripts", "auth-init.sh"), "--force",
                    os.path.join(work, "auth")], check=True, stdout=subprocess.DEVNULL)
    return os.path.join(work, "auth", "admin.token")


def up(bin_dir, work, attempts=3):
    os.makedirs(work, exist_ok=True)
    admin_token = auth_init(work)
    imports = os.path.join(work, "imports", "credit")
    os.makedirs(imports, exist_ok=True)
    shutil.copy(os.path.join(ROOT, "examples", "credit", "credit.csv"), imports)
    for attempt in range(1, attempts + 1):
        pods, addresses = plan(bin_dir, work)
        children = []
        for p in pods:
            os.makedirs(os.path.join(work, p["name"]), exist_ok=True)
            for stale in ("ports", "log"):
                path = os.path.join(work, p["name"], stale)
                if os.path.exists(path):
                    os.remove(path)
            log = open(os.path.join(work, p["name"], "log"), "w")
            children.append(subprocess.Popen(p["argv"], stdout=log, stderr=log,
                                             env={**os.environ, **p["env"]},
                                             start_new_session=True))
            p["pid"] = children[-1].pid
        # Recorded at once, so that `down` stops them whatever happens next
        # (without the passwords).
        with open(os.path.join(work, "topology.json"), "w") as f:
            json.dump({"pods": [{k: v for k, v in p.items() if k != "env"} for p in pods],
                       "addresses": addresses}, f, indent=2)
        failed = wait_started(pods, children, work)
        if failed is None:
            break
        log = open(os.path.join(work, failed, "log")).read()[-2000:]
        down(work)
        # The ports were free when chosen; another process may have taken
        # one since.
        if attempt == attempts or not ("cannot listen" in log or "metrics exposer" in log):
            raise SystemExit(f"{failed} did not start:\n{log}")
        print(f"{failed} could not bind its port; starting again with others")
    for p in pods:
        print(f"{p['name']:16} grpc 127.0.0.1:{p['grpc_port']}  metrics :{p['metrics_port']}  pid {p['pid']}")
    print(f"calls need a token: mlpipe --token-file {admin_token} (admin)")
    return pods, addresses


def wait_started(pods, children, work):
    """None once every process wrote its port file; else the one that exited
    or did not start within a minute."""
    deadline = time.time() + 60
    for p, child in zip(pods, children):
        ports = os.path.join(work, p["name"], "ports")
        while not (os.path.exists(ports) and os.path.getsize(ports) > 0):
            if child.poll() is not None or time.time() > deadline:
                return p["name"]
            if p["component"] == "online-store" and accepts(p["grpc_port"]):
                with open(ports, "w") as f:
                    f.write(f"{p['grpc_port']} 0\n")
                break
            time.sleep(0.05)
    return None


def accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def down(work):
    path = os.path.join(work, "topology.json")
    if not os.path.exists(path):
        return
    pods = json.load(open(path))["pods"]
    for p in pods:
        try:
            os.kill(p["pid"], signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.time() + 30
    for p in pods:
        while time.time() < deadline:
            try:
                os.kill(p["pid"], 0)
                if open(f"/proc/{p['pid']}/stat").read().split()[2] == "Z":
                    break
            except (ProcessLookupError, FileNotFoundError):
                break
            time.sleep(0.1)
        else:
            try:
                os.kill(p["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass
    os.remove(path)


def example(bin_dir, work):
    pods, a = up(bin_dir, work)
    try:
        drive_example(bin_dir, work, pods, a)
    finally:
        # Every client here is admin: a refusal is one service's call to
        # another that its identity's role does not allow.
        refused = refused_calls(work, pods)
        if refused:
            print("calls refused by the auth policy:\n" + "\n".join(refused), file=sys.stderr)
        rejected = artifact_rejections(work, pods)
        if rejected:
            print("model artifacts refused at load:\n" + "\n".join(rejected), file=sys.stderr)
    if refused:
        raise SystemExit("services' calls to each other were refused (above)")
    print("== no service's call to another was refused")
    if rejected:
        raise SystemExit("services refused model artifacts (above)")
    print("== no service refused a model artifact (mlpipe_artifact_rejected_total, logs)")
    print("topology example finished")


def distributed_gbdt(cli, work, run, a):
    """One GBDT over both train-workers (XGBoost's collective), on the run's
    split and features: the tracker in train, a shard process per worker."""
    results = {s["name"]: s.get("results", {}) for s in run["steps"]}
    config = os.path.join(work, "distributed.yaml")
    with open(config, "w") as f:
        f.write("model: credit-distributed\npositive_class: bad\ncandidates:\n"
                "  - {name: gbdt, algorithm: gbdt, distributed: {workers: 2},\n"
                "     params: {rounds: 50, max_depth: 3}}\n")
    print("== a GBDT trained over the two train-workers, each shard holding half the rows")
    job = json.loads(cli(a["train"], "--output", "json", "train", "--split",
                         results["split"]["split"], "--feature-set",
                         results["features"]["feature_set"], "--config", config).stdout)
    model = json.loads(cli(a["train"], "--output", "json", "models", "show",
                           job["models"][0]).stdout)
    auc = next(m["value"] for m in model["eval_metrics"] if m["name"] == "auc")
    print(f"   {model['id']}: eval AUC {auc:.4f}, {model['train_rows']} training rows, "
          f"workers {', '.join(model['workers'])}")
    if len(model["workers"]) != 2 or auc < 0.75:
        raise SystemExit(f"distributed training: {model['workers']}, AUC {auc}")


def drive_example(bin_dir, work, pods, a):
    mlpipe = os.path.join(bin_dir, "mlpipe")
    admin_token = os.path.join(work, "auth", "admin.token")

    def cli(server, *args, check=True):
        r = subprocess.run([mlpipe, "--server", server, "--ingest-server", a["ingest"],
                            "--token-file", admin_token, *args],
                           capture_output=True, text=True, timeout=900)
        if check and r.returncode != 0:
            raise SystemExit(f"mlpipe {' '.join(args)}: exit {r.returncode}\n{r.stdout}{r.stderr}")
        return r

    print("== the example pipeline, through the orchestrator process (the CLI uploads credit.csv)")
    pipeline = os.path.join(ROOT, "examples", "credit", "pipeline.yaml")
    run = json.loads(cli(a["orchestrator"], "--output", "json", "run", pipeline, "--watch").stdout)
    deploy = next(s for s in run["steps"] if s["name"] == "deploy")
    version = deploy["results"]["model_version"]
    print(f"   run {run['id']}: {run['state']}, deployed {version}")
    distributed_gbdt(cli, work, run, a)
    row = json.dumps({"Seniority": 9, "Home": "rent", "Time": 60, "Age": 30, "Marital": "married",
                      "Records": "no", "Job": "freelance", "Expenses": 73, "Income": 129,
                      "Assets": 0, "Debt": 0, "Amount": 800, "Price": 846})
    scorers = [p for p in pods if p["component"] == "score"]
    print(f"== each of the {len(scorers)} scoring replicas serves {version}")
    for p in scorers:
        deadline = time.time() + 30
        while True:
            r = cli(f"127.0.0.1:{p['grpc_port']}", "--output", "json", "predict", "--json", row,
                    check=False)
            if r.returncode == 0 and json.loads(r.stdout)["model_version"] == version:
                break
            if time.time() > deadline:
                raise SystemExit(f"{p['name']} does not serve {version}: {r.stdout}{r.stderr}")
            time.sleep(0.2)
        print(f"   {p['name']}: {json.loads(r.stdout)['predictions'][0]}")
    print(f"== 40 predictions (40 more at a time while a replica is still connecting) from one client, round robin over {a['score']}")
    before = [requests_ok(p) for p in scorers]
    served_now = lambda: [requests_ok(p) - b for p, b in zip(scorers, before)]
    # A subchannel still connecting gets no picks: more calls (up to 30 s)
    # until every replica has answered some.
    predict_round_robin(work, a["score"], json.loads(row), 40,
                        until=lambda: min(served_now()) > 0)
    served = served_now()
    for p, n in zip(scorers, served):
        print(f"   {p['name']}: {n:.0f} requests")
    if sum(served) < 40 or min(served) == 0:
        raise SystemExit(f"round robin did not reach every replica: {served}")
    print("== the monitor sees the predictions of both")
    deadline = time.time() + 30
    while True:
        r = cli(a["monitor"], "--output", "json", "monitor", "report", version, check=False)
        if r.returncode == 0 and int(json.loads(r.stdout).get("predictions", 0)) >= 42:
            break
        if time.time() > deadline:
            raise SystemExit(f"the monitor did not get the predictions: {r.stdout}{r.stderr}")
        time.sleep(0.3)
    print(f"   {json.loads(r.stdout)['predictions']} predictions of {version} logged")
    print("== the cluster's pipeline (deploy/k8s/base/pipelines), from the import volume:")
    print("   a new dataset version, a new model as a 10% canary through one replica")
    cluster = os.path.join(ROOT, "deploy", "k8s", "base", "pipelines", "credit-risk.yaml")
    again = json.loads(cli(a["orchestrator"], "--output", "json", "run", cluster, "--watch").stdout)
    canary = next(s for s in again["steps"] if s["name"] == "deploy")["results"]
    print(f"   run {again['id']}: {again['state']}, {canary['model_version']} at "
          f"{canary['percent']:.0f}%, route revision {canary['revision']:.0f}")
    print("== both replicas serve the same route")
    deadline = time.time() + 30
    while True:
        lists = [cli(f"127.0.0.1:{p['grpc_port']}", "--output", "json", "deployments", "list",
                     check=False) for p in scorers]
        if all(r.returncode == 0 for r in lists):
            routes = [json.loads(r.stdout)["routes"] for r in lists]
            revisions = [int(r[0]["revision"]) for r in routes]
            if all(v == int(canary["revision"]) for v in revisions):
                break
        else:
            revisions = [r.stderr.strip() for r in lists]
        if time.time() > deadline:
            raise SystemExit(f"the replicas' routes differ: {revisions}")
        time.sleep(0.2)
    for p, r in zip(scorers, routes):
        shares = ", ".join(f"{t['model_version']} {t['percent']:.0f}%" for t in r[0]["targets"])
        print(f"   {p['name']}: revision {r[0]['revision']}: {shares}")
    print("== both deployed models are signed by train's key (and served by verifiers)")
    for v in (version, canary["model_version"]):
        m = json.loads(cli(a["train"], "--output", "json", "models", "show", v).stdout)
        signature = m.get("signature", "")
        if not signature.startswith("ed25519:"):
            raise SystemExit(f"{v} is not signed (signature {signature!r})")
        print(f"   {v}: {signature[:40]}...")
    predict_by_entity_key(work, a, scorers, cli)


def predict_by_entity_key(work, a, scorers, cli):
    """credit.csv with an entity key (loans: "c0", "c1", ... by row), prepared
    with entity_key (prep writes the latest vectors to the Redis online
    store), a model on it deployed as `loans`; each scoring replica predicts
    by entity key, reading Redis itself, the same as from the raw rows."""
    print("== the Redis online store: a feature set by entity key, a model on it; "
          "each replica predicts by key from Redis")
    loans = os.path.join(work, "loans")
    os.makedirs(loans, exist_ok=True)
    rows = {}
    with open(os.path.join(ROOT, "examples", "credit", "credit.csv")) as src, \
            open(os.path.join(loans, "loans.csv"), "w") as out:
        header = None
        for i, line in enumerate(src):
            out.write(("id" if i == 0 else f"c{i - 1}") + "," + line)
            fields = [f.strip('"') for f in line.rstrip("\n").split(",")]
            if header is None:
                header = fields
            elif i - 1 in (5, 17):
                rows[f"c{i - 1}"] = {k: (float(v) if re.fullmatch(r"-?[0-9.]+", v) else v)
                                     for k, v in zip(header, fields) if k != "Status"}
    shutil.copy(os.path.join(ROOT, "examples", "credit", "by-entity-key.yaml"),
                os.path.join(loans, "loans.yaml"))
    run = json.loads(cli(a["orchestrator"], "--output", "json", "run",
                         os.path.join(loans, "loans.yaml"), "--watch").stdout)
    version = next(s for s in run["steps"] if s["name"] == "deploy")["results"]["model_version"]
    print(f"   run {run['id']}: {run['state']}, deployed {version} as loans")
    keys = ",".join(rows)
    for p in scorers:
        deadline = time.time() + 30
        while True:  # Until the replica has taken the new route.
            r = cli(f"127.0.0.1:{p['grpc_port']}", "--output", "json", "predict", "--model",
                    "loans", "--keys", keys, check=False)
            if r.returncode == 0 and json.loads(r.stdout)["model_version"] == version:
                break
            if time.time() > deadline:
                raise SystemExit(f"{p['name']} does not predict by key: {r.stdout}{r.stderr}")
            time.sleep(0.2)
        expected = [json.loads(cli(f"127.0.0.1:{p['grpc_port']}", "--output", "json", "predict",
                                   "--model", "loans", "--ignore-extra", "--json",
                                   json.dumps(rows[k])).stdout)
                    ["predictions"][0]["value"] for k in rows]
        got = [x["value"] for x in json.loads(r.stdout)["predictions"]]
        if any(abs(g - e) > 1e-9 for g, e in zip(got, expected)):
            raise SystemExit(f"{p['name']}: by key {got}, from the raw rows {expected}")
        reads = redis_reads_ok(p)
        if reads < 1:
            raise SystemExit(f"{p['name']} did not read Redis (mlpipe_online_redis_calls_total)")
        print(f"   {p['name']}: {keys} -> {got} (as from the raw rows; "
              f"{reads:.0f} Redis reads)")


def redis_reads_ok(pod):
    body = urllib.request.urlopen(f"http://127.0.0.1:{pod['metrics_port']}/metrics", timeout=10).read()
    m = re.search(rb'^mlpipe_online_redis_calls_total\{op="read",outcome="ok"\} (\S+)$', body, re.M)
    return float(m.group(1)) if m else 0.0


def refused_calls(work, pods):
    """The `call refused` lines of every pod's log: pod, method, principal, reason."""
    out = []
    for p in pods:
        for line in open(os.path.join(work, p["name"], "log"), errors="replace"):
            if '"msg":"call refused"' not in line:
                continue
            try:
                e = json.loads(line)
                out.append(f"   {p['name']}: {e.get('method')} from principal "
                           f"'{e.get('principal')}' ({e.get('reason')})")
            except ValueError:
                out.append(f"   {p['name']}: {line.strip()}")
    return out


# The messages of ml::CheckArtifact's refusals (common/ml/artifact.cc).
ARTIFACT_REFUSALS = re.compile(r"content hash \S+ does not match|the artifact is not signed|"
                               r"signature is malformed|signature does not verify|"
                               r"not among the accepted verification keys")


def artifact_rejections(work, pods):
    """Every pod's model artifacts refused at load: its counter
    mlpipe_artifact_rejected_total{reason} (absent until one is) and the
    refusals in its log."""
    out = []
    for p in pods:
        if p["component"] == "online-store":
            continue
        try:
            body = urllib.request.urlopen(f"http://127.0.0.1:{p['metrics_port']}/metrics",
                                          timeout=10).read().decode()
        except OSError as e:
            out.append(f"   {p['name']}: no /metrics ({e})")
            body = ""
        for m in re.finditer(r"^mlpipe_artifact_rejected_total\{(.*)\} (\S+)$", body, re.M):
            if float(m.group(2)) > 0:
                out.append(f"   {p['name']}: mlpipe_artifact_rejected_total{{{m.group(1)}}} {m.group(2)}")
        for line in open(os.path.join(work, p["name"], "log"), errors="replace"):
            if ARTIFACT_REFUSALS.search(line):
                out.append(f"   {p['name']}: {line.strip()[:300]}")
    return out


def predict_round_robin(work, target, row, n, until=lambda: True, seconds=30):
    """`n` Predict calls on one gRPC channel with round-robin balancing
    (Python grpcio; the messages from the protos' descriptors), then `n` more
    at a time until `until()` holds or `seconds` have passed."""
    import grpc
    from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
    descriptors = os.path.join(work, "score.desc")
    subprocess.run(["protoc", "-I", os.path.join(ROOT, "proto"), "--include_imports",
                    f"--descriptor_set_out={descriptors}", "mlpipe/v1/score_service.proto"],
                   check=True)
    pool = descriptor_pool.DescriptorPool()
    for f in descriptor_pb2.FileDescriptorSet.FromString(open(descriptors, "rb").read()).file:
        pool.Add(f)
    factory = message_factory.MessageFactory(pool)
    request_type = factory.GetPrototype(pool.FindMessageTypeByName("mlpipe.v1.PredictRequest"))
    response_type = factory.GetPrototype(pool.FindMessageTypeByName("mlpipe.v1.PredictResponse"))
    request = json_format.ParseDict({"rows": [row]}, request_type())
    token = open(os.path.join(work, "auth", "admin.token")).read().strip()
    metadata = [("authorization", f"Bearer {token}")]
    with grpc.insecure_channel(target, options=[("grpc.lb_policy_name", "round_robin")]) as ch:
        predict = ch.unary_unary("/mlpipe.v1.Scoring/Predict",
                                 request_serializer=lambda m: m.SerializeToString(),
                                 response_deserializer=response_type.FromString)
        deadline = time.time() + seconds
        while True:
            for _ in range(n):
                predict(request, timeout=30, wait_for_ready=True, metadata=metadata)
            if until() or time.time() > deadline:
                return


def requests_ok(pod):
    body = urllib.request.urlopen(f"http://127.0.0.1:{pod['metrics_port']}/metrics", timeout=10).read()
    m = re.search(rb'^mlpipe_score_requests_total\{outcome="ok"\} (\S+)$', body, re.M)
    return float(m.group(1)) if m else 0.0


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("up", "down", "example"):
        print(__doc__)
        sys.exit(2)
    cmd = sys.argv[1]
    if cmd == "down":
        down(sys.argv[2])
        return
    bin_dir, work = os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
    if cmd == "up":
        up(bin_dir, work)
        return
    shutil.rmtree(work, ignore_errors=True)
    try:
        example(bin_dir, work)
    finally:
        down(work)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
