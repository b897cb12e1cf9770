// The IDOR matrix, data for idor.test.ts. Every route in src/gateway/routes.ts that
// names an object in its path (":id", ":strategyId", …) needs an entry in ID_ROUTES, and every
// authenticated GET without one needs an entry in LIST_ROUTES or SELF_ROUTES; the test fails and
// says what to add when one is missing. Routes that take object ids in the body (compare, a
// strategy's apiKeyId, …) go in BODY_REF_ROUTES. To cover a new kind of object, add a fixture to
// FIXTURES that creates one for a given user (through the API, or a row when the API cannot make
// one cheaply) and snapshots it from the database.
import { QueryTypes, type Sequelize } from "sequelize";
import { http, randomApiKey, type Session } from "./helpers";

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
];

/** Authenticated GET routes that return only the caller's own data and take no object id. */
export const SELF_ROUTES: string[] = ["GET /auth/me"];

/** Authenticated GET routes over data that belongs to no user (market data, symbol tables). */
export const SHARED_ROUTES: string[] = ["GET /system/info", "GET /market/klines", "GET /market/symbols"];
