#!/usr/bin/env node
// Runs every benchmark in bench/ (or the ones named on the command line) one after another and
// passes their JSON lines through. Each prints ratios against a baseline measured in the same run.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "bench");
const HELPERS = new Set(["lib.ts", "synthetic.ts"]);
const wanted = process.argv.slice(2);
const files = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith(".ts") && !HELPERS.has(f))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.includes(w)))
  .sort();
let failed = 0;
for (const f of files) {
  process.stderr.write(`\n# bench/${f}\n`);
  const r = spawnSync(process.execPath, ["--expose-gc", "--import", "tsx", path.join(dir, f)], {
    stdio: "inherit",
  });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
