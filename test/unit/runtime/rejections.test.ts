// A rejection nobody handled: one from the exchange client about the venue (ccxt.pro rejects its
// own internal futures when a socket answers with a rate limit) is logged and survived; anything
// else ends the process with status 1. Run in a child process with the real ccxt error classes
// (Jest's module loader cannot load ccxt) and AURA's handler.
import { spawnSync } from "node:child_process";
import path from "node:path";

const ROOT = path.resolve(__dirname, "../../..");

function run(rejectWith: string): { status: number | null; out: string } {
  const script = `
    const ccxt = require("ccxt");
    const { handleUnhandledRejections } = require("./src/runtime/rejections");
    const lines = [];
    const log = { warn: (o, m) => lines.push("WARN " + m + " " + o.err), fatal: (o, m) => lines.push("FATAL " + m + " " + o.err) };
    handleUnhandledRejections(log, (code) => { console.log(lines.join("\\n")); process.exit(code); });
    Promise.reject(${rejectWith});
    setTimeout(() => { console.log(lines.join("\\n")); console.log("still running"); }, 200);
  `;
  const r = spawnSync(process.execPath, ["--import", "tsx", "-e", script], { cwd: ROOT, encoding: "utf8" });
  return { status: r.status, out: r.stdout + r.stderr };
}

test("a venue's rate limit rejected inside the exchange client is logged and survived", () => {
  const r = run(`new ccxt.RateLimitExceeded('binance {"code":-1003,"msg":"Too much request weight used"}')`);
  expect(r.status).toBe(0);
  expect(r.out).toContain("WARN an exchange client rejected a promise nobody awaited");
  expect(r.out).toContain("RateLimitExceeded");
  expect(r.out).toContain("still running");
});

test("a signed query string in a client's message never reaches the log", () => {
  const r = run(
    `new ccxt.NetworkError("binance GET http://127.0.0.1:8090/api/v3/account?timestamp=1&signature=deadbeefcafe 503")`,
  );
  expect(r.status).toBe(0);
  expect(r.out).toContain("/api/v3/account?…");
  expect(r.out).not.toContain("deadbeefcafe");
});

test("any other unhandled rejection is a bug: logged as fatal, the process exits with status 1", () => {
  const plain = run(`new TypeError("cannot read properties of undefined")`);
  expect(plain.status).toBe(1);
  expect(plain.out).toContain("FATAL unhandled promise rejection; exiting TypeError");
  expect(plain.out).not.toContain("still running");
  // an error that only borrows a ccxt name is not the exchange client's
  const lookalike = run(`Object.assign(new Error("x"), { name: "RateLimitExceeded" })`);
  expect(lookalike.status).toBe(1);
});
