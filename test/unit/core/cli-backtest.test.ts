// `aura backtest` as a user runs it: a child process, stdout/stderr and the exit code.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const ROOT = path.join(__dirname, "../../..");
const EXAMPLE = path.join(ROOT, "examples/strategies/ema-cross-rsi.json");

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
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "aura-cli-"));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

jest.setTimeout(20_000);

describe("aura backtest", () => {
  it("--json prints exactly one JSON document with metrics, trades and equity", async () => {
    const r = await aura(["--strategy", EXAMPLE, "--from", "2023-01-01", "--to", "2024-12-31", "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(Object.keys(doc)).toEqual(["metrics", "trades", "equity"]);
    expect(doc.metrics.trades).toBe(doc.trades.length);
    expect(doc.metrics.trades).toBeGreaterThan(0);
    expect(doc.equity).toHaveLength(17_543);
    expect(r.stdout.trimEnd().split("\n")).toHaveLength(1);
  });

  it("prints a readable report with the metrics and trades by default", async () => {
    const r = await aura([
      "--strategy",
      EXAMPLE,
      "--from",
      "2024-01-01",
      "--to",
      "2024-03-31",
      "--fee",
      "0.00075",
      "--slippage-bps",
      "2",
      "--balance",
      "5000",
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("EMA cross with RSI filter");
    expect(r.stdout).toMatch(/Net profit\s+-?[\d,]+\.\d\d USDT/);
    expect(r.stdout).toMatch(/Sharpe\s+/);
    expect(r.stdout).toMatch(/Trades \(\d+\)/);
    expect(r.stdout).toContain("balance 5,000.00 USDT");
    expect(r.stderr).toBe(""); // no progress bar when stderr is not a terminal
  });

  it("a malformed strategy exits with 2 and the validator's paths on stderr", async () => {
    const bad = JSON.parse(fs.readFileSync(EXAMPLE, "utf8"));
    bad.indicators.fast.period = 0;
    bad.symbol = "DOGEUSDT";
    bad.entry.all[1].lt[0] = "rsx";
    const file = path.join(tmp, "bad.json");
    fs.writeFileSync(file, JSON.stringify(bad));
    const r = await aura(["--strategy", file, "--json"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("/indicators/fast/period");
    expect(r.stderr).toContain("/symbol");
    expect(r.stderr).toContain("/entry/all/1/lt/0");
  });

  it("rejects a file that is not JSON, a bad date and a bad number with exit code 2", async () => {
    const file = path.join(tmp, "notjson.json");
    fs.writeFileSync(file, "{ name: ");
    const results = await Promise.all([
      aura(["--strategy", file]),
      aura(["--strategy", EXAMPLE, "--from", "2023-13-01"]),
      aura(["--strategy", EXAMPLE, "--fee", "abc"]),
      aura(["--strategy", path.join(tmp, "missing.json")]),
    ]);
    expect(results.map((r) => r.code)).toEqual([2, 2, 2, 2]);
    expect(results[0].stderr).toMatch(/not valid JSON/);
    expect(results[1].stderr).toContain("--from");
    expect(results[2].stderr).toContain("--fee");
    expect(results[3].stderr).toMatch(/cannot read strategy file/);
  });
});
