// `aura sim`: prints its URLs, a ready-made account and a ccxt snippet, serves requests, and
// stops cleanly on SIGTERM; a taken port is a clear error.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { signed } from "./helpers";

const BIN = path.resolve(__dirname, "../../bin/aura.js");

function run(args: string[]): {
  child: ChildProcessWithoutNullStreams;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
} {
  const child = spawn(process.execPath, [BIN, "sim", ...args], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, out: () => out, err: () => err, exited };
}

function waitFor(child: ChildProcessWithoutNullStreams, text: string, buf: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (buf().includes(text)) {
        child.stdout.off("data", check);
        resolve();
      }
    };
    child.stdout.on("data", check);
    child.once("exit", () => reject(new Error(`exited before printing '${text}'`)));
    check();
  });
}

describe("aura sim", () => {
  it("prints the endpoints and an account, serves it, and stops on SIGTERM", async () => {
    const p = run(["--port", "0", "--step", "--from", "2023-06-01", "--usdt", "777"]);
    try {
      await waitFor(p.child, "Ctrl-C stops the simulator.", p.out);
      const out = p.out();
      const rest = /REST\s+(http:\/\/127\.0\.0\.1:\d+)\/api\/v3/.exec(out)![1];
      expect(out).toContain(`WS API    ${rest.replace("http", "ws")}/ws-api/v3`);
      expect(out).toContain("replay    BTCUSDT, ETHUSDT from 2023-06-01T00:00:00.000Z");
      expect(out).toContain("new ccxt.pro.binance(");
      const apiKey = /apiKey\s+([A-Za-z0-9]{64})/.exec(out)![1];
      const secretKey = /secretKey\s+([A-Za-z0-9]{64})/.exec(out)![1];
      const r = await signed({ baseUrl: rest } as any, { apiKey, secretKey }, "GET", "/api/v3/account", {});
      expect(r.body.balances).toEqual([{ asset: "USDT", free: "777.00000000", locked: "0.00000000" }]);
      p.child.kill("SIGTERM");
      expect(await p.exited).toBe(0);
      expect(p.err()).toContain("SIGTERM: stopping the simulator");
    } finally {
      if (p.child.exitCode === null) p.child.kill("SIGKILL");
    }
  });

  it("exits with a clear error when the port is taken", async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const p = run(["--port", String(port), "--step"]);
      expect(await p.exited).toBe(1);
      expect(p.err()).toContain(`port ${port} on 127.0.0.1 is already in use`);
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });
});
