// `aura backtest --intrabar`: the option reaches the engine (the JSON equals the engine's result for
// that mode), the report names the mode, and anything but stop_first or path exits with code 2.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadCandles } from "../../../src/adapters/backtest/candles";
import { runBacktest } from "../../../src/core/backtest/engine";

const ROOT = path.join(__dirname, "../../..");

function aura(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, "bin/aura.js"), "backtest", ...args], {
      cwd: ROOT,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

let tmp: string;
let file: string;
const example = JSON.parse(
  fs.readFileSync(path.join(ROOT, "examples/strategies/ema-cross-rsi.json"), "utf8"),
);
// levels close enough that some hourly candles reach both
const definition = { ...example, risk: { ...example.risk, takeProfitPct: 0.5, stopLossPct: 0.5 } };
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "aura-cli-intrabar-"));
  file = path.join(tmp, "tight.json");
  fs.writeFileSync(file, JSON.stringify(definition));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

jest.setTimeout(20_000);

test("--intrabar path gives the engine's path result, different from the default here", async () => {
  const range = ["--from", "2023-01-01", "--to", "2023-06-30", "--slippage-bps", "5", "--json"];
  const [byPath, byDefault] = await Promise.all([
    aura(["--strategy", file, ...range, "--intrabar", "path"]),
    aura(["--strategy", file, ...range]),
  ]);
  expect([byPath.code, byDefault.code]).toEqual([0, 0]);
  const candles = loadCandles({ symbol: "BTCUSDT", interval: "1h" });
  const run = (intrabar: "stop_first" | "path") =>
    JSON.parse(
      JSON.stringify(
        runBacktest({
          strategy: definition,
          candles,
          from: "2023-01-01",
          to: "2023-06-30",
          slippageBps: 5,
          intrabar,
        }),
      ),
    );
  expect(JSON.parse(byPath.stdout)).toEqual(run("path"));
  expect(JSON.parse(byDefault.stdout)).toEqual(run("stop_first"));
  expect(byPath.stdout).not.toBe(byDefault.stdout);
});

test("the report names the mode; an unknown mode exits with 2", async () => {
  const [report, bad] = await Promise.all([
    aura(["--strategy", file, "--from", "2024-01-01", "--to", "2024-01-31", "--intrabar", "path"]),
    aura(["--strategy", file, "--intrabar", "low_first", "--json"]),
  ]);
  expect(report.code).toBe(0);
  expect(report.stdout).toContain("intrabar path");
  expect(bad.code).toBe(2);
  expect(bad.stdout).toBe("");
  expect(bad.stderr).toContain('--intrabar must be stop_first or path, got "low_first"');
});
