// Validates rendered Kubernetes manifests (YAML, several documents) against
// the Kubernetes OpenAPI schemas, through the npm package kubernetes-models.
// Usage: node validate_manifests.js FILE.yaml...   Exit 1 on any invalid or
// unknown object. Before that, it checks that validation rejects a broken
// object at all (so that a silently lenient validator cannot pass).
"use strict";
const fs = require("fs");
const yaml = require("js-yaml");

function modelFor(apiVersion, kind) {
  const path = apiVersion.includes("/")
    ? `kubernetes-models/${apiVersion}`
    : `kubernetes-models/${apiVersion}`;
  let mod;
  try {
    mod = require(path);
  } catch (e) {
    return null;
  }
  return mod[kind] || null;
}

function validate(obj) {
  const Model = modelFor(obj.apiVersion, obj.kind);
  if (!Model) throw new Error(`no schema for ${obj.apiVersion} ${obj.kind}`);
  new Model(obj).validate();
}

// The validator must reject what the API server would.
const broken = [
  {apiVersion: "apps/v1", kind: "Deployment", metadata: {name: "x"},
   spec: {replicas: "two", selector: {matchLabels: {a: "b"}},
          template: {metadata: {labels: {a: "b"}}, spec: {containers: [{name: "c", image: "i"}]}}}},
  {apiVersion: "v1", kind: "Service", metadata: {name: "x"},
   spec: {ports: [{port: "seven thousand"}]}},
  {apiVersion: "apps/v1", kind: "StatefulSet", metadata: {name: "x"},
   spec: {selector: {matchLabels: {a: "b"}}, serviceName: "x",
          template: {spec: {containers: [{name: "c", image: "i",
            readinessProbe: {grpc: {}}}]}}}},
];
for (const b of broken) {
  let rejected = false;
  try {
    validate(b);
  } catch (e) {
    rejected = true;
  }
  if (!rejected) {
    console.error(`validator accepted a broken ${b.kind}: the check is not working`);
    process.exit(1);
  }
}

// The components that load models and check their signatures.
const VERIFIERS = ["score", "evaluate", "monitor"];
// The keys of the Secret mlpipe-signing that are public keys.
const PUBLIC_KEY = /^verify(-[\w.-]+)?\.pem$/;

// Every way a pod spec reaches a key of the Secret mlpipe-signing that is not
// a public key (or all of its keys): secret and projected volumes, env and
// envFrom, of every container and init container.
function privateKeyRefs(pod) {
  const refs = [];
  const keys = (what, items) => {
    if (!items || items.length === 0) refs.push(`${what} (all its keys)`);
    for (const i of items || [])
      if (!PUBLIC_KEY.test(i.key)) refs.push(`${what} (key ${i.key})`);
  };
  for (const v of pod.volumes || []) {
    if (v.secret && v.secret.secretName === "mlpipe-signing") keys(`volume ${v.name}`, v.secret.items);
    for (const src of (v.projected && v.projected.sources) || [])
      if (src.secret && src.secret.name === "mlpipe-signing") keys(`volume ${v.name}`, src.secret.items);
  }
  for (const c of [...(pod.containers || []), ...(pod.initContainers || [])]) {
    for (const e of c.env || []) {
      const ref = e.valueFrom && e.valueFrom.secretKeyRef;
      if (ref && ref.name === "mlpipe-signing" && !PUBLIC_KEY.test(ref.key))
        refs.push(`env ${e.name} of container ${c.name} (key ${ref.key})`);
    }
    for (const e of c.envFrom || [])
      if (e.secretRef && e.secretRef.name === "mlpipe-signing")
        refs.push(`envFrom of container ${c.name} (all its keys)`);
  }
  return refs;
}

// The Redis online store's workloads: hardened as mlpipe's own, probed on
// their port, users from the Secret mlpipe-redis's ACL file (the default
// user off), and reached only by prep, score and Redis's own pods.
function redisRules(objs, workloads) {
  const problems = [];
  const byKind = (k) => objs.filter((o) => o.kind === k);
  if (workloads.length === 0) problems.push("the Redis online store is missing");
  for (const w of workloads) {
    const name = `${w.kind} ${w.metadata.name}`;
    const pod = w.spec.template.spec;
    const component = w.spec.template.metadata.labels["app.kubernetes.io/component"];
    if (!pod.securityContext || pod.securityContext.runAsNonRoot !== true)
      problems.push(`${name}: pods must run as non-root`);
    for (const c of pod.containers) {
      const port = c.ports && c.ports[0] && c.ports[0].containerPort;
      for (const probe of ["livenessProbe", "readinessProbe", "startupProbe"]) {
        if (!c[probe] || !c[probe].tcpSocket || c[probe].tcpSocket.port !== port)
          problems.push(`${name}: ${probe} must be a TCP check of port ${port}`);
      }
      if (!c.resources || !c.resources.requests || !c.resources.limits)
        problems.push(`${name}: resource requests and limits`);
      if (!c.securityContext || c.securityContext.allowPrivilegeEscalation !== false ||
          c.securityContext.readOnlyRootFilesystem !== true)
        problems.push(`${name}: no privilege escalation, read-only root file system`);
    }
    if (privateKeyRefs(pod).length)
      problems.push(`${name}: gives Redis the Secret mlpipe-signing's private key`);
    if (component === "online-store") {
      const acl = (pod.volumes || []).find((v) => v.secret && v.secret.secretName === "mlpipe-redis");
      const items = (acl && acl.secret.items) || [];
      if (items.length !== 1 || items[0].key !== "users.acl")
        problems.push(`${name}: mounts only users.acl of the Secret mlpipe-redis`);
    }
    if (!byKind("PodDisruptionBudget").some(
      (p) => p.spec.selector.matchLabels["app.kubernetes.io/component"] === component))
      problems.push(`${name}: no PodDisruptionBudget`);
  }
  const conf = byKind("ConfigMap").find((c) => c.metadata.name.startsWith("mlpipe-redis-config"));
  const text = (conf && conf.data && conf.data["redis.conf"]) || "";
  if (!/^aclfile \/etc\/redis\/acl\/users.acl$/m.test(text) || !/^maxmemory-policy noeviction$/m.test(text))
    problems.push("redis.conf: users from /etc/redis/acl/users.acl, and noeviction (a full store " +
                  "refuses writes rather than dropping vectors)");
  const policy = byKind("NetworkPolicy").find((p) => p.metadata.name === "redis");
  const from = policy ? (policy.spec.ingress || []).flatMap((r) => r.from || []) : [];
  const who = from.map((f) => {
    const l = (f.podSelector && f.podSelector.matchLabels) || {};
    return f.namespaceSelector || f.ipBlock ? "outside" :
      `${l["app.kubernetes.io/name"]}/${l["app.kubernetes.io/component"] || "*"}`;
  }).sort();
  if (JSON.stringify(who) !== JSON.stringify(["mlpipe/prep", "mlpipe/score", "redis/*"]))
    problems.push(`NetworkPolicy redis: only prep, score and Redis's pods may reach Redis, not ${who}`);
  return problems;
}

// mlpipe's own rules for its workloads, beyond the schemas.
function platformRules(objs, file) {
  const problems = [];
  const byKind = (k) => objs.filter((o) => o.kind === k);
  const allWorkloads = [...byKind("Deployment"), ...byKind("StatefulSet")];
  const appOf = (w) => w.spec.template.metadata.labels["app.kubernetes.io/name"];
  const workloads = allWorkloads.filter((w) => appOf(w) === "mlpipe");
  problems.push(...redisRules(objs, allWorkloads.filter((w) => appOf(w) === "redis")));
  for (const w of allWorkloads)
    if (!["mlpipe", "redis"].includes(appOf(w)))
      problems.push(`${w.kind} ${w.metadata.name}: neither mlpipe nor its Redis online store`);
  // Pods of any other kind (a Job, a CronJob, a bare Pod) get no private key.
  for (const o of objs) {
    if (o.kind === "Deployment" || o.kind === "StatefulSet") continue;
    const pod = o.kind === "Pod" ? o.spec
      : o.spec && o.spec.jobTemplate ? o.spec.jobTemplate.spec.template.spec
      : o.spec && o.spec.template && o.spec.template.spec;
    if (pod && typeof pod === "object")
      for (const leak of privateKeyRefs(pod))
        problems.push(`${o.kind} ${o.metadata.name}: ${leak} gives it the Secret mlpipe-signing's private key`);
  }
  const components = new Set();
  for (const w of workloads) {
    const name = `${w.kind} ${w.metadata.name}`;
    const pod = w.spec.template.spec;
    const component = w.spec.template.metadata.labels["app.kubernetes.io/component"];
    components.add(component);
    if (!pod.securityContext || pod.securityContext.runAsNonRoot !== true)
      problems.push(`${name}: pods must run as non-root`);
    for (const c of pod.containers) {
      // Plaintext: the gRPC port. With TLS: the plaintext health port.
      const args = c.args || [];
      const tls = args.some((a) => a.startsWith("--tls_cert="));
      const health = args.find((a) => a.startsWith("--health_port="));
      const probePort = tls ? Number(health && health.split("=")[1]) : 7000;
      if (tls && !health) problems.push(`${name}: TLS without a plaintext --health_port for the probes`);
      if (tls) {
        const mounted = (c.volumeMounts || []).some((m) => m.mountPath === "/etc/mlpipe/tls");
        const secret = (pod.volumes || []).some((v) => v.secret && v.secret.secretName === "mlpipe-tls");
        if (!mounted || !secret) problems.push(`${name}: TLS files must come from the Secret mlpipe-tls`);
      }
      // Authorization: the policy and this component's own service identity
      // (train-workers are the train service), from the Secrets; never off.
      const identity = component === "train-workers" ? "train" : component;
      if (!args.includes("--auth_policy=/etc/mlpipe/auth/policy.yaml"))
        problems.push(`${name}: --auth_policy=/etc/mlpipe/auth/policy.yaml is missing`);
      if (!args.includes("--auth_token_file=/etc/mlpipe/identity/token"))
        problems.push(`${name}: --auth_token_file=/etc/mlpipe/identity/token is missing`);
      if (args.some((a) => a === "--insecure_no_auth" || a.startsWith("--insecure_no_auth=")))
        problems.push(`${name}: --insecure_no_auth serves the port to anyone`);
      const secretVolume = (mountPath, secretName, key, path) => {
        const m = (c.volumeMounts || []).find((v) => v.mountPath === mountPath);
        const v = m && (pod.volumes || []).find((x) => x.name === m.name);
        const s = v && v.secret;
        const items = (s && s.items) || [];
        // Readable by the pod's group (fsGroup owns Secret files), not by others.
        const mode = s && s.defaultMode;
        if (!m || m.readOnly !== true || !s || s.secretName !== secretName ||
            items.length !== 1 || items[0].key !== key || items[0].path !== path ||
            mode === undefined || (mode & 0o040) === 0 || (mode & 0o007) !== 0)
          problems.push(`${name}: ${mountPath} must mount key ${key} of the Secret ${secretName} ` +
                        `as ${path}, read-only, group-readable and not world-readable`);
      };
      secretVolume("/etc/mlpipe/auth", "mlpipe-auth", "policy.yaml", "policy.yaml");
      secretVolume("/etc/mlpipe/identity", "mlpipe-identities", `${identity}.token`, "token");
      // Model signing: train signs with the private key (key signing.pem of
      // the Secret mlpipe-signing), and only train; score, evaluate and
      // monitor load only signed models, with public keys of that Secret
      // (verify.pem, and verify-*.pem beside it while a key rotates).
      const signing = args.filter((a) => a.startsWith("--artifact_signing_key"));
      const verify = args.filter((a) => a.startsWith("--artifact_verify_keys"));
      if (component === "train") {
        if (signing.length !== 1 || signing[0] !== "--artifact_signing_key=/etc/mlpipe/signing/signing.pem")
          problems.push(`${name}: train signs models: --artifact_signing_key=/etc/mlpipe/signing/signing.pem`);
        secretVolume("/etc/mlpipe/signing", "mlpipe-signing", "signing.pem", "signing.pem");
      } else if (signing.length) {
        problems.push(`${name}: only train signs models (--artifact_signing_key)`);
      }
      if (VERIFIERS.includes(component)) {
        const paths = verify.length === 1 ? verify[0].slice(verify[0].indexOf("=") + 1).split(",") : [];
        const m = (c.volumeMounts || []).find((v) => v.mountPath === "/etc/mlpipe/signing");
        const v = m && (pod.volumes || []).find((x) => x.name === m.name);
        const s = v && v.secret;
        const items = (s && s.items) || [];
        const mode = s && s.defaultMode;
        const projected = items.map((i) => `/etc/mlpipe/signing/${i.path}`);
        if (!paths.includes("/etc/mlpipe/signing/verify.pem") ||
            paths.some((p) => !projected.includes(p)) ||
            !items.some((i) => i.key === "verify.pem" && i.path === "verify.pem") ||
            items.some((i) => !PUBLIC_KEY.test(i.key) || i.path !== i.key) ||
            !m || m.readOnly !== true || !s || s.secretName !== "mlpipe-signing" ||
            mode === undefined || (mode & 0o040) === 0 || (mode & 0o007) !== 0)
          problems.push(`${name}: loads only signed models: --artifact_verify_keys=` +
                        "/etc/mlpipe/signing/verify.pem, mounting only public keys (verify.pem) " +
                        "of the Secret mlpipe-signing, read-only, group-readable and not world-readable");
      }
      if (!pod.securityContext || pod.securityContext.fsGroup === undefined)
        problems.push(`${name}: an fsGroup, so that the Secret files are readable`);
      for (const probe of ["livenessProbe", "readinessProbe", "startupProbe"]) {
        if (!c[probe] || !c[probe].grpc || c[probe].grpc.port !== probePort)
          problems.push(`${name}: ${probe} must be grpc.health.v1 on port ${probePort}`);
      }
      if (!c.resources || !c.resources.requests || !c.resources.limits)
        problems.push(`${name}: resource requests and limits`);
      if (!c.securityContext || c.securityContext.allowPrivilegeEscalation !== false ||
          c.securityContext.readOnlyRootFilesystem !== true)
        problems.push(`${name}: no privilege escalation, read-only root file system`);
    }
    for (const leak of privateKeyRefs(pod)) {
      if (component !== "train")
        problems.push(`${name}: ${leak} gives it the Secret mlpipe-signing's private key ` +
                      "(only train signs; verifiers get public keys, verify*.pem)");
    }
    if (w.kind === "StatefulSet" && !(w.spec.volumeClaimTemplates || []).length)
      problems.push(`${name}: a StatefulSet keeps its store on a volume claim`);
    const pdb = byKind("PodDisruptionBudget").find(
      (p) => p.spec.selector.matchLabels["app.kubernetes.io/component"] === component);
    if (!pdb) problems.push(`${name}: no PodDisruptionBudget`);
    const policy = byKind("NetworkPolicy").find((p) =>
      p.spec.podSelector.matchLabels &&
      p.spec.podSelector.matchLabels["app.kubernetes.io/component"] === component);
    if (!policy) problems.push(`${name}: no NetworkPolicy lets anything reach it`);
    // prep writes the Redis online store and score reads it, each as its
    // own Redis user, the password from the Secret mlpipe-redis.
    if (component === "prep" || component === "score") {
      const c = pod.containers[0];
      const env = (c.env || []).find((e) => e.name === "MLPIPE_REDIS_PASSWORD");
      const ref = env && env.valueFrom && env.valueFrom.secretKeyRef;
      if (!(c.args || []).some((a) => a.startsWith("--online_store=")))
        problems.push(`${name}: --online_store is missing`);
      if (!ref || ref.name !== "mlpipe-redis" || ref.key !== `${component}.password`)
        problems.push(`${name}: MLPIPE_REDIS_PASSWORD must be key ${component}.password ` +
                      "of the Secret mlpipe-redis");
    }
  }
  const hpa = byKind("HorizontalPodAutoscaler").find((h) => h.spec.scaleTargetRef.name === "score");
  if (!hpa) problems.push("scoring has no HorizontalPodAutoscaler");
  if (!byKind("NetworkPolicy").some((p) => p.metadata.name === "default-deny"))
    problems.push("no default-deny NetworkPolicy");
  for (const c of ["ingest", "prep", "split", "train", "train-workers", "evaluate",
                   "score", "monitor", "orchestrator"]) {
    if (!components.has(c)) problems.push(`component ${c} is missing`);
  }
  if (!objs.some((o) => o.kind === "Service" && o.metadata.name === "train-workers" &&
                        o.spec.clusterIP === "None"))
    problems.push("replicated training needs the headless Service train-workers");
  return problems.map((p) => `${file}: ${p}`);
}

let failures = 0;
const counts = {};
for (const file of process.argv.slice(2)) {
  const docs = yaml.loadAll(fs.readFileSync(file, "utf8")).filter(Boolean);
  if (docs.length === 0) {
    console.error(`${file}: no objects`);
    failures++;
  }
  for (const obj of docs) {
    const name = `${file}: ${obj.kind} ${obj.metadata && obj.metadata.name}`;
    try {
      validate(obj);
      counts[obj.kind] = (counts[obj.kind] || 0) + 1;
    } catch (e) {
      failures++;
      console.error(`${name}: ${e.message}`);
      if (e.errors) console.error(JSON.stringify(e.errors, null, 2));
    }
  }
  for (const p of platformRules(docs, file)) {
    failures++;
    console.error(p);
  }
}
const summary = Object.entries(counts).map(([k, n]) => `${n} ${k}`).join(", ");
console.log(`valid: ${summary}`);
if (failures > 0) {
  console.error(`${failures} invalid object(s)`);
  process.exit(1);
}
