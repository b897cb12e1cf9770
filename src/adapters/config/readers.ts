// The registry of every environment variable AURA reads, and the typed readers that parse them.
// A reader records a problem instead of throwing at the first one, so a feature's reader (and the
// start-up check over all of them) reports every bad variable at once in one ConfigError.

/** How a variable's value may appear in an error message. */
type Exposure = "plain" | "secret" | "credentials";

/**
 * Every variable AURA reads. Readers accept only these names, so a new variable cannot be parsed
 * without being declared here; the README's configuration table lists exactly these.
 * "secret": the value is never shown; "credentials": a URL whose password is masked.
 */
export const VARIABLES = {
  NODE_ENV: "plain",
  TRANSPORTER: "credentials",
  DATABASE_URL: "credentials",
  AURA_DATA_DIR: "plain",
  REDIS_URL: "credentials",
  SERVICES: "plain",
  NODE_ID: "plain",
  AURA_NAMESPACE: "plain",
  LOG_LEVEL: "plain",
  PORT: "plain",
  HOST: "plain",
  HEALTH_PORT: "plain",
  METRICS_PORT: "plain",
  REQUEST_TIMEOUT_MS: "plain",
  SHUTDOWN_TIMEOUT_MS: "plain",
  BODY_LIMIT: "plain",
  CORS_ORIGIN: "plain",
  TRUST_PROXY_HOPS: "plain",
  GATEWAY_MAX_IN_FLIGHT: "plain",
  HEALTH_CHECK_INTERVAL_MS: "plain",
  JWT_SECRET: "secret",
  AURA_MASTER_KEY: "secret",
  AURA_MASTER_KEYS_OLD: "secret",
  AURA_ADMIN_EMAIL: "plain",
  ACCESS_TOKEN_TTL_SEC: "plain",
  REFRESH_TOKEN_TTL_SEC: "plain",
  SESSION_MAX_AGE_SEC: "plain",
  AUTH_STATE_TTL_MS: "plain",
  LOGIN_LOCKOUT_THRESHOLD: "plain",
  LOGIN_IP_LOCKOUT_THRESHOLD: "plain",
  RATE_LIMIT_IP_PER_MIN: "plain",
  RATE_LIMIT_USER_PER_MIN: "plain",
  RATE_LIMIT_CREDENTIALS_PER_MIN: "plain",
  KEY_RECHECK_INTERVAL_MS: "plain",
  SIM_URL: "credentials",
  EXCHANGE: "plain",
  MARKET_DATA_WATCH: "plain",
  MARKET_DATA_BUNDLED: "plain",
  MARKET_DATA_STALE_MS: "plain",
  MARKET_STREAM_LEASE_TTL_MS: "plain",
  BACKTEST_WORKERS: "plain",
  BACKTEST_QUEUE_PER_USER: "plain",
  BACKTEST_QUEUE_MAX: "plain",
  SIM_PORT: "plain",
  SIM_SPEED: "plain",
  SIM_FROM: "plain",
  SIM_STEP: "plain",
  SIM_PERSIST_INTERVAL_MS: "plain",
  STRATEGY_LEASE_TTL_MS: "plain",
  STRATEGY_SCAN_INTERVAL_MS: "plain",
  STRATEGY_MAX_CRASHES: "plain",
  PAPER_BALANCE_USDT: "plain",
  EXECUTION_RECONCILE_INTERVAL_MS: "plain",
  ORDER_NOT_FOUND_GRACE_MS: "plain",
  AURA_FAULT_CRASH_AT: "plain",
  PORTFOLIO_SNAPSHOT_INTERVAL_MS: "plain",
  // the bus (src/adapters/config/transport.ts): paths are plain, only the password is secret
  NATS_TLS_CA: "plain",
  NATS_TLS_CERT: "plain",
  NATS_TLS_KEY: "plain",
  NATS_USER: "plain",
  NATS_PASSWORD: "secret",
  NATS_NKEY_SEED: "plain",
  NATS_CREDS: "plain",
  NATS_ALLOW_INSECURE: "plain",
} as const satisfies Record<string, Exposure>;

export type VariableName = keyof typeof VARIABLES;

export interface ConfigProblem {
  variable: VariableName;
  message: string;
}

export class ConfigError extends Error {
  constructor(
    readonly problems: ConfigProblem[],
    message = problems.length === 1
      ? problems[0].message
      : `${problems.length} configuration problems:\n${problems.map((p) => `  - ${p.message}`).join("\n")}`,
    /** what the reader made of the rest, each refused variable at its default */
    readonly partial?: unknown,
  ) {
    super(message);
    this.name = "ConfigError";
  }
}

/** setTimeout/setInterval treat anything above this as 1 ms, so a longer period is refused. */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * A URL with its user info (password, or a NATS token) and password-like query parameters
 * hidden; undefined when the value is not a URL at all, since then nothing says where a password
 * in it would be.
 */
export function maskCredentials(raw: string): string | undefined {
  const v = raw.trim();
  try {
    new URL(v);
  } catch {
    return undefined;
  }
  return (
    v
      // up to the last "@": a password may hold "/" or "@" itself
      .replace(/^([a-z][a-z0-9+.-]*:\/\/).*@/is, "$1***@")
      .replace(/([?&](?:password|pass|pwd|token|auth)=)[^&#]*/gi, "$1***")
  );
}

/** The value as an error message may show it. */
export function shownValue(name: VariableName, raw: string): string {
  const exposure: Exposure = VARIABLES[name];
  const v = exposure === "plain" ? raw : exposure === "credentials" ? maskCredentials(raw) : undefined;
  if (v === undefined) return "a value (hidden)";
  return `"${v.length > 120 ? `${v.slice(0, 117)}...` : v}"`;
}

const TRUE = ["1", "true", "yes", "on"];
const FALSE = ["0", "false", "no", "off"];

interface IntOptions<D extends number | undefined> {
  /** unset or blank → this */
  default: D;
  min?: number;
  max?: number;
}

export class EnvReader {
  readonly problems: ConfigProblem[] = [];

  constructor(private readonly env: NodeJS.ProcessEnv) {}

  /** The raw value, or undefined when unset or blank. */
  raw(name: VariableName): string | undefined {
    const v = this.env[name];
    return v === undefined || v.trim() === "" ? undefined : v;
  }

  /** Records "NAME must be <accepts>, got <value>". */
  refuse(name: VariableName, accepts: string, raw: string): void {
    this.problems.push({
      variable: name,
      message: `${name} must be ${accepts}, got ${shownValue(name, raw)}`,
    });
  }

  /** Records a problem phrased by the caller (which must not quote a secret). */
  problem(name: VariableName, message: string): void {
    this.problems.push({ variable: name, message });
  }

  /** Returns `value`, or throws one ConfigError listing every problem recorded so far. */
  done<T>(value: T, message?: string): T {
    if (this.problems.length) throw new ConfigError(this.problems, message, value);
    return value;
  }

  string<D extends string | undefined>(
    name: VariableName,
    opts: { default: D; pattern?: RegExp | ((v: string) => boolean); accepts?: string },
  ): string | D {
    const raw = this.raw(name);
    if (raw === undefined) return opts.default;
    const v = raw.trim();
    const ok = !opts.pattern || (typeof opts.pattern === "function" ? opts.pattern(v) : opts.pattern.test(v));
    if (!ok) {
      this.refuse(name, opts.accepts ?? `text matching ${opts.pattern}`, raw);
      return opts.default;
    }
    return v;
  }

  int<D extends number | undefined>(name: VariableName, opts: IntOptions<D>): number | D {
    return this.integer(name, opts, "an integer");
  }

  /** A whole number of milliseconds or seconds; `_MS` and `_SEC` names carry the unit. */
  duration<D extends number | undefined>(
    name: VariableName,
    opts: IntOptions<D> & { unit: "ms" | "s" },
  ): number | D {
    const max = opts.max ?? (opts.unit === "ms" ? MAX_TIMER_MS : undefined);
    return this.integer(
      name,
      { ...opts, max },
      opts.unit === "ms" ? "a whole number of milliseconds" : "a whole number of seconds",
    );
  }

  /** A decimal number (e.g. a speed factor). */
  number<D extends number | undefined>(
    name: VariableName,
    opts: { default: D; positive?: boolean },
  ): number | D {
    const raw = this.raw(name);
    if (raw === undefined) return opts.default;
    const n = Number(raw.trim());
    if (!Number.isFinite(n) || (opts.positive && n <= 0)) {
      this.refuse(name, opts.positive ? "a positive number" : "a number", raw);
      return opts.default;
    }
    return n;
  }

  bool(name: VariableName, def: boolean): boolean {
    const raw = this.raw(name);
    if (raw === undefined) return def;
    const v = raw.trim().toLowerCase();
    if (TRUE.includes(v)) return true;
    if (FALSE.includes(v)) return false;
    this.refuse(name, "true or false (also 1/0, yes/no, on/off)", raw);
    return def;
  }

  /** One of `values`, compared without case. */
  enumOf<T extends string>(name: VariableName, values: readonly T[], def: T, unsetNote = ""): T {
    const raw = this.raw(name);
    if (raw === undefined) return def;
    const v = raw.trim().toLowerCase();
    const hit = values.find((x) => x.toLowerCase() === v);
    if (hit === undefined) {
      this.refuse(name, `one of ${values.join(", ")}${unsetNote}`, raw);
      return def;
    }
    return hit;
  }

  /** A URL with one of `protocols` (e.g. ["http:", "https:"]) and a host; trailing slashes dropped. */
  url(name: VariableName, opts: { protocols: string[]; accepts?: string }): string | undefined {
    const raw = this.raw(name);
    if (raw === undefined) return undefined;
    const v = raw.trim();
    let ok = false;
    try {
      const u = new URL(v);
      ok = opts.protocols.includes(u.protocol) && u.host !== "";
    } catch {
      ok = false;
    }
    if (!ok) {
      this.refuse(name, opts.accepts ?? `a ${opts.protocols.map((p) => `${p}//`).join(" or ")} URL`, raw);
      return undefined;
    }
    return v.replace(/\/+$/, "");
  }

  /**
   * A comma-separated list. Unset → `default`; set but blank → empty; `none` (when allowed) →
   * empty. Empty entries are skipped; each other one goes through `item`, which returns
   * undefined to refuse it.
   */
  list<T>(
    name: VariableName,
    opts: { default: T[]; item: (s: string) => T | undefined; accepts: string; none?: boolean },
  ): T[] {
    const value = this.env[name];
    if (value === undefined) return opts.default;
    const v = value.trim();
    if (v === "" || (opts.none && v.toLowerCase() === "none")) return [];
    const out: T[] = [];
    for (const part of v.split(",").map((s) => s.trim())) {
      if (part === "") continue;
      const parsed = opts.item(part);
      if (parsed === undefined) {
        this.refuse(name, `a comma-separated list of ${opts.accepts}`, part);
        return opts.default;
      }
      out.push(parsed);
    }
    return out;
  }

  private integer<D extends number | undefined>(
    name: VariableName,
    opts: IntOptions<D>,
    what: string,
  ): number | D {
    const raw = this.raw(name);
    if (raw === undefined) return opts.default;
    const n = /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : NaN;
    const { min, max } = opts;
    if (!Number.isSafeInteger(n) || (min !== undefined && n < min) || (max !== undefined && n > max)) {
      const range =
        min !== undefined && max !== undefined
          ? ` from ${min} to ${max}`
          : min !== undefined
            ? ` ≥ ${min}`
            : max !== undefined
              ? ` ≤ ${max}`
              : "";
      this.refuse(name, `${what}${range}`, raw);
      return opts.default;
    }
    return n;
  }
}
