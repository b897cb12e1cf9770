// Each feature's variables, read through one function per feature so the feature never touches
// the environment itself. Defaults and accepted ranges are documented in the README table.
import { FIXED_INTERVALS } from "../../core/market/symbols";
import { dataDirOf, nodeEnvOf } from "./env";
import { EnvReader } from "./readers";
import { decodeMasterKey, jwtSecretProblem, masterKeyProblem } from "./secrets";

export type ExchangeKind = "binance" | "binance-testnet" | "sim";
export const EXCHANGE_KINDS: readonly ExchangeKind[] = ["binance", "binance-testnet", "sim"];

const PORT = { min: 0, max: 65_535 };

function exchangeKindOf(r: EnvReader): ExchangeKind {
  return r.enumOf("EXCHANGE", EXCHANGE_KINDS, "sim", " (unset = sim)");
}

function simUrlOf(r: EnvReader): string | undefined {
  return r.url("SIM_URL", { protocols: ["http:", "https:"], accepts: "an http(s)://host:port URL" });
}

function simStepOf(r: EnvReader): boolean {
  return r.bool("SIM_STEP", false);
}

// ---------------------------------------------------------------------------------------------
// secrets

export interface SecretsConfig {
  production: boolean;
  /** JWT_SECRET; unset → generated into dataDir (not production) */
  jwtSecret: Buffer | undefined;
  /** AURA_MASTER_KEY; unset → generated into dataDir (not production) */
  masterKey: Buffer | undefined;
  /** AURA_MASTER_KEYS_OLD */
  oldMasterKeys: Buffer[];
  dataDir: string;
}

/**
 * The secrets from the environment, checked for strength. Production requires JWT_SECRET and
 * AURA_MASTER_KEY (`required` says otherwise for a process that runs no service using them);
 * elsewhere an unset one is generated later, but a set one must still be strong.
 */
export function secretsConfig(
  env: NodeJS.ProcessEnv = process.env,
  opts: { required?: boolean } = {},
): SecretsConfig {
  const r = new EnvReader(env);
  const production = nodeEnvOf(r) === "production";
  const required = opts.required ?? production;
  const jwtRaw = r.raw("JWT_SECRET");
  const masterRaw = r.raw("AURA_MASTER_KEY");
  const oldRaw = r.list("AURA_MASTER_KEYS_OLD", { default: [] as string[], item: (s) => s, accepts: "keys" });
  if (required || jwtRaw !== undefined) {
    const p = jwtSecretProblem(jwtRaw);
    if (p) r.problem("JWT_SECRET", p);
  }
  if (required || masterRaw !== undefined) {
    const p = masterKeyProblem("AURA_MASTER_KEY", masterRaw);
    if (p) r.problem("AURA_MASTER_KEY", p);
  }
  oldRaw.forEach((k, i) => {
    const p = masterKeyProblem(`AURA_MASTER_KEYS_OLD[${i}]`, k);
    if (p) r.problem("AURA_MASTER_KEYS_OLD", p);
  });
  const value = {
    production,
    jwtSecret: jwtRaw === undefined ? undefined : Buffer.from(jwtRaw, "utf8"),
    masterKey: masterRaw === undefined ? undefined : decodeMasterKey(masterRaw),
    oldMasterKeys: oldRaw.map(decodeMasterKey),
    dataDir: dataDirOf(r),
  };
  return r.done(
    value,
    production && r.problems.length
      ? `refusing to start in production: ${r.problems.map((p) => p.message).join("; ")}`
      : undefined,
  );
}

// ---------------------------------------------------------------------------------------------
// identity and gateway

export interface AuthConfig {
  accessTtlSec: number;
  session: { idleTtlSec: number; absoluteTtlSec: number };
  throttle: { accountThreshold: number; ipThreshold: number };
  /** this address becomes admin when it registers; unset → the first user */
  adminEmail: string | undefined;
}

export function authConfig(env: NodeJS.ProcessEnv = process.env): AuthConfig {
  const r = new EnvReader(env);
  return r.done({
    // longer-lived access tokens would outlast a revocation by more than the documented 15 min
    accessTtlSec: r.duration("ACCESS_TOKEN_TTL_SEC", { unit: "s", default: 900, min: 30, max: 900 }),
    session: {
      idleTtlSec: r.duration("REFRESH_TOKEN_TTL_SEC", { unit: "s", default: 7 * 24 * 3600, min: 60 }),
      absoluteTtlSec: r.duration("SESSION_MAX_AGE_SEC", { unit: "s", default: 30 * 24 * 3600, min: 60 }),
    },
    throttle: {
      accountThreshold: r.int("LOGIN_LOCKOUT_THRESHOLD", { default: 5, min: 1, max: 1000 }),
      ipThreshold: r.int("LOGIN_IP_LOCKOUT_THRESHOLD", { default: 20, min: 1, max: 100_000 }),
    },
    // a malformed address could never register, so nobody would ever become admin
    adminEmail: r.string("AURA_ADMIN_EMAIL", {
      default: undefined,
      pattern: /^[^\s@]+@[^\s@]+$/,
      accepts: "an email address",
    }),
  });
}

export interface GatewayConfig {
  rateLimits: {
    /** requests per minute per client ip on /api/v1 (0 = off) */
    ipPerMinute: number;
    /** requests per minute per authenticated user (0 = off) */
    userPerMinute: number;
    /** requests per minute per client ip to each credential route (0 = off) */
    credentialsPerMinute: number;
  };
  /** reverse proxies in front of the gateway whose X-Forwarded-For entry is trusted */
  trustProxyHops: number;
  /** how long a gateway trusts its cached view of a user (0 = ask every request) */
  authStateTtlMs: number;
  /** HTTP requests one gateway works on at once (as many again wait) before it answers 429 */
  maxInFlight: number;
}

export function gatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const r = new EnvReader(env);
  return r.done({
    rateLimits: {
      ipPerMinute: r.int("RATE_LIMIT_IP_PER_MIN", { default: 600, min: 0 }),
      userPerMinute: r.int("RATE_LIMIT_USER_PER_MIN", { default: 600, min: 0 }),
      credentialsPerMinute: r.int("RATE_LIMIT_CREDENTIALS_PER_MIN", { default: 20, min: 0 }),
    },
    trustProxyHops: r.int("TRUST_PROXY_HOPS", { default: 0, min: 0 }),
    authStateTtlMs: r.duration("AUTH_STATE_TTL_MS", { unit: "ms", default: 5000, min: 0, max: 60_000 }),
    maxInFlight: r.int("GATEWAY_MAX_IN_FLIGHT", { default: 1024, min: 1, max: 65_536 }),
  });
}

export interface KeysConfig {
  /** how often valid keys are re-checked against the exchange (0 = never) */
  recheckIntervalMs: number;
}

export function keysConfig(env: NodeJS.ProcessEnv = process.env): KeysConfig {
  const r = new EnvReader(env);
  return r.done({
    recheckIntervalMs: r.duration("KEY_RECHECK_INTERVAL_MS", {
      unit: "ms",
      default: 24 * 3600 * 1000,
      min: 0,
    }),
  });
}

// ---------------------------------------------------------------------------------------------
// exchange, market data, simulator

export interface ExchangeConfig {
  kind: ExchangeKind;
  /** SIM_URL as set (no trailing slash); unset → the in-process simulator or 127.0.0.1:simPort */
  simUrl: string | undefined;
  simPort: number;
}

export function exchangeConfig(env: NodeJS.ProcessEnv = process.env): ExchangeConfig {
  const r = new EnvReader(env);
  return r.done({
    kind: exchangeKindOf(r),
    simUrl: simUrlOf(r),
    simPort: r.int("SIM_PORT", { default: 8090, ...PORT }),
  });
}

function watchOf(r: EnvReader, def: string[]): { symbol: string; interval: string }[] {
  return r.list("MARKET_DATA_WATCH", {
    default: def.map((d) => ({ symbol: d.split(":")[0], interval: d.split(":")[1] })),
    none: true,
    item: (part) => {
      const m = /^([A-Za-z0-9]{2,20}):([0-9]+[smhdw])$/.exec(part);
      return m && FIXED_INTERVALS.includes(m[2]) ? { symbol: m[1].toUpperCase(), interval: m[2] } : undefined;
    },
    accepts: `entries like BTCUSDT:1h (interval one of ${FIXED_INTERVALS.join(", ")}), or none`,
  });
}

/** A MARKET_DATA_WATCH value → the series it names. */
export function parseWatch(raw: string): { symbol: string; interval: string }[] {
  const r = new EnvReader({ MARKET_DATA_WATCH: raw });
  return r.done(watchOf(r, []));
}

export interface MarketDataConfig {
  kind: ExchangeKind;
  /** SIM_URL as set; unset → the in-process simulator is looked up */
  simUrl: string | undefined;
  watch: { symbol: string; interval: string }[];
  loadBundled: boolean;
  /** 0 = off */
  staleAfterMs: number;
  /** how long a node's claim on a series' stream lasts unless renewed (every third of it) */
  streamLeaseTtlMs: number;
}

export function marketDataConfig(env: NodeJS.ProcessEnv = process.env): MarketDataConfig {
  const r = new EnvReader(env);
  const kind = exchangeKindOf(r);
  const step = simStepOf(r);
  return r.done({
    kind,
    simUrl: simUrlOf(r),
    watch: watchOf(r, kind === "sim" ? ["BTCUSDT:1h", "ETHUSDT:1h"] : []),
    loadBundled: r.bool("MARKET_DATA_BUNDLED", true),
    // Binance pushes a kline every 2 s, so twice that without one means the stream is not healthy;
    // a stepped simulator is silent until told to move
    staleAfterMs: r.duration("MARKET_DATA_STALE_MS", {
      unit: "ms",
      default: kind === "sim" && step ? 0 : 4000,
      min: 0,
    }),
    // below a second a renewal every third of it would be lost in database and event-loop jitter
    streamLeaseTtlMs: r.duration("MARKET_STREAM_LEASE_TTL_MS", {
      unit: "ms",
      default: 10_000,
      min: 1000,
      max: 600_000,
    }),
  });
}

export interface SimConfig {
  /** loopback port (0 picks a free one) */
  port: number;
  /** replay ms per wall ms; unset → the simulator's default */
  speed: number | undefined;
  /** replay start (date, ISO time or epoch ms) */
  from: string | undefined;
  /** start in step mode */
  step: boolean;
  /** how often changed venue state is saved to the database (ms); 0 = never saved or restored */
  persistIntervalMs: number;
}

export function simConfig(env: NodeJS.ProcessEnv = process.env): SimConfig {
  const r = new EnvReader(env);
  return r.done({
    port: r.int("SIM_PORT", { default: 8090, ...PORT }),
    speed: r.number("SIM_SPEED", { default: undefined, positive: true }),
    from: r.string("SIM_FROM", {
      default: undefined,
      // the simulator's own reading of a start time: epoch ms, a date (UTC) or an ISO time
      pattern: (v) => /^\d+$/.test(v) || !Number.isNaN(Date.parse(v)),
      accepts: "a date (2023-01-01), an ISO time or epoch ms",
    }),
    step: simStepOf(r),
    persistIntervalMs: r.duration("SIM_PERSIST_INTERVAL_MS", { unit: "ms", default: 5000, min: 0 }),
  });
}

// ---------------------------------------------------------------------------------------------
// backtests, monitor

export interface BacktestConfig {
  /** worker threads; undefined → one per core (at most 4) */
  workers: number | undefined;
  /** queued and running runs one user may have (a sweep counts each run) */
  queuePerUser: number;
  /** queued and running runs over all users */
  queueMax: number;
}

export function backtestConfig(env: NodeJS.ProcessEnv = process.env): BacktestConfig {
  const r = new EnvReader(env);
  const workers = r.int("BACKTEST_WORKERS", { default: undefined, min: 0 });
  return r.done({
    // 0 has always meant "choose for me"
    workers: workers === 0 ? undefined : workers,
    queuePerUser: r.int("BACKTEST_QUEUE_PER_USER", { default: 250, min: 1, max: 100_000 }),
    queueMax: r.int("BACKTEST_QUEUE_MAX", { default: 5000, min: 1, max: 1_000_000 }),
  });
}

export interface StrategiesConfig {
  /** USDT a new paper account starts with, as the exact decimal string the simulator takes */
  paperBalanceUsdt: string;
}

export function strategiesConfig(env: NodeJS.ProcessEnv = process.env): StrategiesConfig {
  const r = new EnvReader(env);
  return r.done({
    // the simulator keeps 8 decimals; an empty paper account could never place an order
    paperBalanceUsdt: r.string("PAPER_BALANCE_USDT", {
      default: "10000",
      pattern: (v) => /^\d{1,20}(\.\d{1,8})?$/.test(v) && /[1-9]/.test(v),
      accepts: "a positive amount of USDT with at most 8 decimals, such as 10000 or 2500.50",
    }),
  });
}

export interface StrategyRuntimeConfig {
  /** how long a runner's claim on an instance lasts without renewal (renewed every third of it) */
  leaseTtlMs: number;
  /** how often a runner rescans the instances besides reacting to change events */
  scanIntervalMs: number;
  /** crashes within the crash window after which an instance is put in status error */
  maxCrashes: number;
}

export function strategyRuntimeConfig(env: NodeJS.ProcessEnv = process.env): StrategyRuntimeConfig {
  const r = new EnvReader(env);
  return r.done({
    // below a second a renewal every third of it would be lost in database and event-loop jitter
    leaseTtlMs: r.duration("STRATEGY_LEASE_TTL_MS", { unit: "ms", default: 15_000, min: 1000, max: 600_000 }),
    scanIntervalMs: r.duration("STRATEGY_SCAN_INTERVAL_MS", {
      unit: "ms",
      default: 2000,
      min: 50,
      max: 600_000,
    }),
    maxCrashes: r.int("STRATEGY_MAX_CRASHES", { default: 5, min: 1, max: 1000 }),
  });
}

export interface MonitorConfig {
  healthIntervalMs: number;
}

/**
 * Where a test may have the execution process kill itself (AURA_FAULT_CRASH_AT): after the intent
 * row is stored, after the venue acknowledged an order and before the row says so, after an entry
 * filled and before its OCO is sent, after the venue acknowledged the OCO and before the rows say so.
 */
export const EXECUTION_CRASH_POINTS = ["entry-inserted", "order-acked", "entry-filled", "oco-acked"] as const;
export type ExecutionCrashPoint = (typeof EXECUTION_CRASH_POINTS)[number];

export interface ExecutionConfig {
  /** how often open orders, lists and positions are checked against the venue */
  reconcileIntervalMs: number;
  /** how long the venue may not show an order it accepted before "not found" is believed */
  notFoundGraceMs: number;
  /** test-only: the point at which the process kills itself (SIGKILL); never set in production */
  crashAt: ExecutionCrashPoint | undefined;
}

export function executionConfig(env: NodeJS.ProcessEnv = process.env): ExecutionConfig {
  const r = new EnvReader(env);
  const production = nodeEnvOf(r) === "production";
  const crashAt = r.raw("AURA_FAULT_CRASH_AT")?.trim()
    ? r.enumOf("AURA_FAULT_CRASH_AT", EXECUTION_CRASH_POINTS, EXECUTION_CRASH_POINTS[0])
    : undefined;
  // a crash switch left set in a deployment would kill the process in the middle of an order
  if (crashAt !== undefined && production)
    r.problem(
      "AURA_FAULT_CRASH_AT",
      "AURA_FAULT_CRASH_AT is for tests only and is refused with NODE_ENV=production",
    );
  return r.done({
    reconcileIntervalMs: r.duration("EXECUTION_RECONCILE_INTERVAL_MS", {
      unit: "ms",
      default: 30_000,
      min: 1000,
    }),
    notFoundGraceMs: r.duration("ORDER_NOT_FOUND_GRACE_MS", {
      unit: "ms",
      default: 3000,
      min: 1000,
      max: 600_000,
    }),
    crashAt: production ? undefined : crashAt,
  });
}

export function monitorConfig(env: NodeJS.ProcessEnv = process.env): MonitorConfig {
  const r = new EnvReader(env);
  return r.done({
    healthIntervalMs: r.duration("HEALTH_CHECK_INTERVAL_MS", { unit: "ms", default: 30_000, min: 1 }),
  });
}

export interface PortfolioConfig {
  /** how often each user's equity is snapshotted (besides after fills and closes); 0 = only then */
  snapshotIntervalMs: number;
}

export function portfolioConfig(env: NodeJS.ProcessEnv = process.env): PortfolioConfig {
  const r = new EnvReader(env);
  const ms = r.duration("PORTFOLIO_SNAPSHOT_INTERVAL_MS", { unit: "ms", default: 300_000, min: 0 });
  // more often than every 10 s would be balance requests to the venue, not an equity curve
  if (ms > 0 && ms < 10_000)
    r.problem(
      "PORTFOLIO_SNAPSHOT_INTERVAL_MS",
      `PORTFOLIO_SNAPSHOT_INTERVAL_MS must be 0 (off) or at least 10000 milliseconds, got "${ms}"`,
    );
  return r.done({ snapshotIntervalMs: ms > 0 && ms < 10_000 ? 300_000 : ms });
}
