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

// mlpipe's own rules for its workloads, beyond the schemas.
function platformRules(objs, file) {
  const problems = [];
  const byKind = (k) => objs.filter((o) => o.kind === k);
  const workloads = [...byKind("Deployment"), ...byKind("StatefulSet")];
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
    if (w.kind === "StatefulSet" && !(w.spec.volumeClaimTemplates || []).length)
      problems.push(`${name}: a StatefulSet keeps its store on a volume claim`);
    const pdb = byKind("PodDisruptionBudget").find(
      (p) => p.spec.selector.matchLabels["app.kubernetes.io/component"] === component);
    if (!pdb) problems.push(`${name}: no PodDisruptionBudget`);
    const policy = byKind("NetworkPolicy").find((p) =>
      p.spec.podSelector.matchLabels &&
      p.spec.podSelector.matchLabels["app.kubernetes.io/component"] === component);
    if (!policy) problems.push(`${name}: no NetworkPolicy lets anything reach it`);
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
