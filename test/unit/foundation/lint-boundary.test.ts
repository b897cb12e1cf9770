// The lint rule that keeps src/core pure fails on I/O and framework imports. ESLint runs in a
// child process (its flat config is an ES module, which Jest's VM cannot import).
import { execFileSync } from "node:child_process";
import path from "node:path";

jest.setTimeout(60_000);
const ROOT = path.resolve(__dirname, "../../..");

interface Case {
  file: string;
  code: string;
}
function lint(cases: Case[]): string[][] {
  const script = `
    const { ESLint } = require("eslint");
    (async () => {
      const eslint = new ESLint({ cwd: ${JSON.stringify(ROOT)} });
      const cases = JSON.parse(process.argv[1]);
      const out = [];
      for (const c of cases) {
        const [res] = await eslint.lintText(c.code, { filePath: require("path").join(${JSON.stringify(ROOT)}, c.file) });
        out.push(res.messages.filter((m) => m.ruleId === "aura/core-boundary" || m.ruleId === "no-restricted-properties" || m.ruleId === "no-restricted-syntax").map((m) => m.message));
      }
      process.stdout.write(JSON.stringify(out));
    })().catch((e) => { console.error(e); process.exit(1); });`;
  return JSON.parse(
    execFileSync(process.execPath, ["-e", script, JSON.stringify(cases)], { cwd: ROOT, encoding: "utf8" }),
  );
}

const BAD = [
  'import { ServiceBroker } from "moleculer";',
  'import { Pool } from "pg";',
  'import fs from "node:fs";',
  'import { x } from "../../adapters/storage/database";',
  'const m = require("pg");',
  'export { x } from "../../services/api.service";',
];

test("src/core files importing moleculer, pg, node builtins or adapters fail lint; core-internal imports pass", () => {
  const results = lint([
    ...BAD.map((code) => ({ file: "src/core/strategy/example.ts", code: code + "\nexport const y = 1;\n" })),
    {
      file: "src/core/strategy/example.ts",
      code: 'import { SYMBOLS } from "../market/symbols";\nexport const y = SYMBOLS;\n',
    },
    {
      file: "src/adapters/example.ts",
      code: 'import { ServiceBroker } from "moleculer";\nexport const y = ServiceBroker;\n',
    },
    {
      file: "src/core/x.ts",
      code: "export const t = Date.now() + Math.random();\nexport const d = new Date();\n",
    },
  ]);
  BAD.forEach((code, i) => {
    expect([code, results[i].length]).toEqual([code, 1]);
    expect(results[i][0]).toMatch(/src\/core must stay pure/);
  });
  expect(results[BAD.length]).toEqual([]);
  expect(results[BAD.length + 1]).toEqual([]);
  expect(results[BAD.length + 2]).toHaveLength(3);
});
