// Fixtures for execution tests: a user with a paper account on the simulator (step mode), a
// strategy instance with a lease, and helpers to read what the venue and the database hold.
// Fault tests run the simulator in the test process (`startHarness`), so they can arm faults,
// read the venue's order book and its request log directly; execution finds it through SIM_URL.
import crypto from "node:crypto";
import { QueryTypes, type Sequelize } from "sequelize";
import type { ServiceBroker } from "moleculer";
import { insertApiKey } from "../../../src/adapters/auth/api-keys";
import { KeyRing } from "../../../src/adapters/crypto/aead";
import { loadSecrets } from "../../../src/runtime/secrets";
import { REPL_CALLER } from "../../../src/runtime/repl-commands";
import { intentId } from "../../../src/core/execution/ids";
import { createSimulator, type Simulator, type SimulatorOptions } from "../../../src/sim";
import { loadServiceSchema } from "../../../src/runtime/runner";
import { startServices, type TestCluster } from "../../support/broker";
import { createTestDatabase, type TestDatabase } from "../../support/db";

export interface Account {
  userId: number;
  keyId: number;
  apiKey: string;
  secretKey: string;
  strategyId: number;
  fencingToken: number;
}

export async function q<T extends object = Record<string, unknown>>(
  sequelize: Sequelize,
  sql: string,
  bind: unknown[] = [],
): Promise<T[]> {
  return sequelize.query<T>(sql, { bind, type: QueryTypes.SELECT });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `cond` until it holds; throws naming `what` after `ms`. */
export async function waitFor<T>(
  cond: () => T | undefined | false | Promise<T | undefined | false>,
  ms: number,
  what: string,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

let seq = 0;

/** A user with a paper account (its key sealed into user_api_keys), an active strategy and its lease. */
export async function accountFor(
  sequelize: Sequelize,
  creds: { apiKey: string; secretKey: string },
  opts: { symbol?: string } = {},
): Promise<Account> {
  const n = ++seq;
  const [user] = await q<{ id: string }>(
    sequelize,
    `INSERT INTO users (email, password_hash) VALUES ($1, 'x') RETURNING id`,
    [`exec-${process.pid}-${n}-${crypto.randomBytes(4).toString("hex")}@example.com`],
  );
  const secrets = loadSecrets();
  const key = await insertApiKey(sequelize, new KeyRing(secrets.masterKey, secrets.oldMasterKeys), {
    userId: user.id,
    label: "Paper account",
    exchange: "sim",
    apiKey: creds.apiKey,
    apiSecret: creds.secretKey,
    status: "valid",
    statusReason: null,
    permissions: { spotTrading: true },
    validatedAt: new Date(),
    paper: true,
  });
  const symbol = opts.symbol ?? "BTCUSDT";
  const definition = {
    name: "test",
    symbol,
    interval: "1h",
    indicators: { fast: { type: "EMA", period: 3 } },
    entry: { gt: ["close", 0] },
    risk: { positionSizePct: 50, takeProfitPct: 3, stopLossPct: 1.5 },
  };
  const [strategy] = await q<{ id: string }>(
    sequelize,
    `INSERT INTO strategies (user_id, api_key_id, name, symbol, interval, definition, mode, status, active_version)
     VALUES ($1, $2, 'test', $3, '1h', $4::jsonb, 'paper', 'active', 1) RETURNING id`,
    [user.id, key.id, symbol, JSON.stringify(definition)],
  );
  const [lease] = await q<{ fencing_token: string }>(
    sequelize,
    `INSERT INTO strategy_leases (strategy_id, owner_node, expires_at) VALUES ($1, 'test-runner', now() + interval '1 hour')
     RETURNING fencing_token`,
    [strategy.id],
  );
  return {
    userId: Number(user.id),
    keyId: Number(key.id),
    apiKey: creds.apiKey,
    secretKey: creds.secretKey,
    strategyId: Number(strategy.id),
    fencingToken: Number(lease.fencing_token),
  };
}

/** A paper account on the simulator behind the broker's `exchange-sim` service. */
export async function paperAccount(
  broker: ServiceBroker,
  sequelize: Sequelize,
  opts: { usdt?: string; commission?: { maker: string; taker: string } } = {},
): Promise<Account> {
  const acc = await broker.call<{ apiKey: string; secretKey: string }, Record<string, unknown>>(
    "exchange-sim.createAccount",
    { balances: { USDT: opts.usdt ?? "10000" }, ...(opts.commission ? { commission: opts.commission } : {}) },
    { caller: REPL_CALLER },
  );
  return accountFor(sequelize, acc);
}

/** Calls execution.submit as a strategy actor would. */
export function submit(
  broker: ServiceBroker,
  a: Account,
  cmd: Record<string, unknown>,
  opts: { timeout?: number; nodeID?: string; retries?: number } = {},
) {
  return broker.call<Record<string, unknown>, Record<string, unknown>>(
    "execution.submit",
    {
      userId: a.userId,
      keyId: a.keyId,
      instanceId: a.strategyId,
      fencingToken: a.fencingToken,
      symbol: "BTCUSDT",
      reason: "test",
      ...cmd,
    },
    { caller: `strategy.${a.strategyId}`, ...opts },
  );
}

/** An entry command of instance `a` on the candle opening at `t`. */
export function entryCmd(
  a: Account,
  t: number,
  extra: Record<string, unknown> = {},
): Record<string, unknown> & { intentId: string } {
  return {
    intentId: intentId(a.strategyId, t, "entry"),
    side: "BUY",
    kind: "entry",
    candleOpenTime: t,
    sizing: { positionSizePct: 20 },
    risk: { takeProfitPct: 3, stopLossPct: 1.5 },
    ...extra,
  };
}

export function exitCmd(a: Account, t: number, extra: Record<string, unknown> = {}) {
  return {
    intentId: intentId(a.strategyId, t, "exit"),
    side: "SELL",
    kind: "exit",
    candleOpenTime: t,
    ...extra,
  };
}

/** Submits until the answer is not a retryable refusal (RECONCILING, RATE_LIMITED, BUSY, …). */
export async function submitUntilAnswered(
  broker: ServiceBroker,
  a: Account,
  cmd: Record<string, unknown>,
  ms = 20_000,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await submit(broker, a, cmd, { timeout: 60_000 });
    } catch (e) {
      const err = e as { retryable?: boolean; data?: { retryAfter?: number }; message: string };
      if (!err.retryable || Date.now() > deadline) throw e;
      await sleep(Math.min(1000, (err.data?.retryAfter ?? 1) * 250));
    }
  }
}

export interface Harness {
  sim: Simulator;
  db: TestDatabase;
  cluster: TestCluster;
  broker: ServiceBroker;
  /** a paper account on the in-process simulator */
  account(opts?: {
    usdt?: string;
    base?: string;
    commission?: { maker: string; taker: string };
  }): Promise<Account>;
  /** waits until execution's startup reconciliation has finished */
  ready(broker?: ServiceBroker): Promise<void>;
  /** stops the execution service (as a crashed or redeployed node would be gone) */
  stopExecution(): Promise<void>;
  /** starts it again (optionally with other settings); resolves once it exists, not once it is ready */
  startExecution(settings?: Record<string, unknown>): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A simulator in this process (step mode), a fresh database, and a broker running `execution`
 * (plus `extra` services) pointed at the simulator through SIM_URL.
 */
export async function startHarness(
  opts: {
    sim?: SimulatorOptions;
    execution?: Record<string, unknown>;
    services?: string[];
    db?: TestDatabase;
  } = {},
): Promise<Harness> {
  const db = opts.db ?? (await createTestDatabase());
  const sim = await createSimulator({ step: true, from: "2023-06-01", ...opts.sim });
  await sim.listen(0, "127.0.0.1");
  const previousSimUrl = process.env.SIM_URL;
  process.env.SIM_URL = sim.baseUrl;
  const settings = { reconcileIntervalMs: 3_600_000, ...opts.execution };
  const cluster = await startServices(["execution", ...(opts.services ?? [])], {
    settings: { execution: settings },
  });
  const h: Harness = {
    sim,
    db,
    cluster,
    broker: cluster.broker,
    async account(o = {}) {
      const creds = sim.createAccount({
        balances: { USDT: o.usdt ?? "10000", ...(o.base ? { BTC: o.base } : {}) },
        ...(o.commission ? { commission: o.commission } : {}),
      });
      return accountFor(db.sequelize, creds);
    },
    async ready(broker = cluster.broker) {
      await waitFor(
        async () =>
          (
            await broker.call<{ ready: boolean }, Record<string, never>>(
              "execution.status",
              {},
              { caller: REPL_CALLER },
            )
          ).ready,
        20_000,
        "execution to finish its startup reconciliation",
        20,
      );
    },
    async stopExecution() {
      const svc = cluster.broker.getLocalService("execution");
      if (svc) await cluster.broker.destroyService(svc);
    },
    async startExecution(more = {}) {
      const schema = loadServiceSchema("execution");
      const svc = cluster.broker.createService({
        ...schema,
        settings: { ...(schema.settings ?? {}), ...settings, ...more },
      });
      await cluster.broker.waitForServices([svc.name], 10_000);
    },
    async stop() {
      await cluster.stop();
      await sim.close();
      if (previousSimUrl === undefined) delete process.env.SIM_URL;
      else process.env.SIM_URL = previousSimUrl;
      if (!opts.db) await db.drop();
    },
  };
  await h.ready();
  return h;
}

export interface VenueOrderView {
  clientOrderId: string;
  orderId: number;
  status: string;
  type: string;
  side: string;
  origQty: string;
  executedQty: string;
  orderListId: number;
}

/** Every order the simulator holds for the account. */
export function venueOrders(sim: Simulator, a: Account): VenueOrderView[] {
  return sim.orders({ apiKey: a.apiKey }) as unknown as VenueOrderView[];
}

export interface OrderRowView {
  id: string;
  client_order_id: string;
  intent_id: string;
  role: string;
  state: string;
  origin: string;
  filled_qty: string;
  quantity: string | null;
  lookups: number;
  exchange_order_id: string | null;
}

export function dbOrders(sequelize: Sequelize, a: Account): Promise<OrderRowView[]> {
  return q<OrderRowView>(
    sequelize,
    `SELECT id, client_order_id, intent_id, role, state, origin, filled_qty::text, quantity::text, lookups,
            exchange_order_id
       FROM orders WHERE api_key_id = $1 ORDER BY id`,
    [a.keyId],
  );
}

/**
 * What must hold between the venue and the database for one account, as a list of violations
 * (empty: the books agree): no client order id twice on the venue, every venue order has exactly
 * one row, every row the venue knows has the venue's status, every open position is protected by
 * a live OCO or flagged UNPROTECTED with an alert (entries here always ask for protection).
 */
export async function bookProblems(
  sim: Simulator,
  sequelize: Sequelize,
  a: Account,
  opts: { protection?: "required" | "optional" } = {},
): Promise<string[]> {
  const problems: string[] = [];
  const venue = venueOrders(sim, a);
  const rows = await dbOrders(sequelize, a);
  const byId = new Map(rows.map((r) => [r.client_order_id, r]));
  const seen = new Map<string, number>();
  for (const v of venue) seen.set(v.clientOrderId, (seen.get(v.clientOrderId) ?? 0) + 1);
  for (const [id, n] of seen) if (n > 1) problems.push(`${n} venue orders with client id ${id}`);
  const terminal: Record<string, string> = {
    FILLED: "FILLED",
    CANCELED: "CANCELED",
    EXPIRED: "EXPIRED",
    REJECTED: "REJECTED",
  };
  for (const v of venue) {
    const r = byId.get(v.clientOrderId);
    if (!r) {
      problems.push(`venue order ${v.clientOrderId} (${v.type} ${v.status}) has no row`);
      continue;
    }
    if (["NOT_PLACED", "REJECTED", "DENIED", "PENDING"].includes(r.state))
      problems.push(`venue order ${v.clientOrderId} is ${v.status} but its row says ${r.state}`);
    else if (terminal[v.status] && r.state !== terminal[v.status])
      problems.push(`venue order ${v.clientOrderId} is ${v.status} but its row says ${r.state}`);
    if (r.filled_qty !== undefined && Number(r.filled_qty) !== Number(v.executedQty))
      problems.push(`order ${v.clientOrderId}: venue executed ${v.executedQty}, row filled ${r.filled_qty}`);
  }
  for (const r of rows) {
    if (r.origin === "external") continue;
    const onVenue = seen.has(r.client_order_id);
    if (!onVenue && !["PENDING", "NOT_PLACED", "REJECTED", "DENIED"].includes(r.state))
      problems.push(`row ${r.client_order_id} (${r.role}) is ${r.state} but the venue has no such order`);
  }
  const positions = await q<{ id: string; protection: string; order_list_id: string | null }>(
    sequelize,
    `SELECT id, protection, order_list_id FROM positions WHERE api_key_id = $1 AND status = 'open'`,
    [a.keyId],
  );
  for (const p of positions) {
    if (p.protection === "none") {
      // every entry of these tests asks for a take-profit and a stop
      if (opts.protection !== "optional") problems.push(`position ${p.id} is open without protection`);
      continue;
    }
    if (p.protection === "unprotected") {
      const alerts = await q(
        sequelize,
        `SELECT id FROM alerts WHERE kind = 'UNPROTECTED' AND data->>'positionId' = $1`,
        [p.id],
      );
      if (alerts.length !== 1) problems.push(`position ${p.id} is UNPROTECTED without an alert`);
      continue;
    }
    const lists = await q<{ exchange_order_list_id: string | null }>(
      sequelize,
      `SELECT exchange_order_list_id FROM order_lists WHERE position_id = $1 AND state = 'EXECUTING'`,
      [p.id],
    );
    if (p.protection !== "protected" || lists.length !== 1) {
      problems.push(`position ${p.id} is open, protection ${p.protection}, ${lists.length} live list(s)`);
      continue;
    }
    const legs = venue.filter(
      (v) =>
        ["NEW", "PARTIALLY_FILLED"].includes(v.status) &&
        String(v.orderListId) === String(lists[0].exchange_order_list_id),
    );
    if (legs.length !== 2) problems.push(`position ${p.id}: ${legs.length} open OCO legs on the venue`);
  }
  return problems;
}
