// The Kubernetes manifests (k8s/), rendered with the real kustomize and checked against the
// Kubernetes API schemas and against AURA itself: every environment variable is one the
// configuration module reads and its value passes it, every SERVICES name is a service file,
// probes hit the paths and ports the code serves, secrets and config keys exist, selectors and
// ports line up, and pods get longer to stop than the runner's shutdown takes.
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { ServiceBroker } from "moleculer";
import { parse } from "yaml";
import { readEnv, SERVICES_USING_SECRETS, validateConfig, VARIABLES } from "../../../src/adapters/config";
import { AURA_METRICS } from "../../../src/adapters/metrics";
import { processState } from "../../../src/runtime/health";
import { startProbeThread } from "../../../src/runtime/probe-thread";
import {
  filesEndingWith,
  K8S,
  kustomizationDirs,
  kustomizeCommand,
  readEnvFile,
  renderAll,
  ROOT,
  unknownFields,
  type K8sObject,
} from "./k8s-render";

const tool = kustomizeCommand();
if (!tool) {
  const msg = "k8s manifests NOT checked: neither kubectl nor kustomize is installed";
  if (process.env.CI === "true") throw new Error(msg);
  console.warn(`\n\n*** ${msg} ***\n`);
}
const suite = tool ? describe : describe.skip;

const SERVICE_FILES = fs
  .readdirSync(path.join(ROOT, "services"))
  .filter((f) => f.endsWith(".service.ts"))
  .map((f) => f.replace(".service.ts", ""));
const WORKLOADS = ["Deployment", "StatefulSet", "Job"];
/** The overlays a cluster is deployed from; each has a migrate/ step applied before it. */
const OVERLAYS = ["overlays/dev", "overlays/prod"];

const read = (rel: string) => fs.readFileSync(path.join(ROOT, rel), "utf8");

/** Empty, CHANGE_ME, or an address with no credentials in it: never a value worth keeping secret. */
function isPlaceholder(value: string): boolean {
  if (value === "" || value.includes("CHANGE_ME")) return true;
  try {
    const u = new URL(value);
    return !u.password && !u.username;
  } catch {
    return false;
  }
}

/** Variables whose value is a file path that the configuration module opens and checks. */
const FILE_VARIABLES = ["NATS_TLS_CA", "NATS_TLS_CERT", "NATS_TLS_KEY", "NATS_NKEY_SEED", "NATS_CREDS"];
const standInDir = fs.mkdtempSync(path.join(os.tmpdir(), "aura-k8s-files-"));
afterAll(() => fs.rmSync(standInDir, { recursive: true, force: true }));
const standIn = (name: string, text: string) => {
  const file = path.join(standInDir, name);
  fs.writeFileSync(file, text);
  return file;
};
const CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const STAND_IN_FILES: Record<string, string> = {
  NATS_TLS_CA: standIn("ca.pem", CERT),
  NATS_TLS_CERT: standIn("client.pem", CERT),
  NATS_TLS_KEY: standIn("client-key.pem", "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"),
};

/** The Secret key a container sees at `file` through its volume mounts, if any. */
function mountedSecretItem(w: K8sObject, c: any, file: string): { secret: string; key: string } | undefined {
  for (const m of c.volumeMounts ?? []) {
    if (!file.startsWith(`${m.mountPath}/`)) continue;
    const rel = file.slice(m.mountPath.length + 1);
    const v = w.spec.template.spec.volumes.find((x: any) => x.name === m.name);
    const item = v?.secret?.items?.find((i: any) => i.path === rel);
    if (item) return { secret: v.secret.secretName, key: item.key };
  }
  return undefined;
}
const podSpec = (o: K8sObject) => o.spec.template.spec;
const isAura = (image: string) => /^aura(:|@|$)/.test(image);
const auraContainers = (o: K8sObject): any[] =>
  WORKLOADS.includes(o.kind) ? podSpec(o).containers.filter((c: any) => isAura(c.image)) : [];
const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

suite("Kubernetes manifests", () => {
  let rendered: Map<string, K8sObject[]>;
  const all = () => [...rendered.entries()].flatMap(([dir, objs]) => objs.map((o) => ({ dir, o })));
  /** What a deploy of an overlay applies: its migrate/ step, then the overlay itself. */
  const deployed = (overlay: string) => [...rendered.get(`${overlay}/migrate`)!, ...rendered.get(overlay)!];
  const byKind = (objs: K8sObject[], kind: string) => objs.filter((o) => o.kind === kind);

  /** A container's environment as the process sees it, secret values replaced by valid stand-ins. */
  function containerEnv(objs: K8sObject[], w: K8sObject, c: any): Record<string, string> {
    const env: Record<string, string> = {};
    for (const from of c.envFrom ?? []) {
      const cm = objs.find((o) => o.kind === "ConfigMap" && o.metadata.name === from.configMapRef?.name);
      Object.assign(env, cm?.data ?? {});
    }
    const standIns: Record<string, string> = {
      DATABASE_URL: "postgres://aura:x@db:5432/aura",
      TRANSPORTER: "nats://nats:4222",
      REDIS_URL: "redis://:x@redis:6379",
      JWT_SECRET: crypto.randomBytes(48).toString("base64"),
      AURA_MASTER_KEY: crypto.randomBytes(32).toString("base64"),
      // optional: empty in the templates
      AURA_MASTER_KEYS_OLD: "",
      AURA_ADMIN_EMAIL: "",
    };
    for (const e of c.env ?? []) env[e.name] = e.value ?? standIns[e.name] ?? "stand-in-password";
    // a variable naming a file (NATS_TLS_CA, …) must name one a volume puts there; the check then
    // reads a stand-in of the same kind, since the pod's file does not exist here
    for (const name of FILE_VARIABLES.filter((n) => env[n])) {
      const item = mountedSecretItem(w, c, env[name]);
      expect({ name, path: env[name], mounted: Boolean(item) }).toEqual({
        name,
        path: env[name],
        mounted: true,
      });
      const secret = objs.find((o) => o.kind === "Secret" && o.metadata.name === item!.secret);
      expect({ name, key: item!.key, defined: Boolean(secret?.data?.[item!.key]) }).toEqual({
        name,
        key: item!.key,
        defined: true,
      });
      env[name] = STAND_IN_FILES[name];
    }
    return env;
  }

  beforeAll(() => {
    rendered = renderAll(tool!);
  }, 120_000);

  test("every kustomization renders, and each overlay has a migrate step", () => {
    expect(kustomizationDirs()).toEqual(
      expect.arrayContaining(["base", ...OVERLAYS, ...OVERLAYS.map((o) => `${o}/migrate`)]),
    );
    for (const [dir, objs] of rendered)
      expect({ dir, count: objs.length }).toEqual({ dir, count: expect.any(Number) });
    for (const o of OVERLAYS) expect(byKind(rendered.get(`${o}/migrate`)!, "Job")).toHaveLength(1);
  });

  test("every object is valid against the Kubernetes API schemas (kubernetes-models)", () => {
    const items = all().map(({ dir, o }) => ({ id: `${dir} ${o.kind}/${o.metadata.name}`, object: o }));
    const tmp = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "aura-k8s-validate-")), "objects.json");
    fs.writeFileSync(tmp, JSON.stringify(items));
    const r = spawnSync(process.execPath, [path.join(__dirname, "validate-k8s.mjs"), tmp], {
      cwd: ROOT,
      encoding: "utf8",
    });
    fs.rmSync(path.dirname(tmp), { recursive: true, force: true });
    expect(r.stderr).toBe("");
    const results = JSON.parse(r.stdout) as { id: string; error: string | null }[];
    expect(results).toHaveLength(items.length);
    expect(results.filter((x) => x.error)).toEqual([]);
  });

  test("no object has a field the Kubernetes API does not define", () => {
    const items = all().map(({ dir, o }) => ({ id: `${dir} ${o.kind}/${o.metadata.name}`, object: o }));
    expect(unknownFields(items)).toEqual([]);
  }, 120_000);

  test("workload selectors match their pod labels; Services, PDBs and policies select real pods", () => {
    for (const [dir, objs] of rendered) {
      const pods = objs
        .filter((o) => ["Deployment", "StatefulSet"].includes(o.kind))
        .map((o) => ({ o, labels: o.spec.template.metadata.labels }));
      for (const { o, labels } of pods)
        expect({ dir, name: o.metadata.name, ok: matches(o.spec.selector.matchLabels, labels) }).toEqual({
          dir,
          name: o.metadata.name,
          ok: true,
        });
      for (const o of objs) {
        const selector =
          o.kind === "Service"
            ? o.spec.selector
            : o.kind === "PodDisruptionBudget"
              ? o.spec.selector.matchLabels
              : o.kind === "NetworkPolicy"
                ? o.spec.podSelector.matchLabels
                : undefined;
        if (!selector || Object.keys(selector).length === 0) continue;
        const selected = pods.filter((p) => matches(selector, p.labels)).map((p) => p.o.metadata.name);
        expect({ dir, what: `${o.kind}/${o.metadata.name}`, selected: selected.length > 0 }).toEqual({
          dir,
          what: `${o.kind}/${o.metadata.name}`,
          selected: true,
        });
      }
    }
  });

  test("every Service port targets a port its pods declare", () => {
    for (const [dir, objs] of rendered)
      for (const svc of byKind(objs, "Service")) {
        const pods = objs.filter(
          (o) =>
            ["Deployment", "StatefulSet"].includes(o.kind) &&
            matches(svc.spec.selector, o.spec.template.metadata.labels),
        );
        const ports = pods.flatMap((p) => podSpec(p).containers.flatMap((c: any) => c.ports ?? []));
        for (const sp of svc.spec.ports) {
          const target = sp.targetPort ?? sp.port;
          const found = ports.some((p: any) => p.name === target || p.containerPort === target);
          expect({ dir, service: svc.metadata.name, target, found }).toEqual({
            dir,
            service: svc.metadata.name,
            target,
            found: true,
          });
        }
      }
  });

  test("every role runs service files that exist, and each overlay places every service", () => {
    const placed = (overlay: string) =>
      byKind(rendered.get(overlay)!, "Deployment").flatMap((d) =>
        auraContainers(d).flatMap((c) =>
          String(readEnv(containerEnv(deployed(overlay), d, c)).services ?? [])
            .split(",")
            .filter(Boolean),
        ),
      );
    for (const overlay of OVERLAYS) {
      const names = placed(overlay);
      expect(names.filter((s) => !SERVICE_FILES.includes(s))).toEqual([]);
      // monitor runs in every process whatever SERVICES says
      const missing = SERVICE_FILES.filter((s) => s !== "monitor" && !names.includes(s));
      // production trades on Binance: the simulator is the one service it does not run
      expect(missing).toEqual(overlay === "overlays/prod" ? ["exchange-sim"] : []);
      expect(names.filter((s, i) => names.indexOf(s) !== i)).toEqual([]);
    }
  });

  test("the simulator shares its pod with everything that reaches it on loopback, one pod at a time", () => {
    for (const overlay of OVERLAYS)
      for (const d of byKind(rendered.get(overlay)!, "Deployment"))
        for (const c of auraContainers(d)) {
          const env = readEnv(containerEnv(deployed(overlay), d, c));
          if (!env.services?.includes("exchange-sim")) continue;
          expect(env.services).toEqual(expect.arrayContaining(["market-data", "execution", "portfolio"]));
          expect(d.spec.replicas).toBe(1);
          expect(d.spec.strategy.type).toBe("Recreate");
          expect(
            rendered
              .get(overlay)!
              .some(
                (o) => o.kind === "HorizontalPodAutoscaler" && o.spec.scaleTargetRef.name === d.metadata.name,
              ),
          ).toBe(false);
        }
  });

  test("every variable an AURA container gets is one the configuration module reads, with a valid value", () => {
    for (const overlay of OVERLAYS) {
      const objs = deployed(overlay);
      for (const w of objs.filter((o) => WORKLOADS.includes(o.kind)))
        for (const c of auraContainers(w)) {
          const env = containerEnv(objs, w, c);
          const unknown = Object.keys(env).filter((k) => !(k in VARIABLES));
          expect({ overlay, workload: w.metadata.name, unknown }).toEqual({
            overlay,
            workload: w.metadata.name,
            unknown: [],
          });
          // throws with every bad variable listed, exactly as the process would refuse to start;
          // `aura migrate` reads only the runtime variables
          const migrate = (c.args ?? []).includes("migrate");
          if (migrate) expect(() => readEnv(env)).not.toThrow();
          else expect(() => validateConfig(env, { availableServices: SERVICE_FILES })).not.toThrow();
          expect(env.NODE_ENV).toBe("production");
        }
    }
  });

  test("only roles running a service that uses them get JWT_SECRET and AURA_MASTER_KEY", () => {
    for (const overlay of OVERLAYS) {
      const objs = deployed(overlay);
      for (const d of byKind(objs, "Deployment"))
        for (const c of auraContainers(d)) {
          const services = readEnv(containerEnv(objs, d, c)).services ?? [];
          const needs = services.some((s) => SERVICES_USING_SECRETS.includes(s));
          const names = (c.env ?? []).map((e: any) => e.name);
          for (const secret of ["JWT_SECRET", "AURA_MASTER_KEY"])
            expect({ overlay, role: d.metadata.name, secret, has: names.includes(secret) }).toEqual({
              overlay,
              role: d.metadata.name,
              secret,
              has: needs,
            });
        }
    }
  });

  test("every secret and config key a pod refers to is defined by the deploy", () => {
    for (const overlay of OVERLAYS) {
      const objs = deployed(overlay);
      const keysOf = (kind: string, name: string) => {
        const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
        return o ? Object.keys({ ...(o.data ?? {}), ...(o.stringData ?? {}) }) : undefined;
      };
      for (const w of objs.filter((o) => WORKLOADS.includes(o.kind)))
        for (const c of podSpec(w).containers) {
          for (const e of c.env ?? []) {
            const ref = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef;
            if (!ref) continue;
            const kind = e.valueFrom.secretKeyRef ? "Secret" : "ConfigMap";
            expect({
              overlay,
              ref: `${kind} ${ref.name} ${ref.key}`,
              defined: keysOf(kind, ref.name)?.includes(ref.key),
            }).toEqual({
              overlay,
              ref: `${kind} ${ref.name} ${ref.key}`,
              defined: true,
            });
          }
          for (const f of c.envFrom ?? []) {
            const kind = f.secretRef ? "Secret" : "ConfigMap";
            expect({
              overlay,
              ref: `${kind} ${(f.secretRef ?? f.configMapRef).name}`,
              defined: Boolean(keysOf(kind, (f.secretRef ?? f.configMapRef).name)),
            }).toEqual({ overlay, ref: `${kind} ${(f.secretRef ?? f.configMapRef).name}`, defined: true });
          }
        }
    }
  });

  test("secret files are templates with placeholders; the real ones are git-ignored", () => {
    for (const pem of filesEndingWith(".pem.example"))
      expect(fs.readFileSync(path.join(K8S, pem), "utf8")).toContain("CHANGE_ME");
    const examples = filesEndingWith(".env.example");
    expect(examples.length).toBeGreaterThanOrEqual(OVERLAYS.length);
    for (const example of examples) {
      for (const [key, value] of readEnvFile(path.join(K8S, example)))
        expect({ example, key, placeholder: isPlaceholder(value) }).toEqual({
          example,
          key,
          placeholder: true,
        });
    }
    for (const example of filesEndingWith(".example")) {
      const real = path.join("k8s", example.replace(/\.example$/, ""));
      const ignored = spawnSync("git", ["check-ignore", "-q", "--no-index", real], { cwd: ROOT });
      expect({ real, ignored: ignored.status === 0 }).toEqual({ real, ignored: true });
    }
  });

  test("probes hit the health paths and port the process really serves", async () => {
    // every role, the gateway's too, answers probes on HEALTH_PORT from its probe thread: ask the
    // real probe thread which paths it answers
    processState.dbRequired = false;
    const broker = { nodeID: "probe-test", services: [], started: true } as unknown as ServiceBroker;
    const probes = await startProbeThread(broker, 0, "127.0.0.1");
    const served = async (p: string) => (await fetch(`http://127.0.0.1:${probes.port}${p}`)).status !== 404;
    expect(await served("/health/none")).toBe(false);
    // the runner serves HEALTH_PORT wherever it is set
    expect(read("src/runtime/runner.ts")).toMatch(/if \(env\.healthPort !== undefined\)/);

    try {
      for (const overlay of OVERLAYS) {
        const objs = deployed(overlay);
        for (const d of byKind(objs, "Deployment"))
          for (const c of auraContainers(d)) {
            const env = readEnv(containerEnv(objs, d, c));
            expect({ role: d.metadata.name, healthPort: env.healthPort }).toEqual({
              role: d.metadata.name,
              healthPort: expect.any(Number),
            });
            const portOf = (p: string | number) =>
              typeof p === "number" ? p : c.ports.find((x: any) => x.name === p)?.containerPort;
            const want = {
              startupProbe: "/health/live",
              livenessProbe: "/health/live",
              readinessProbe: "/health/ready",
            };
            for (const [probe, pathWanted] of Object.entries(want)) {
              const get = c[probe]?.httpGet;
              const where = `${overlay} ${d.metadata.name} ${probe}`;
              expect({ where, path: get?.path, port: portOf(get?.port) }).toEqual({
                where,
                path: pathWanted,
                port: env.healthPort,
              });
              expect({ where, served: await served(get.path) }).toEqual({ where, served: true });
            }
          }
      }
    } finally {
      await probes.close();
      processState.dbRequired = true;
    }
  });

  test("pods get longer to stop than the runner's graceful shutdown can take", () => {
    // the runner gives up SHUTDOWN_TIMEOUT_MS plus this margin after SIGTERM
    const m = /env\.shutdownTimeoutMs \+ ([\d_]+)\)/.exec(read("src/runtime/runner.ts"));
    expect(m).not.toBeNull();
    const marginMs = Number(m![1].replace(/_/g, ""));
    for (const overlay of OVERLAYS) {
      const objs = deployed(overlay);
      for (const d of byKind(objs, "Deployment"))
        for (const c of auraContainers(d)) {
          const env = readEnv(containerEnv(objs, d, c));
          const sleep = c.lifecycle?.preStop?.exec?.command;
          const preStopMs = sleep?.[0] === "sleep" ? Number(sleep[1]) * 1000 : 0;
          const needMs = preStopMs + env.shutdownTimeoutMs + marginMs;
          const graceMs = podSpec(d).terminationGracePeriodSeconds * 1000;
          expect({ role: d.metadata.name, longer: graceMs > needMs }).toEqual({
            role: d.metadata.name,
            longer: true,
          });
        }
    }
  });

  test("autoscalers target existing Deployments that leave the replica count to them", () => {
    for (const overlay of OVERLAYS) {
      const objs = deployed(overlay);
      const hpas = byKind(objs, "HorizontalPodAutoscaler");
      expect(hpas.map((h) => h.spec.scaleTargetRef.name).sort()).toEqual([
        "aura-backtest",
        "aura-gateway",
        "aura-strategy-runner",
      ]);
      for (const h of hpas) {
        const target = objs.find(
          (o) => o.kind === h.spec.scaleTargetRef.kind && o.metadata.name === h.spec.scaleTargetRef.name,
        );
        expect(target).toBeDefined();
        expect(target!.spec.replicas).toBeUndefined();
        // CPU utilisation is measured against the request
        for (const c of podSpec(target!).containers) expect(c.resources.requests.cpu).toBeDefined();
        expect(h.spec.metrics.map((m: any) => m.resource?.name)).toContain("cpu");
        // a per-pod metric must be one AURA serves, under the name the pods export it by
        for (const m of h.spec.metrics.filter((x: any) => x.type === "Pods"))
          expect(Object.values(AURA_METRICS).map((d) => d.name)).toContain(m.pods.metric.name);
      }
    }
    // production runners scale on the actors they carry as well as on CPU
    const prodRunner = byKind(deployed("overlays/prod"), "HorizontalPodAutoscaler").find(
      (h) => h.spec.scaleTargetRef.name === "aura-strategy-runner",
    )!;
    expect(prodRunner.spec.metrics.map((m: any) => m.pods?.metric?.name)).toContain(
      AURA_METRICS.activeInstances.name,
    );
  });

  test("every Deployment has a disruption budget, requests and limits, and a restricted security context", () => {
    for (const overlay of OVERLAYS) {
      const objs = deployed(overlay);
      const pdbs = byKind(objs, "PodDisruptionBudget");
      for (const d of byKind(objs, "Deployment"))
        expect({
          d: d.metadata.name,
          pdb: pdbs.some((p) => matches(p.spec.selector.matchLabels, d.spec.template.metadata.labels)),
        }).toEqual({
          d: d.metadata.name,
          pdb: true,
        });
      for (const w of objs.filter((o) => WORKLOADS.includes(o.kind))) {
        expect(podSpec(w).securityContext.runAsNonRoot).toBe(true);
        for (const c of podSpec(w).containers) {
          for (const r of ["requests", "limits"])
            for (const k of ["cpu", "memory"])
              expect({ w: w.metadata.name, r, k, set: c.resources?.[r]?.[k] !== undefined }).toEqual({
                w: w.metadata.name,
                r,
                k,
                set: true,
              });
          expect(c.securityContext).toMatchObject({
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ["ALL"] },
          });
        }
      }
    }
  });

  test("network policies: ingress closed by default, only the gateway open, NATS and Redis only to AURA pods", () => {
    for (const overlay of OVERLAYS) {
      const objs = deployed(overlay);
      const policies = byKind(objs, "NetworkPolicy");
      expect(policies.some((p) => Object.keys(p.spec.podSelector).length === 0 && !p.spec.ingress)).toBe(
        true,
      );
      const pods = objs.filter((o) => ["Deployment", "StatefulSet"].includes(o.kind));
      for (const p of policies)
        for (const rule of p.spec.ingress ?? []) {
          const targets = pods.filter((w) =>
            matches(p.spec.podSelector.matchLabels ?? {}, w.spec.template.metadata.labels),
          );
          if (!rule.from) {
            // open to anyone: must be the gateway and nothing else
            expect(targets.map((t) => t.metadata.name)).toEqual(["aura-gateway"]);
          } else {
            for (const f of rule.from)
              expect(f.podSelector?.matchLabels).toEqual({ "app.kubernetes.io/name": "aura" });
          }
        }
      // NATS and Redis, where the overlay runs them, each have a policy admitting only AURA pods
      for (const ss of byKind(objs, "StatefulSet"))
        expect(
          policies.some(
            (p) =>
              p.spec.ingress?.[0]?.from &&
              matches(p.spec.podSelector.matchLabels, ss.spec.template.metadata.labels),
          ),
        ).toBe(true);
    }
  });

  test("NATS and Redis run the images docker-compose.yml runs, NATS with JetStream", () => {
    const compose = parse(read("docker-compose.yml"), { merge: true }).services;
    const dev = rendered.get("overlays/dev")!;
    const images = byKind(dev, "StatefulSet")
      .map((s) => podSpec(s).containers[0].image)
      .sort();
    expect(images).toEqual([compose.nats.image, compose.redis.image].sort());
    expect(read("k8s/overlays/dev/nats/nats.conf")).toMatch(/^jetstream \{/m);
  });

  test("the migration Job runs the CLI's migrate command before the app, with only the database secret", () => {
    const commands = /const COMMANDS = \[([^\]]+)\]/.exec(read("src/cli/main.ts"))![1];
    for (const overlay of OVERLAYS) {
      const [job] = byKind(rendered.get(`${overlay}/migrate`)!, "Job");
      const [c] = podSpec(job).containers;
      const args = [...(c.command ?? []), ...(c.args ?? [])];
      expect(args.slice(0, 2)).toEqual(["node", "bin/aura.js"]);
      expect(fs.existsSync(path.join(ROOT, args[1]))).toBe(true);
      expect(commands).toContain(`"${args[2]}"`);
      expect(args[2]).toBe("migrate");
      expect(fs.existsSync(path.join(ROOT, "src/cli/commands", `${args[2]}.ts`))).toBe(true);
      expect(["up", undefined]).toContain(args[3]);
      expect(c.env.map((e: any) => e.valueFrom?.secretKeyRef?.key).filter(Boolean)).toEqual(["DATABASE_URL"]);
      // the overlay itself holds no Job: the migration must have finished before the app changes
      expect(byKind(rendered.get(overlay)!, "Job")).toEqual([]);
      // same image as the app, so the schema matches the code being rolled out
      const appImages = new Set(
        byKind(rendered.get(overlay)!, "Deployment").flatMap((d) => auraContainers(d).map((x) => x.image)),
      );
      expect([...appImages]).toEqual([c.image]);
    }
  });

  test("each role logs in to NATS over TLS as a user of nats/nats.conf, in the namespace its permissions name", () => {
    const conf = read("nats/nats.conf");
    const users = [...conf.matchAll(/\{ user: ([\w-]+), password: \$(\w+)/g)].map((m) => ({
      user: m[1],
      env: m[2],
    }));
    const permissions = read("nats/permissions.conf");
    for (const overlay of OVERLAYS) {
      const objs = deployed(overlay);
      for (const d of byKind(objs, "Deployment"))
        for (const c of auraContainers(d)) {
          const env = containerEnv(objs, d, c);
          const user = users.find((u) => u.user === env.NATS_USER);
          expect({ role: d.metadata.name, user: env.NATS_USER, known: Boolean(user) }).toEqual({
            role: d.metadata.name,
            user: env.NATS_USER,
            known: true,
          });
          const password = c.env.find((e: any) => e.name === "NATS_PASSWORD").valueFrom.secretKeyRef.key;
          // the password the server expects for that user
          expect(password).toBe(user!.env);
          expect(env.NATS_TLS_CA).toBeTruthy();
          expect(env.NATS_ALLOW_INSECURE).toBeUndefined();
          expect(permissions).toContain(`MOL-${env.AURA_NAMESPACE}.*.${env.NATS_USER}.>`);
        }
    }
  });

  test("the dev NATS server runs the repository's nats.conf and permissions.conf, unchanged", () => {
    for (const f of ["nats.conf", "permissions.conf"])
      expect({ f, same: read(`k8s/overlays/dev/nats/${f}`) === read(`nats/${f}`) }).toEqual({
        f,
        same: true,
      });
    const conf = read("nats/nats.conf");
    const dev = deployed("overlays/dev");
    const nats = byKind(dev, "StatefulSet").find((s) => podSpec(s).containers[0].image.startsWith("nats:"))!;
    const c = podSpec(nats).containers[0];
    // every password variable nats.conf names comes from the Secret
    for (const [, name] of conf.matchAll(/password: \$(\w+)/g))
      expect(c.env.map((e: any) => e.name)).toContain(name);
    // every file nats.conf names is projected where it looks for it
    const mount = c.volumeMounts.find((m: any) => m.name === "config").mountPath;
    const projected = podSpec(nats).volumes.find((v: any) => v.name === "config").projected.sources;
    const paths = projected.flatMap((src: any) =>
      src.secret
        ? src.secret.items.map((i: any) => `${mount}/${i.path}`)
        : Object.keys(
            dev.find((o) => o.kind === "ConfigMap" && o.metadata.name === src.configMap.name)!.data,
          ).map((k) => `${mount}/${k}`),
    );
    for (const [, file] of conf.matchAll(/_file: "([^"]+)"/g)) expect(paths).toContain(file);
    expect(paths).toContain(`${mount}/nats.conf`);
    expect(c.args).toEqual(["--config", `${mount}/nats.conf`]);
  });
});
