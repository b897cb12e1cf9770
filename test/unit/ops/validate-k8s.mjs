// Validates Kubernetes objects against the API's OpenAPI schemas (kubernetes-models). Run by
// k8s.test.ts in a child process because kubernetes-models is ES modules only, which Jest's
// CommonJS runtime cannot import. Input: a JSON file of [{ id, object }]; output: JSON lines
// [{ id, error }] on stdout, one per object, error null when it is valid.
import fs from "node:fs";

const items = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const out = [];
for (const { id, object } of items) {
  const { apiVersion, kind } = object;
  let Model;
  try {
    // every kind is published at kubernetes-models/<apiVersion>/<Kind> (core: v1/<Kind>)
    Model = (await import(`kubernetes-models/${apiVersion}/${kind}`))[kind];
  } catch {
    Model = undefined;
  }
  if (!Model) {
    out.push({ id, error: `no schema for ${apiVersion} ${kind}` });
    continue;
  }
  // kustomize wraps long base64 values over lines, which the API server's decoder skips but the
  // schema's "byte" format does not
  if (kind === "Secret" && object.data)
    for (const [k, v] of Object.entries(object.data)) object.data[k] = String(v).replace(/\s+/g, "");
  try {
    new Model(object).validate();
    out.push({ id, error: null });
  } catch (e) {
    out.push({ id, error: e instanceof Error ? e.message : String(e) });
  }
}
process.stdout.write(JSON.stringify(out));
