// The delivery pipeline: the GitHub Actions workflow and the Dockerfile, read as files (neither
// Docker nor Actions runs here) and checked against the repository: every script, file and k8s
// path they name exists, the image runs as a non-root user the manifests expect and starts a real
// file, the dashboard's build has every source it imports, and production is migrated before it
// is rolled out.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { parse } from "yaml";

const ROOT = path.resolve(__dirname, "../../..");
const read = (rel: string) => fs.readFileSync(path.join(ROOT, rel), "utf8");
const exists = (rel: string) => fs.existsSync(path.join(ROOT, rel));
const gitIgnored = (rel: string) =>
  spawnSync("git", ["check-ignore", "-q", "--no-index", rel], { cwd: ROOT }).status === 0;

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  id?: string;
}
const workflow = parse(read(".github/workflows/ci.yml")) as {
  on: Record<string, unknown>;
  jobs: Record<
    string,
    {
      needs?: string | string[];
      if?: string;
      services?: Record<string, any>;
      env?: Record<string, string>;
      steps: Step[];
    }
  >;
};
const jobs = workflow.jobs;
const allSteps = Object.values(jobs).flatMap((j) => j.steps);
const scripts = Object.keys(JSON.parse(read("package.json")).scripts);

// ---------------------------------------------------------------------------------------------
// Dockerfile: instructions (continuation lines joined, comments dropped) grouped by stage

interface Instruction {
  op: string;
  args: string;
}
function dockerfile(text: string): { from: string; name?: string; body: Instruction[] }[] {
  const joined = text
    .split("\n")
    .filter((l) => !/^\s*#/.test(l))
    .join("\n")
    .replace(/\\\n/g, " ");
  const stages: { from: string; name?: string; body: Instruction[] }[] = [];
  for (const line of joined.split("\n")) {
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const op = m[1].toUpperCase();
    if (op === "FROM") {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?/i.exec(m[2].trim())!;
      stages.push({ from: f[1], name: f[2], body: [] });
    } else stages[stages.length - 1].body.push({ op, args: m[2].trim() });
  }
  return stages;
}
const stages = dockerfile(read("Dockerfile"));
const final = stages[stages.length - 1];
/** COPY instructions of a stage: sources, destination, and the stage copied from (if any). */
const copies = (body: Instruction[]) =>
  body
    .filter((i) => i.op === "COPY")
    .map((i) => {
      const words = i.args.split(/\s+/);
      const from = words.find((w) => w.startsWith("--from="))?.slice("--from=".length);
      const paths = words.filter((w) => !w.startsWith("--"));
      return { from, sources: paths.slice(0, -1), dest: paths[paths.length - 1] };
    });

describe("the GitHub Actions workflow", () => {
  test("runs .ci/run on every push and pull request against PostgreSQL, Redis and NATS with JetStream", () => {
    expect(Object.keys(workflow.on).sort()).toEqual(["pull_request", "push"]);
    const test = jobs.test;
    const ci = test.steps.find((s) => s.run?.includes(".ci/run"));
    expect(ci?.run).toMatch(/bash \.ci\/run/);
    expect(exists(".ci/run")).toBe(true);
    expect(Object.keys(test.services!).sort()).toEqual(["postgres", "redis"]);
    // .ci/run reaches them on the ports it checks
    const ciScript = read(".ci/run");
    for (const port of [5432, 6379, 4222]) expect(ciScript).toContain(`port_open ${port}`);
    expect(test.services!.postgres.ports).toContain("5432:5432");
    expect(test.services!.redis.ports).toContain("6379:6379");
    expect(test.steps.some((s) => /nats\S* -js\b/.test(s.run ?? "") && s.run!.includes("4222:4222"))).toBe(
      true,
    );
    // the database .ci/run is pointed at is the service's
    const pg = test.services!.postgres.env;
    expect(ciScript).toContain("CI_DATABASE_URL");
    expect(test.env!.CI_DATABASE_URL).toBe(
      `postgres://${pg.POSTGRES_USER}:${pg.POSTGRES_PASSWORD}@127.0.0.1:5432/${pg.POSTGRES_DB}`,
    );
  });

  test("every npm script, file and k8s path a step names exists (secret files: git-ignored, with a template)", () => {
    const text = allSteps.map((s) => s.run ?? "").join("\n");
    for (const [, script] of text.matchAll(/npm run ([\w:-]+)/g)) expect(scripts).toContain(script);
    const paths = [...text.matchAll(/(?:^|[\s"'(])((?:k8s|\.ci|bin|src|test)\/[\w./-]+)/g)].map((m) => m[1]);
    expect(paths.length).toBeGreaterThan(0);
    for (const p of paths) {
      if (exists(p)) continue;
      // files the deploy writes from the repository's secrets
      expect({ p, ignored: gitIgnored(p), template: exists(`${p}.example`) }).toEqual({
        p,
        ignored: true,
        template: true,
      });
    }
    for (const s of allSteps.filter((x) => x.with?.file)) expect(exists(String(s.with!.file))).toBe(true);
  });

  test("on main only: build, scan, then push; the deploy uses what was pushed, by digest", () => {
    const image = jobs.image;
    expect(image.if).toContain("refs/heads/main");
    expect(image.needs).toBe("test");
    expect(jobs.deploy.needs).toBe("image");
    const i = (pred: (s: Step) => boolean) => image.steps.findIndex(pred);
    const build = i((s) => Boolean(s.uses?.startsWith("docker/build-push-action") && s.with?.load));
    const scan = i((s) => Boolean(s.uses?.startsWith("aquasecurity/trivy-action")));
    const push = i((s) => Boolean(s.uses?.startsWith("docker/build-push-action") && s.with?.push));
    expect(i((s) => Boolean(s.uses?.startsWith("docker/setup-buildx-action")))).toBeGreaterThanOrEqual(0);
    expect(build).toBeGreaterThanOrEqual(0);
    expect(scan).toBeGreaterThan(build);
    expect(push).toBeGreaterThan(scan);
    expect(image.steps[scan].with!["image-ref"]).toBe(image.steps[build].with!.tags);
    expect(image.steps[scan].with!["exit-code"]).toBe("1");
    expect(String(image.steps[push].with!.tags)).toMatch(/^\$\{\{ steps\.name\.outputs\.image \}\}:/);
    expect(jobs.deploy.env!.IMAGE).toBe("${{ needs.image.outputs.image }}@${{ needs.image.outputs.digest }}");
  });

  test("production is migrated with the new image, and the migration has finished, before the rollout", () => {
    const steps = jobs.deploy.steps.map((s) => s.run ?? "");
    const at = (re: RegExp) => steps.findIndex((r) => re.test(r));
    const pinMigrate = at(/cd k8s\/overlays\/prod\/migrate && kustomize edit set image "aura=\$IMAGE"/);
    const pinApp = at(/cd k8s\/overlays\/prod && kustomize edit set image "aura=\$IMAGE"/);
    const migrate = at(/kubectl apply -k k8s\/overlays\/prod\/migrate/);
    const deploy = at(/kubectl apply -k k8s\/overlays\/prod(\s|$)/);
    expect(pinMigrate).toBeGreaterThanOrEqual(0);
    expect(pinApp).toBeGreaterThanOrEqual(0);
    expect(migrate).toBeGreaterThan(Math.max(pinMigrate, pinApp));
    expect(deploy).toBeGreaterThan(migrate);
    // within the migrate step: the old Job goes, the new one is applied, then waited for
    const m = steps[migrate];
    const order = [
      /delete job aura-migrate/,
      /apply -k k8s\/overlays\/prod\/migrate/,
      /wait --for=condition=complete job\/aura-migrate/,
    ].map((re) => m.search(re));
    expect(order.every((x) => x >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    // the Job it waits for is the one the migrate kustomization defines
    expect(read("k8s/base/migrate/job.yaml")).toMatch(/^ {2}name: aura-migrate$/m);
    // every Deployment the rollout waits for is defined in the base
    for (const [, d] of steps[deploy].matchAll(/(aura-[\w-]+)/g))
      expect(
        fs
          .readdirSync(path.join(ROOT, "k8s/base"))
          .some((f) => f.endsWith(".yaml") && read(`k8s/base/${f}`).includes(`name: ${d}\n`)),
      ).toBe(true);
  });
});

describe("the Dockerfile", () => {
  test("builds in one stage and runs from a slimmer one, every stage on Node 22", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const s of stages) expect(s.from).toMatch(/^node:22/);
    // the runtime takes only the build's results, not its tooling
    const fromBuild = copies(final.body).filter((c) => c.from);
    expect(fromBuild.map((c) => c.from)).toEqual(fromBuild.map(() => stages[0].name));
    expect(final.body.some((i) => i.op === "RUN" && /npm (ci|install)/.test(i.args))).toBe(false);
  });

  test("the final stage runs as the non-root user the pods run as", () => {
    const users = final.body.filter((i) => i.op === "USER");
    expect(users.length).toBeGreaterThan(0);
    const user = users[users.length - 1].args;
    const [uid, gid] = user.split(":");
    expect(uid).toMatch(/^[1-9]\d*$/);
    // Kubernetes can check runAsNonRoot only against a numeric user
    const pod = parse(read("k8s/base/gateway.yaml").split(/^---$/m)[0]).spec.template.spec.securityContext;
    expect(pod.runAsUser).toBe(Number(uid));
    if (gid) expect(pod.runAsGroup).toBe(Number(gid));
  });

  test("CMD starts a file the image contains", () => {
    const cmd = final.body.filter((i) => i.op === "CMD").pop()!;
    const argv = JSON.parse(cmd.args) as string[];
    expect(argv[0]).toBe("node");
    expect(exists(argv[1])).toBe(true);
    const copied = copies(final.body).flatMap((c) => c.sources);
    expect(copied.some((src) => argv[1] === src || argv[1].startsWith(`${src.replace(/\/$/, "")}/`))).toBe(
      true,
    );
    expect(argv[2]).toBe("start");
    expect(/const COMMANDS = \[[^\]]*"start"/.test(read("src/cli/main.ts"))).toBe(true);
    // the manifests leave the command to the image; only the migration Job replaces it
    for (const f of fs.readdirSync(path.join(ROOT, "k8s/base")).filter((x) => x.endsWith(".yaml")))
      expect({
        f,
        command: /^\s+(command|args):/m.test(read(`k8s/base/${f}`).replace(/preStop:[\s\S]*?\]\n/g, "")),
      }).toEqual({
        f,
        command: false,
      });
  });

  test("every file the image copies from the context exists and is not excluded by .dockerignore", () => {
    const ignore = read(".dockerignore")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"));
    for (const s of stages)
      for (const c of copies(s.body).filter((x) => !x.from))
        for (const src of c.sources) {
          expect({ src, exists: exists(src) }).toEqual({ src, exists: true });
          expect({ src, ignored: ignore.includes(src) || ignore.includes(src.split("/")[0]) }).toEqual({
            src,
            ignored: false,
          });
        }
    // files with real secrets never reach the build context
    expect(ignore).toEqual(expect.arrayContaining([".env", "**/*.env", "k8s"]));
  });

  test("the dashboard's build has every source outside web/ that it imports, before the install builds it", () => {
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }))
        if (e.isDirectory()) walk(`${dir}/${e.name}`);
        else if (/\.(ts|js|svelte)$/.test(e.name)) files.push(`${dir}/${e.name}`);
    };
    walk("web/src");
    const outside = new Set<string>();
    for (const f of files)
      for (const [, spec] of read(f).matchAll(
        /(?:from\s+|import\s*\(\s*|glob[^(]*\(\s*)["'](\.\.?\/[^"']+)["']/g,
      )) {
        const rel = path.relative(ROOT, path.resolve(ROOT, path.dirname(f), spec));
        if (!rel.startsWith("web/") && !rel.startsWith("..")) outside.add(rel.split("/")[0]);
      }
    expect(outside.size).toBeGreaterThan(0);
    const build = stages[0];
    const install = build.body.findIndex((i) => i.op === "RUN" && /npm ci/.test(i.args));
    expect(install).toBeGreaterThan(0);
    const before = copies(build.body.slice(0, install)).flatMap((c) => c.sources.map((s) => s.split("/")[0]));
    for (const dir of [...outside, "web", "package.json", "package-lock.json"]) expect(before).toContain(dir);
  });

  test("the runtime stage holds the built dashboard and everything the CLI loads", () => {
    const dests = copies(final.body).map((c) => c.dest.replace(/^\.\//, "").replace(/\/$/, ""));
    const sources = copies(final.body).flatMap((c) => c.sources.map((s) => s.replace(/^\/app\//, "")));
    for (const need of [
      "web/build",
      "node_modules",
      "bin",
      "src",
      "services",
      "mixins",
      "moleculer.config.ts",
      "data",
    ])
      expect({ need, present: dests.includes(need) || sources.includes(need) }).toEqual({
        need,
        present: true,
      });
    // the gateway loads the dashboard from here
    expect(read("services/api.service.ts")).toContain('"../web/build/handler.js"');
  });

  test("the manifests use the image docker-compose.yml builds", () => {
    const compose = parse(read("docker-compose.yml"), { merge: true });
    const image = String(compose["x-aura"].image);
    expect(image.split(":")[0]).toBe("aura");
    expect(read("k8s/base/gateway.yaml")).toMatch(/^\s+image: aura$/m);
    expect(read("k8s/overlays/dev/kustomization.yaml")).toMatch(new RegExp(`newTag: ${image.split(":")[1]}`));
  });
});
