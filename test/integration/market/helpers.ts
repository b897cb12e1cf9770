// Shared setup for the market-data suites: the real simulator in step mode on port 0, a fresh
// database, the market-data service on a local broker, and a listener service that records the
// market events in arrival order so tests wait on events, never on fixed sleeps.
import type { BrokerOptions, ServiceSchema } from "moleculer";
import { candleFromRow, type MarketCandle, type RawKlineRow } from "../../../src/core/market/events";
import { bundledSeries } from "../../../src/adapters/klines/files";
import { REPL_CALLER } from "../../../src/runtime/repl-commands";
import { createSimulator, type Simulator } from "../../../src/sim";
import { startServices, type TestCluster } from "../../support/broker";
import { createTestDatabase, type TestDatabase } from "../../support/db";

export const H = 3_600_000;

/** Call options for each audience of market-data's actions, as the services in a cluster pass them. */
export const AS_STRATEGY = { caller: "strategy.test" };
export const AS_OPERATOR = { caller: REPL_CALLER };
export const AS_USER = { meta: { user: { id: 1, role: "user" } } };

export interface Recorded {
  event: string;
  payload: any;
}

export interface MarketEnv {
  sim: Simulator;
  db: TestDatabase;
  cluster: TestCluster;
  /** every market.* event in arrival order */
  log: Recorded[];
  closed(symbol?: string): MarketCandle[];
  /** resolves when `cond` holds, re-checked on every recorded event (and on a slow tick as a safety net) */
  until(cond: () => boolean, what: string, timeoutMs?: number): Promise<void>;
  service(): any;
  stop(): Promise<void>;
}

export function bundled(symbol: string, openTime: number): MarketCandle {
  const row = bundledSeries(symbol, "1h").find((r) => r[0] === openTime);
  if (!row) throw new Error(`no bundled ${symbol} candle at ${new Date(openTime).toISOString()}`);
  return candleFromRow(row as unknown as RawKlineRow);
}

export async function startMarketEnv(
  opts: {
    from: string;
    settings?: Record<string, unknown>;
    services?: string[];
    extraSettings?: Record<string, Record<string, unknown>>;
    broker?: Partial<BrokerOptions>;
  } = { from: "2023-03-20T00:00:00Z" },
): Promise<MarketEnv> {
  const db = await createTestDatabase();
  const sim = await createSimulator({ step: true, from: opts.from });
  await sim.listen(0);
  const log: Recorded[] = [];
  const waiters = new Set<() => void>();
  const record = (event: string) => (ctx: any) => {
    log.push({ event, payload: ctx.params });
    for (const w of [...waiters]) w();
  };
  const listener: ServiceSchema = {
    name: "market-listener",
    events: {
      "market.candle.closed": record("market.candle.closed"),
      "market.candle.updated": record("market.candle.updated"),
      "market.data.gap": record("market.data.gap"),
      "market.data.stale": record("market.data.stale"),
    },
  };
  const settings = {
    "market-data": {
      exchange: { kind: "sim", restUrl: sim.baseUrl },
      watch: [],
      loadBundled: false,
      staleAfterMs: 0,
      reconnect: { baseMs: 20, maxMs: 200 },
      backfillBackoff: { baseMs: 20, maxMs: 200 },
      ...(opts.settings ?? {}),
    },
    ...(opts.extraSettings ?? {}),
  };
  const cluster = await startServices(opts.services ?? ["market-data"], {
    settings,
    extra: [listener],
    broker: opts.broker,
  });
  const until = (cond: () => boolean, what: string, timeoutMs = 10_000) =>
    new Promise<void>((resolve, reject) => {
      if (cond()) return resolve();
      const check = () => {
        if (!cond()) return;
        cleanup();
        resolve();
      };
      // socket-level state (connection counts) changes without an event: look again now and then
      const tick = setInterval(check, 20);
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      const cleanup = () => {
        clearInterval(tick);
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
    });
  const env: MarketEnv = {
    sim,
    db,
    cluster,
    log,
    closed: (symbol) =>
      log
        .filter((r) => r.event === "market.candle.closed" && (!symbol || r.payload.symbol === symbol))
        .map((r) => r.payload.candle),
    until,
    service: () => env.cluster.broker.getLocalService("market-data"),
    async stop() {
      await env.cluster.stop();
      await sim.close();
      await db.drop();
    },
  };
  return env;
}

/** Polls `read` until `ok` holds for its value (state kept in the database changes without an event). */
export async function eventually<T>(
  read: () => Promise<T>,
  ok: (v: T) => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
