// `make k8s-validate`: every object of deploy/kubernetes/*.yaml checked against the Kubernetes
// OpenAPI schemas (kubernetes-models, and the Prometheus Operator's for the PodMonitor), offline.
// Usage: node k8s-validate.mjs FILE...: the Makefile copies it beside a node_modules that holds
// kubernetes-models, @kubernetes-models/prometheus-operator and yaml (ES modules resolve from
// the script's own directory).
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

// apiVersion -> the package directory that holds its models
function modulePath(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  if (group === "monitoring.coreos.com")
    return `@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`;
  return `kubernetes-models/${group ? group + "/" : ""}${version}/${kind}`;
}

let failed = 0, checked = 0;
for (const file of process.argv.slice(2)) {
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    if (doc.errors.length) {
      console.log(`FAIL ${file}: ${doc.errors[0].message}`);
      failed++;
      continue;
    }
    const obj = doc.toJS();
    if (!obj) continue;
    const name = `${file}: ${obj.kind} ${obj.metadata?.name}`;
    try {
      const mod = await import(modulePath(obj.apiVersion, obj.kind));
      new mod[obj.kind](obj).validate();
      console.log(`PASS ${name}`);
      checked++;
    } catch (e) {
      console.log(`FAIL ${name}: ${e.message.split("\n").slice(0, 6).join(" ")}`);
      failed++;
    }
  }
}
console.log(`${checked} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
