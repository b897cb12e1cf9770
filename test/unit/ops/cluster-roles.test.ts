// `aura cluster` starts the same roles that docker-compose.yml deploys, and together they run
// every service AURA has: a service left out of every role would silently never run.
import fs from "node:fs";
import path from "node:path";
import { parse } from "yaml";
import { clusterRoles } from "../../../src/cli/commands/cluster";

const ROOT = path.resolve(__dirname, "../../..");
const available = fs
  .readdirSync(path.join(ROOT, "services"))
  .filter((f) => f.endsWith(".service.ts"))
  .map((f) => f.replace(".service.ts", ""));
const split = (s: string) => s.split(",").map((x) => x.trim());

test("every service runs in exactly one role of `aura cluster` (the monitor runs on every node)", () => {
  const roles = clusterRoles(1, 1);
  const seen = roles.flatMap((r) => split(r.services));
  for (const s of seen) expect(available).toContain(s);
  expect(new Set(seen).size).toBe(seen.length);
  expect([...seen, "monitor"].sort()).toEqual([...available].sort());
  expect(roles.filter((r) => r.gateway).map((r) => r.name)).toEqual(["gateway"]);
});

test("`aura cluster` repeats runners and backtest workers, and its roles are compose's roles", () => {
  const roles = clusterRoles(3, 2);
  expect(roles.filter((r) => r.services === "strategy-runner")).toHaveLength(3);
  expect(roles.filter((r) => r.services === "backtest")).toHaveLength(2);
  const compose = parse(fs.readFileSync(path.join(ROOT, "docker-compose.yml"), "utf8"), { merge: true });
  const composeSets = Object.values(
    compose.services as Record<string, { environment?: { SERVICES?: string } }>,
  )
    .map((s) => s.environment?.SERVICES)
    .filter((s): s is string => typeof s === "string")
    .map((s) => split(s).sort().join(","))
    .sort();
  const clusterSets = [...new Set(clusterRoles(1, 1).map((r) => split(r.services).sort().join(",")))].sort();
  expect(clusterSets).toEqual(composeSets);
});
