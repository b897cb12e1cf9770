// The IDOR matrix, data for idor.test.ts. Every route in src/gateway/routes.ts that
// names an object in its path (":id", ":strategyId", …) needs an entry in ID_ROUTES, and every
// authenticated GET without one needs an entry in LIST_ROUTES or SELF_ROUTES; the test fails and
// says what to add when one is missing. Routes that take object ids in the body (compare, a
// strategy's apiKeyId, …) go in BODY_REF_ROUTES. To cover a new kind of object, add a fixture to
// FIXTURES that creates one for a given user (through the API, or a row when the API cannot make
// one cheaply) and snapshots it from the database.
import { QueryTypes, type Sequelize } from "sequelize";
import { insertApiKey } from "../../../src/adapters/auth/api-keys";
import { KeyRing } from "../../../src/adapters/crypto/aead";
import { http, randomApiKey, useTestSecrets, type Session } from "./helpers";

export interface FixtureContext {
  base: string;
  sequelize: Sequelize;
  /** an administrator's session, for fixtures that need one */
  admin: Session;
}

export interface ObjectRef {
  /** path parameters that address the object */
  params: Record<string, string | number>;
  /**
   * strings only the owner's object contains: they must not appear in another user's responses;
   * the first one must appear in the owner's list views
   */
  markers: string[];
}

export interface Fixture {
  create(ctx: FixtureContext, owner: Session): Promise<ObjectRef>;
  /** the object's state in the database; must be unchanged after another user's attempts */
  snapshot(ctx: FixtureContext, ref: ObjectRef): Promise<unknown>;
}

const one = async (ctx: FixtureContext, sql: string, replacements: Record<string, unknown>) =>
  (await ctx.sequelize.query(sql, { replacements, type: QueryTypes.SELECT }))[0] ?? null;

let n = 0;

/** A valid strategy definition (the API refuses anything else). */
export const strategyDefinition = (name: string) => ({
  name,
  symbol: "BTCUSDT",
  interval: "1h",
  indicators: {
    fast: { type: "EMA", period: 12, source: "close" },
    slow: { type: "EMA", period: 26, source: "close" },
  },
  entry: { crossesAbove: ["fast", "slow"] },
  exit: { crossesBelow: ["fast", "slow"] },
  risk: { positionSizePct: 50, takeProfitPct: 3, stopLossPct: 1.5 },
});

/**
 * Gives the owner a paper account, so paper activation works: this suite runs no simulator, on
 * which a first paper activation would open one, so the account is stored as that would store it.
 */
async function givePaperAccount(ctx: FixtureContext, owner: Session): Promise<void> {
  const has = await one(ctx, `SELECT id FROM user_api_keys WHERE user_id = :userId AND paper`, {
    userId: owner.id,
  });
  if (has) return;
  const ring = new KeyRing(Buffer.from(useTestSecrets().masterKey, "base64"));
  await insertApiKey(ctx.sequelize, ring, {
    userId: owner.id,
    label: "Paper account",
    exchange: "sim",
    apiKey: randomApiKey(),
    apiSecret: randomApiKey(),
    status: "valid",
    statusReason: null,
    permissions: null,
    validatedAt: new Date(),
    paper: true,
  });
}

/** A draft strategy of the owner, with one decision in its log, and a paper account to run it on. */
async function createStrategy(ctx: FixtureContext, owner: Session): Promise<ObjectRef> {
  const name = `strategy-of-${owner.id}-${n++}-${randomApiKey().slice(0, 8)}`;
  const res = await http(ctx.base, "POST", "/strategies", {
    token: owner.accessToken,
    body: { definition: strategyDefinition(name) },
  });
  if (res.status !== 201) throw new Error(`fixture strategy: ${res.status} ${res.text}`);
  const logged = `decided-for-${name}`;
  await one(
    ctx,
    `INSERT INTO strategy_decisions (user_id, strategy_id, kind, candle_open_time, action, message)
     VALUES (:userId, :id, 'decision', 1700000000000, 'entry', :message) RETURNING id`,
    { userId: owner.id, id: res.body.id, message: logged },
  );
  await givePaperAccount(ctx, owner);
  return { params: { id: res.body.id }, markers: [name, logged] };
}

/** A live (non-paper) key of the owner on the simulator venue, stored as the keys service stores it. */
async function liveKey(ctx: FixtureContext, owner: Session): Promise<number> {
  const ring = new KeyRing(Buffer.from(useTestSecrets().masterKey, "base64"));
  const row = await insertApiKey(ctx.sequelize, ring, {
    userId: owner.id,
    label: `live-${n++}-${randomApiKey().slice(0, 8)}`,
    exchange: "sim",
    apiKey: randomApiKey(),
    apiSecret: randomApiKey(),
    status: "valid",
    statusReason: null,
    permissions: { spotTrading: true },
    validatedAt: new Date(),
    paper: false,
  });
  return Number(row.id);
}

/** A strategy row of the owner with a unique name (the marker history and portfolio views show). */
async function strategyRow(ctx: FixtureContext, owner: Session, keyId: number | null, tag: string) {
  const name = `${tag}-of-${owner.id}-${n++}-${randomApiKey().slice(0, 8)}`;
  const row: any = await one(
    ctx,
    `INSERT INTO strategies (user_id, api_key_id, name, symbol, interval, definition)
     VALUES (:userId, :keyId, :name, 'BTCUSDT', '1h', :definition) RETURNING id`,
    { userId: owner.id, keyId, name, definition: JSON.stringify(strategyDefinition(name)) },
  );
  return { id: Number(row.id), name };
}

const snapshotTrade = (ctx: FixtureContext, ref: ObjectRef) =>
  one(ctx, `SELECT user_id, pnl, exit_reason FROM trades WHERE id = :id`, { id: ref.params.id });

const snapshotStrategy = (ctx: FixtureContext, ref: ObjectRef) =>
  one(
    ctx,
    `SELECT user_id, status, paused, mode, api_key_id, version, active_version, close_on_stop, definition,
            (SELECT count(*) FROM strategy_versions v WHERE v.strategy_id = s.id) AS versions
       FROM strategies s WHERE id = :id`,
    { id: ref.params.id },
  );

export const FIXTURES: Record<string, Fixture> = {
  /** an exchange API key of the owner */
  apiKey: {
    async create(ctx, owner) {
      const label = `owned-by-${owner.id}-${n++}-${randomApiKey().slice(0, 8)}`;
      const apiKey = randomApiKey();
      const res = await http(ctx.base, "POST", "/keys", {
        token: owner.accessToken,
        body: { label, exchange: "sim", apiKey, apiSecret: randomApiKey() },
      });
      if (res.status !== 201) throw new Error(`fixture apiKey: ${res.status} ${res.text}`);
      return { params: { id: res.body.id }, markers: [label, `****${apiKey.slice(-4)}`] };
    },
    snapshot: (ctx, ref) =>
      one(
        ctx,
        `SELECT user_id, label, status, status_reason, api_key_enc, api_secret_enc, validated_at FROM user_api_keys WHERE id = :id`,
        { id: ref.params.id },
      ),
  },
  /** the owner's own user account (for admin routes addressed by user id) */
  user: {
    async create(_ctx, owner) {
      return { params: { id: owner.id }, markers: [owner.email] };
    },
    snapshot: (ctx, ref) => one(ctx, `SELECT role, status FROM users WHERE id = :id`, { id: ref.params.id }),
  },
  /** a completed backtest of the owner (a stored result row: running one is not what is tested) */
  backtest: {
    async create(ctx, owner) {
      const name = `bt-of-${owner.id}-${n++}-${randomApiKey().slice(0, 8)}`;
      const row: any = await one(
        ctx,
        `INSERT INTO backtest_results (user_id, cache_key, engine_version, status, progress, params, definition, metrics, result, finished_at)
         VALUES (:userId, :cacheKey, 'idor-fixture', 'completed', 1, :params, :definition, :metrics, :result, now()) RETURNING id`,
        {
          userId: owner.id,
          cacheKey: `idor-${name}`,
          params: JSON.stringify({ symbol: "BTCUSDT", interval: "1h", from: "2024-01-01", to: "2024-01-31" }),
          definition: JSON.stringify({ name }),
          metrics: JSON.stringify({ netProfit: 1 }),
          result: JSON.stringify({ metrics: { netProfit: 1 }, trades: [], equity: [] }),
        },
      );
      return { params: { id: row.id }, markers: [row.id, name] };
    },
    snapshot: (ctx, ref) =>
      one(ctx, `SELECT user_id, status, definition, metrics FROM backtest_results WHERE id = :id`, {
        id: ref.params.id,
      }),
  },
  /** a finished sweep of the owner with one completed run */
  sweep: {
    async create(ctx, owner) {
      const name = `sweep-of-${owner.id}-${n++}-${randomApiKey().slice(0, 8)}`;
      const sweep: any = await one(
        ctx,
        `INSERT INTO backtest_sweeps (user_id, params, definition, grid, rank_by, descending, runs)
         VALUES (:userId, :params, :definition, :grid, 'sharpe', true, 1) RETURNING id`,
        {
          userId: owner.id,
          params: JSON.stringify({ symbol: "BTCUSDT", interval: "1h", from: "2024-01-01", to: "2024-01-31" }),
          definition: JSON.stringify({ name }),
          grid: JSON.stringify({ "risk.stopLossPct": [1] }),
        },
      );
      await one(
        ctx,
        `INSERT INTO backtest_results (user_id, sweep_id, sweep_params, cache_key, engine_version, status, progress,
                                       params, definition, metrics, finished_at)
         VALUES (:userId, :sweepId, :point, :cacheKey, 'idor-fixture', 'completed', 1, :params, :definition,
                 :metrics, now()) RETURNING id`,
        {
          userId: owner.id,
          sweepId: sweep.id,
          point: JSON.stringify({ "risk.stopLossPct": 1 }),
          cacheKey: `idor-${name}`,
          params: JSON.stringify({ symbol: "BTCUSDT", interval: "1h", from: "2024-01-01", to: "2024-01-31" }),
          definition: JSON.stringify({ name }),
          metrics: JSON.stringify({ netProfit: 1, sharpe: 1 }),
        },
      );
      return { params: { id: sweep.id }, markers: [sweep.id, name] };
    },
    snapshot: (ctx, ref) =>
      one(
        ctx,
        `SELECT s.user_id, s.definition, (SELECT count(*) FROM backtest_results r WHERE r.sweep_id = s.id) AS runs
           FROM backtest_sweeps s WHERE s.id = :id`,
        { id: ref.params.id },
      ),
  },
  /** a draft strategy of the owner */
  strategy: { create: createStrategy, snapshot: snapshotStrategy },
  /** a strategy of the owner, activated on their paper account */
  activeStrategy: {
    async create(ctx, owner) {
      const ref = await createStrategy(ctx, owner);
      const res = await http(ctx.base, "POST", `/strategies/${ref.params.id}/activate`, {
        token: owner.accessToken,
        body: { mode: "paper" },
      });
      if (res.status !== 200) throw new Error(`fixture activeStrategy: ${res.status} ${res.text}`);
      return ref;
    },
    snapshot: snapshotStrategy,
  },
  /** a closed trade of the owner (live key, a named strategy, exited an hour ago) */
  trade: {
    async create(ctx, owner) {
      const key = await liveKey(ctx, owner);
      const strat = await strategyRow(ctx, owner, key, "traded");
      const reason = `exit_${owner.id}_${n++}`;
      const row: any = await one(
        ctx,
        `INSERT INTO trades (user_id, strategy_id, api_key_id, symbol, qty, entry_time, entry_price, exit_time,
                             exit_price, fees, pnl, exit_reason)
         VALUES (:userId, :strategyId, :keyId, 'BTCUSDT', 0.01, now() - interval '2 hours', 20000,
                 now() - interval '1 hour', 20100, 0.4, 0.6, :reason) RETURNING id`,
        { userId: owner.id, strategyId: strat.id, keyId: key, reason },
      );
      return { params: { id: row.id }, markers: [strat.name, reason] };
    },
    snapshot: snapshotTrade,
  },
  /** an open position of the owner (live key, a named strategy) */
  openPosition: {
    async create(ctx, owner) {
      const key = await liveKey(ctx, owner);
      const strat = await strategyRow(ctx, owner, key, "holding");
      const row: any = await one(
        ctx,
        `INSERT INTO positions (user_id, strategy_id, api_key_id, symbol, qty, entry_price, entry_fees, opened_at)
         VALUES (:userId, :strategyId, :keyId, 'BTCUSDT', 0.01, 20000, 0.2, now()) RETURNING id`,
        { userId: owner.id, strategyId: strat.id, keyId: key },
      );
      return { params: { id: row.id }, markers: [strat.name] };
    },
    snapshot: (ctx, ref) =>
      one(ctx, `SELECT user_id, status, qty FROM positions WHERE id = :id`, { id: ref.params.id }),
  },
  /** an order of the owner */
  order: {
    async create(ctx, owner) {
      const key = await liveKey(ctx, owner);
      const clientOrderId = `x-order-${owner.id}-${n++}-${randomApiKey().slice(0, 8)}`;
      const row: any = await one(
        ctx,
        `INSERT INTO orders (user_id, api_key_id, intent_id, client_order_id, symbol, side, type, role, state, quantity)
         VALUES (:userId, :keyId, :clientOrderId, :clientOrderId, 'BTCUSDT', 'BUY', 'MARKET', 'entry', 'FILLED', 0.01)
         RETURNING id`,
        { userId: owner.id, keyId: key, clientOrderId },
      );
      return { params: { id: row.id }, markers: [clientOrderId] };
    },
    snapshot: (ctx, ref) =>
      one(ctx, `SELECT user_id, state FROM orders WHERE id = :id`, { id: ref.params.id }),
  },
  /** a decision in the log of one of the owner's strategies */
  decision: {
    async create(ctx, owner) {
      const strat = await strategyRow(ctx, owner, null, "deciding");
      const message = `decision-of-${owner.id}-${n++}-${randomApiKey().slice(0, 8)}`;
      const row: any = await one(
        ctx,
        `INSERT INTO strategy_decisions (user_id, strategy_id, kind, action, message)
         VALUES (:userId, :strategyId, 'lifecycle', 'start', :message) RETURNING id`,
        { userId: owner.id, strategyId: strat.id, message },
      );
      return { params: { id: row.id }, markers: [message] };
    },
    snapshot: (ctx, ref) =>
      one(ctx, `SELECT user_id, message FROM strategy_decisions WHERE id = :id`, { id: ref.params.id }),
  },
  /** an open alert of the owner */
  alert: {
    async create(ctx, owner) {
      const message = `alert-for-${owner.id}-${n++}-${randomApiKey().slice(0, 8)}`;
      const row: any = await one(
        ctx,
        `INSERT INTO alerts (user_id, kind, severity, message, dedupe_key, notified_at)
         VALUES (:userId, 'ORDER_DENIED', 'warn', :message, :message, now()) RETURNING id`,
        { userId: owner.id, message },
      );
      return { params: { id: row.id }, markers: [message] };
    },
    snapshot: (ctx, ref) =>
      one(ctx, `SELECT user_id, acknowledged_at, message FROM alerts WHERE id = :id`, { id: ref.params.id }),
  },
  /** the owner's alert webhook (a row: saving one through the API resolves its host) */
  webhook: {
    async create(ctx, owner) {
      const url = `https://hooks-${owner.id}-${n++}-${randomApiKey().slice(0, 8).toLowerCase()}.example.com/aura`;
      await one(
        ctx,
        `INSERT INTO alert_webhooks (user_id, url, secret_enc, enc_key_id) VALUES (:userId, :url, 'sealed', 'k')
         ON CONFLICT (user_id) DO UPDATE SET url = EXCLUDED.url RETURNING user_id`,
        { userId: owner.id, url },
      );
      return { params: { id: owner.id }, markers: [url] };
    },
    snapshot: (ctx, ref) =>
      one(ctx, `SELECT url, secret_enc FROM alert_webhooks WHERE user_id = :id`, { id: ref.params.id }),
  },
};

export interface IdRouteEntry {
  /** "METHOD /path" exactly as in src/gateway/routes.ts */
  route: string;
  fixture: keyof typeof FIXTURES;
  body?: Record<string, unknown>;
  /**
   * "owner": only the object's owner may use the route; another user gets 403/404.
   * "admin": only administrators may use it; a regular user gets 403.
   */
  access: "owner" | "admin";
  /** the status the owner (or an admin) gets on a fresh object: proves the route works */
  okStatus: number;
}

export const ID_ROUTES: IdRouteEntry[] = [
  { route: "GET /keys/:id", fixture: "apiKey", access: "owner", okStatus: 200 },
  {
    route: "PATCH /keys/:id",
    fixture: "apiKey",
    access: "owner",
    body: { label: "taken-over" },
    okStatus: 200,
  },
  { route: "DELETE /keys/:id", fixture: "apiKey", access: "owner", okStatus: 204 },
  { route: "POST /keys/:id/validate", fixture: "apiKey", access: "owner", okStatus: 200 },
  { route: "POST /admin/users/:id/disable", fixture: "user", access: "admin", okStatus: 200 },
  { route: "POST /admin/users/:id/enable", fixture: "user", access: "admin", okStatus: 200 },
  {
    route: "PUT /admin/users/:id/role",
    fixture: "user",
    access: "admin",
    body: { role: "admin" },
    okStatus: 200,
  },
  { route: "GET /backtests/:id", fixture: "backtest", access: "owner", okStatus: 200 },
  { route: "DELETE /backtests/:id", fixture: "backtest", access: "owner", okStatus: 200 },
  { route: "GET /backtests/sweeps/:id", fixture: "sweep", access: "owner", okStatus: 200 },
  { route: "DELETE /backtests/sweeps/:id", fixture: "sweep", access: "owner", okStatus: 200 },
  { route: "GET /strategies/:id", fixture: "strategy", access: "owner", okStatus: 200 },
  {
    route: "PUT /strategies/:id",
    fixture: "strategy",
    access: "owner",
    body: { definition: strategyDefinition("taken over") },
    okStatus: 200,
  },
  { route: "DELETE /strategies/:id", fixture: "strategy", access: "owner", okStatus: 204 },
  {
    route: "POST /strategies/:id/activate",
    fixture: "strategy",
    access: "owner",
    body: { mode: "paper" },
    okStatus: 200,
  },
  {
    route: "POST /strategies/:id/deactivate",
    fixture: "activeStrategy",
    access: "owner",
    body: { closePosition: true },
    okStatus: 200,
  },
  { route: "POST /strategies/:id/pause", fixture: "activeStrategy", access: "owner", okStatus: 200 },
  { route: "POST /strategies/:id/resume", fixture: "activeStrategy", access: "owner", okStatus: 200 },
  { route: "GET /strategies/:id/logs", fixture: "strategy", access: "owner", okStatus: 200 },
  { route: "GET /backtests/:id/export", fixture: "backtest", access: "owner", okStatus: 200 },
  { route: "POST /alerts/:id/ack", fixture: "alert", access: "owner", okStatus: 200 },
];

export interface BodyRefEntry {
  route: string;
  fixture: keyof typeof FIXTURES;
  /** the request body naming the caller's own object and the victim's */
  body(own: ObjectRef, victim: ObjectRef, ownSecond: ObjectRef): Record<string, unknown>;
  /** the owner's request with only their own objects; proves the route works */
  okBody(own: ObjectRef, ownSecond: ObjectRef): Record<string, unknown>;
  okStatus: number;
}

export const BODY_REF_ROUTES: BodyRefEntry[] = [
  {
    route: "POST /backtests/compare",
    fixture: "backtest",
    body: (own, victim) => ({ ids: [own.params.id, victim.params.id] }),
    okBody: (own, second) => ({ ids: [own.params.id, second.params.id] }),
    okStatus: 200,
  },
];

export interface ListRouteEntry {
  route: string;
  fixture: keyof typeof FIXTURES;
  /** query strings an attacker might try to widen the list with */
  filters: Record<string, string | number>[];
  access: "owner" | "admin";
}

export const LIST_ROUTES: ListRouteEntry[] = [
  {
    route: "GET /keys",
    fixture: "apiKey",
    access: "owner",
    filters: [{}, { userId: "{victimId}" }, { user_id: "{victimId}", all: "true" }],
  },
  { route: "GET /admin/users", fixture: "user", access: "admin", filters: [{}] },
  {
    route: "GET /backtests",
    fixture: "backtest",
    access: "owner",
    filters: [{}, { userId: "{victimId}" }, { limit: 100 }],
  },
  {
    route: "GET /backtests/sweeps",
    fixture: "sweep",
    access: "owner",
    filters: [{}, { userId: "{victimId}" }, { limit: 100 }],
  },
  {
    route: "GET /strategies",
    fixture: "strategy",
    access: "owner",
    filters: [{}, { userId: "{victimId}" }, { user_id: "{victimId}", limit: 100 }],
  },
  { route: "GET /admin/trading", fixture: "user", access: "admin", filters: [{}] },
  {
    route: "GET /portfolio",
    fixture: "openPosition",
    access: "owner",
    filters: [{}, { userId: "{victimId}" }, { user_id: "{victimId}", mode: "live" }],
  },
  {
    route: "GET /portfolio/performance",
    fixture: "trade",
    access: "owner",
    filters: [{}, { userId: "{victimId}" }, { userId: "{victimId}", range: "all", mode: "live" }],
  },
  {
    route: "GET /trades",
    fixture: "trade",
    access: "owner",
    filters: [{}, { userId: "{victimId}" }, { user_id: "{victimId}", limit: 500, mode: "live" }],
  },
  {
    route: "GET /trades/export",
    fixture: "trade",
    access: "owner",
    filters: [{}, { userId: "{victimId}", format: "csv" }, { user_id: "{victimId}", symbol: "BTCUSDT" }],
  },
  {
    route: "GET /orders",
    fixture: "order",
    access: "owner",
    filters: [{}, { userId: "{victimId}" }, { user_id: "{victimId}", status: "FILLED", limit: 500 }],
  },
  {
    route: "GET /logs",
    fixture: "decision",
    access: "owner",
    filters: [{}, { userId: "{victimId}" }, { user_id: "{victimId}", source: "decision", limit: 500 }],
  },
  {
    route: "GET /alerts",
    fixture: "alert",
    access: "owner",
    filters: [{}, { userId: "{victimId}" }, { user_id: "{victimId}", status: "open", limit: 200 }],
  },
  {
    route: "GET /alerts/webhook",
    fixture: "webhook",
    access: "owner",
    filters: [{}, { userId: "{victimId}" }],
  },
];

/** Authenticated GET routes that return only the caller's own data and take no object id. */
export const SELF_ROUTES: string[] = ["GET /auth/me"];

/** Authenticated GET routes over data that belongs to no user (market data, symbol tables). */
export const SHARED_ROUTES: string[] = ["GET /system/info", "GET /market/klines", "GET /market/symbols"];
