// Renders the kustomizations under k8s/ the way `kubectl apply -k` would, for the ops tests.
// Rendering uses the real kustomize (built into kubectl, or standalone), so the tests see exactly
// what a cluster would receive. The secret files are git-ignored: each render works on a copy of
// k8s/ in which every one is its committed *.example template, so no real value is ever read.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseAllDocuments } from "yaml";

export const ROOT = path.resolve(__dirname, "../../..");
export const K8S = path.join(ROOT, "k8s");

/** A rendered Kubernetes object; the tests read it loosely. */
export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; [k: string]: any };
} & Record<string, any>;

/** The command that renders a kustomization, or undefined when neither tool is installed. */
export function kustomizeCommand(): string[] | undefined {
  const candidates = [
    { probe: ["kubectl", "version", "--client"], cmd: ["kubectl", "kustomize"] },
    { probe: ["kustomize", "version"], cmd: ["kustomize", "build"] },
  ];
  for (const c of candidates) {
    const r = spawnSync(c.probe[0], c.probe.slice(1), { encoding: "utf8" });
    if (r.status === 0) return c.cmd;
  }
  return undefined;
}

/** Every file under `root`, relative to it. */
function walk(root: string, dir = root): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(root, p) : [path.relative(root, p)];
  });
}

/** Every directory holding a kustomization.yaml, relative to `root` ("overlays/prod", …). */
export function kustomizationDirs(root = K8S): string[] {
  return walk(root)
    .filter((f) => path.basename(f) === "kustomization.yaml")
    .map((f) => path.dirname(f))
    .sort();
}

/** Files under `root` whose name ends with `suffix`, relative to it. */
export function filesEndingWith(suffix: string, root = K8S): string[] {
  return walk(root)
    .filter((f) => f.endsWith(suffix))
    .sort();
}

/** Parses a KEY=value env file as kustomize's secretGenerator reads it. */
export function readEnvFile(file: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of fs.readFileSync(file, "utf8").split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const i = line.indexOf("=");
    out.set(line.slice(0, i), line.slice(i + 1));
  }
  return out;
}

/** Renders every kustomization under k8s/ from a copy whose secret files are the templates. */
export function renderAll(cmd: string[]): Map<string, K8sObject[]> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "aura-k8s-"));
  try {
    const copy = path.join(tmp, "k8s");
    fs.cpSync(K8S, copy, { recursive: true });
    for (const example of filesEndingWith(".example", copy)) {
      const from = path.join(copy, example);
      fs.copyFileSync(from, from.replace(/\.example$/, ""));
    }
    const out = new Map<string, K8sObject[]>();
    for (const dir of kustomizationDirs(copy)) {
      const r = spawnSync(cmd[0], [...cmd.slice(1), path.join(copy, dir)], { encoding: "utf8" });
      if (r.status !== 0) throw new Error(`${cmd.join(" ")} ${dir} failed:\n${r.stderr}`);
      const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as K8sObject);
      out.set(dir, docs.filter(Boolean));
    }
    return out;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Unknown or misspelt fields, which the OpenAPI schemas let through (they allow extra properties,
 * as the API server does unless asked for strict validation): each object is type-checked as an
 * object literal of its kubernetes-models type, whose excess-property check names any field the
 * API does not define. Returns "<id>: <message>" per problem.
 */
export function unknownFields(items: { id: string; object: K8sObject }[]): string[] {
  // required lazily: the TypeScript compiler is large and only this check needs it
  const ts = require("typescript") as typeof import("typescript");
  const file = path.join(ROOT, "test/unit/ops/__rendered__.mts");
  const lines = items.flatMap(({ object }, i) => [
    `import type { I${object.kind} as T${i} } from "kubernetes-models/${object.apiVersion}/${object.kind}";`,
    `export const m${i}: T${i} = ${JSON.stringify(object)};`,
  ]);
  const text = lines.join("\n");
  const options: import("typescript").CompilerOptions = {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) =>
    path.resolve(name) === file
      ? ts.createSourceFile(name, text, lang, true)
      : getSourceFile(name, lang, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => path.resolve(name) === file || fileExists(name);
  const readFile = host.readFile.bind(host);
  host.readFile = (name) => (path.resolve(name) === file ? text : readFile(name));
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, "\n");
    if (!d.file || d.start === undefined) return message;
    const line = d.file.getLineAndCharacterOfPosition(d.start).line;
    return `${items[Math.floor(line / 2)]?.id ?? "?"}: ${message}`;
  });
}
