// Load through the gateway of a real `aura start` (every service, embedded PostgreSQL, loopback):
// 500 concurrent HTTP connections (autocannon) mixing authenticated reads and backtest
// submissions from 20 users behind 500 client addresses (X-Forwarded-For, one trusted proxy hop),
// with 100 dashboard WebSockets subscribed to live candles meanwhile. It reports:
// - 5xx answers (must be 0) and 429 answers without Retry-After (must be 0);
// - p99 of GET /health/ready probed during the load on HEALTH_PORT (where an orchestrator probes:
//   answered by the probe thread), against the same probe on the idle server (the baseline); the
//   target is under 100 ms. The same probe on the gateway's own port, which shares the event
//   loop with the traffic, is reported beside it.
// Exits 1 when an expectation fails. Run: node --import tsx bench/load.ts [seconds]
import os from "node:os";
import path from "node:path";
import fs from "node:fs";
import { spawn } from "node:child_process";
import autocannon from "autocannon";
import WebSocket from "ws";
import { freePort, killChildren, startAura, stopAura } from "../test/support/aura-process";
import { benchEnv, emit } from "./lib";

const SECONDS = Number(process.argv[2] ?? 20);
const CONNECTIONS = 500;
const USERS = 20;
const SOCKETS = 100;
const PASSWORD = "load passphrase long enough 1";

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

/**
 * Probes GET /health/<what> every 20 ms for `ms` from a process of its own: timed from inside the
 * load generator, the probe would measure autocannon's own event loop rather than AURA's answer.
 */
function probe(base: string, ms: number, what = "ready"): Promise<number[]> {
  const script = `
    const out = [];
    const end = Date.now() + ${ms};
    (async () => {
      while (Date.now() < end) {
        const t0 = performance.now();
        try { const r = await fetch(${JSON.stringify(base)} + "/health/${what}"); await r.arrayBuffer(); } catch {}
        out.push(performance.now() - t0);
        await new Promise((r) => setTimeout(r, 20));
      }
      process.stdout.write(JSON.stringify(out));
    })();`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    let text = "";
    child.stdout.on("data", (d) => (text += d));
    child.on("exit", (code) =>
      code === 0 ? resolve(JSON.parse(text) as number[]) : reject(new Error(`probe exited ${code}`)),
    );
  });
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "aura-load-"));
  const healthPort = await freePort();
  const aura = await startAura(dir, {
    SERVICES: "all",
    LOG_LEVEL: "warn",
    TRUST_PROXY_HOPS: "1",
    HEALTH_PORT: String(healthPort),
  });
  const base = aura.baseUrl;
  const probeBase = `http://127.0.0.1:${healthPort}`;
  const env = benchEnv({ connections: CONNECTIONS, users: USERS, sockets: SOCKETS, seconds: SECONDS });
  let failed = false;
  try {
    const tokens: string[] = [];
    for (let i = 0; i < USERS; i++) {
      const email = `load-${Date.now()}-${i}@example.com`;
      const xff = { "content-type": "application/json", "x-forwarded-for": `10.9.${i}.1` };
      const reg = await fetch(`${base}/api/v1/auth/register`, {
        method: "POST",
        headers: xff,
        body: JSON.stringify({ email, password: PASSWORD }),
      });
      if (reg.status !== 201) throw new Error(`register: ${reg.status} ${await reg.text()}`);
      const login = await fetch(`${base}/api/v1/auth/login`, {
        method: "POST",
        headers: xff,
        body: JSON.stringify({ email, password: PASSWORD }),
      });
      tokens.push(((await login.json()) as { accessToken: string }).accessToken);
    }
    const definition = JSON.parse(
      fs.readFileSync(path.join(__dirname, "../examples/strategies/ema-cross-rsi.json"), "utf8"),
    ) as unknown;

    // the baseline: the readiness probe on the idle server
    const idle = await probe(probeBase, 5000);

    // dashboard sockets, each authenticated and watching a candle series
    const wsUrl = base.replace(/^http/, "ws") + "/api/v1/live";
    const sockets: WebSocket[] = [];
    let wsMessages = 0;
    await Promise.all(
      Array.from({ length: SOCKETS }, (_, i) => {
        return new Promise<void>((resolve) => {
          const ws = new WebSocket(wsUrl, {
            headers: { "x-forwarded-for": `10.8.${i % 250}.${1 + (i % 200)}` },
          });
          sockets.push(ws);
          ws.on("open", () => ws.send(JSON.stringify({ type: "auth", token: tokens[i % USERS] })));
          ws.on("message", (data) => {
            wsMessages++;
            // subscriptions are accepted once the socket is authenticated
            if ((JSON.parse(String(data)) as { type?: string }).type === "ready") {
              ws.send(
                JSON.stringify({ type: "subscribe", channel: "candles", symbol: "BTCUSDT", interval: "1h" }),
              );
              resolve();
            }
          });
          ws.on("error", () => resolve());
        });
      }),
    );

    let next = 0;
    let noRetryAfter = 0;
    const statuses: Record<string, number> = {};
    const bt = JSON.stringify({ definition, from: "2024-01-01", to: "2024-01-31", initialBalance: 10000 });
    const probing = probe(probeBase, SECONDS * 1000);
    const probingLive = probe(probeBase, SECONDS * 1000, "live");
    const probingGateway = probe(base, SECONDS * 1000);
    const result = await autocannon({
      url: base,
      connections: CONNECTIONS,
      duration: SECONDS,
      requests: [
        { method: "GET", path: "/api/v1/strategies" },
        { method: "GET", path: "/api/v1/backtests" },
        { method: "GET", path: "/api/v1/portfolio" },
        { method: "GET", path: "/api/v1/market/klines?symbol=BTCUSDT&interval=1h&limit=200" },
        { method: "GET", path: "/api/v1/alerts" },
        {
          method: "POST",
          path: "/api/v1/backtests",
          body: bt,
          headers: { "content-type": "application/json" },
        },
      ].map((r) => ({
        ...r,
        setupRequest: (req: Record<string, unknown>, ctx: Record<string, unknown>) => {
          if (ctx.n === undefined) ctx.n = next++;
          const n = ctx.n as number;
          return {
            ...req,
            headers: {
              ...(req.headers as Record<string, string>),
              authorization: `Bearer ${tokens[n % USERS]}`,
              "x-forwarded-for": `10.${Math.floor(n / 250)}.${n % 250}.7`,
            },
          };
        },
        onResponse: (status: number, _body: string, _ctx: unknown, headers?: Record<string, string>) => {
          statuses[status] = (statuses[status] ?? 0) + 1;
          // header names arrive as the server wrote them
          const retryAfter = Object.entries(headers ?? {}).find(([k]) => k.toLowerCase() === "retry-after");
          if (status === 429 && !retryAfter) noRetryAfter++;
        },
      })) as unknown as autocannon.Request[],
    });
    const loaded = await probing;
    const live = await probingLive;
    const onGateway = await probingGateway;
    for (const ws of sockets) ws.terminate();

    const fiveXX = Object.entries(statuses)
      .filter(([s]) => Number(s) >= 500)
      .reduce((a, [, n]) => a + n, 0);
    const idleP99 = pct(idle, 99);
    const loadP99 = pct(loaded, 99);
    const slowest = (xs: number[]) =>
      [...xs]
        .sort((a, b) => b - a)
        .slice(0, 3)
        .map(Math.round);
    emit(env, "health_ready_p99_under_load", loadP99, idleP99, "ms", {
      target: "< 100 ms",
      p50: pct(loaded, 50),
      slowestMs: slowest(loaded),
      idleSamples: idle.length,
      loadSamples: loaded.length,
    });
    emit(env, "health_live_p99_under_load", pct(live, 99), idleP99, "ms", {
      p50: pct(live, 50),
      slowestMs: slowest(live),
    });
    // on the gateway's port the probe waits its turn in the event loop with the traffic
    emit(env, "health_ready_p99_under_load_on_gateway_port", pct(onGateway, 99), idleP99, "ms", {
      p50: pct(onGateway, 50),
      slowestMs: slowest(onGateway),
      samples: onGateway.length,
    });
    emit(env, "gateway_throughput", result.requests.average, 1, "req/s", {
      statuses,
      errors: result.errors,
      timeouts: result.timeouts,
      latencyP99Ms: result.latency.p99,
      wsMessages,
    });
    process.stdout.write(
      JSON.stringify({ metric: "expectations", fiveXX, noRetryAfter, healthP99Ms: loadP99 }) + "\n",
    );
    failed = fiveXX > 0 || noRetryAfter > 0 || loadP99 >= 100;
  } finally {
    await stopAura(aura);
    killChildren();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  process.exit(failed ? 1 : 0);
}

void main();
