// Broker options that protect money movement are explicit, not Moleculer's defaults (docs/errors.md).
// Every variable is parsed by the configuration module, the README's table lists exactly those,
// and a bad value is refused with a message naming the variable (never quoting a secret).
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import {
  backtestConfig,
  ConfigError,
  exchangeConfig,
  keysConfig,
  marketDataConfig,
  monitorConfig,
  validateConfig,
  VARIABLES,
  type VariableName,
} from "../../../src/adapters/config";
import { readEnv } from "../../../src/adapters/config/env";

function loadConfig(env: Record<string, string | undefined> = {}) {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k];
  try {
    let cfg: any;
    jest.isolateModules(() => {
      cfg = require("../../../moleculer.config");
    });
    return cfg;
  } finally {
    process.env = saved;
  }
}

describe("moleculer.config", () => {
  const cfg = loadConfig({ TRANSPORTER: undefined, REDIS_URL: undefined });

  test("requests time out and dead nodes are noticed quickly", () => {
    expect(cfg.requestTimeout).toBeGreaterThan(0);
    expect(cfg.heartbeatInterval).toBeGreaterThan(0);
    expect(cfg.heartbeatTimeout).toBeGreaterThan(cfg.heartbeatInterval);
    expect(cfg.heartbeatTimeout).toBeLessThanOrEqual(30);
  });

  test("retries are off by default (order commands must never be re-sent blindly)", () => {
    expect(cfg.retryPolicy.enabled).toBe(false);
    expect(cfg.retryPolicy.retries).toBeGreaterThan(0);
  });

  test("circuit breaker and bulkhead values are set explicitly", () => {
    expect(cfg.circuitBreaker).toMatchObject({
      enabled: true,
      threshold: expect.any(Number),
      minRequestCount: expect.any(Number),
      windowTime: expect.any(Number),
      halfOpenTime: expect.any(Number),
    });
    expect(cfg.bulkhead).toMatchObject({
      enabled: true,
      concurrency: expect.any(Number),
      maxQueueSize: expect.any(Number),
    });
    // a business rejection (4xx) must not trip the breaker
    expect(cfg.circuitBreaker.check({ code: 400 })).toBe(false);
    expect(cfg.circuitBreaker.check({ code: 503 })).toBe(true);
  });

  test("graceful shutdown waits for in-flight requests, and the balancer stays on", () => {
    expect(cfg.tracking.enabled).toBe(true);
    expect(cfg.tracking.shutdownTimeout).toBeGreaterThan(0);
    expect(cfg.disableBalancer).toBe(false);
    expect(cfg.skipProcessEventRegistration).toBe(true);
  });

  test("tracing never records action params (they carry secrets)", () => {
    expect(cfg.tracing.tags.action.params).toBe(false);
  });

  test("single process without TRANSPORTER, NATS with it; memory cache without REDIS_URL, Redis with it", () => {
    expect(cfg.transporter).toBeNull();
    expect(cfg.cacher.type).toBe("Memory");
    const clustered = loadConfig({
      TRANSPORTER: "nats://127.0.0.1:4222",
      REDIS_URL: "redis://127.0.0.1:6379",
    });
    expect(clustered.transporter).toEqual({ type: "NATS", options: { url: "nats://127.0.0.1:4222" } });
    expect(clustered.cacher.type).toBe("Redis");
  });

  test("bad environment values fail with a message naming the variable", () => {
    expect(() => readEnv({ LOG_LEVEL: "loud" })).toThrow(/LOG_LEVEL/);
    expect(() => readEnv({ PORT: "abc" })).toThrow(/PORT/);
    expect(() => readEnv({ TRANSPORTER: "tcp://x" })).toThrow(/TRANSPORTER/);
    expect(readEnv({ SERVICES: "api, monitor" }).services).toEqual(["api", "monitor"]);
    expect(readEnv({}).services).toBeUndefined();
    // development stays on loopback; production listens everywhere unless HOST says otherwise
    expect(readEnv({}).host).toBe("127.0.0.1");
    expect(readEnv({ NODE_ENV: "production" }).host).toBe("0.0.0.0");
    expect(readEnv({ NODE_ENV: "production", HOST: "10.0.0.5" }).host).toBe("10.0.0.5");
  });

  test("the logger is pino JSON and redacts secrets at any depth", () => {
    expect(cfg.logger.type).toBe("Pino");
    const { redact } = require("../../../src/runtime/logging");
    const out = JSON.stringify(
      redact({
        email: "a@b.c",
        password: "hunter2hunter2",
        nested: {
          apiSecret: "S3CR3T",
          headers: { authorization: "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefghijklmnop" },
        },
      }),
    );
    expect(out).toContain("a@b.c");
    expect(out).not.toMatch(/hunter2|S3CR3T|eyJhbGci/);
  });

  test("a line logged while a request runs carries its id; runner-only processes go without", () => {
    const { pinoOptions, requestScope } = require("../../../src/runtime/logging");
    const lines: string[] = [];
    const pino = require("pino");
    const log = pino(pinoOptions("info"), { write: (l: string) => lines.push(l) }).child({ mod: "x" });
    log.info({ n: 1 }, "outside");
    requestScope.run({ requestId: "req-42" }, () => log.info({ n: 2 }, "inside"));
    log.info({ n: 3 }, "after");
    const parsed = lines.map((l) => JSON.parse(l));
    expect(parsed.map((l) => [l.msg, l.n, l.requestId])).toEqual([
      ["outside", 1, undefined],
      ["inside", 2, "req-42"],
      ["after", 3, undefined],
    ]);
    const names = (c: { middlewares: { name?: string }[] }) => c.middlewares.map((m) => m.name);
    expect(names(cfg)).toContain("AuraRequestId");
    expect(names(loadConfig({ SERVICES: "strategy-runner" }))).not.toContain("AuraRequestId");
    expect(names(loadConfig({ SERVICES: "strategy-runner,api" }))).toContain("AuraRequestId");
  });

  test("redaction copies only what it changes, and still masks secrets in arrays, errors and cycles", () => {
    const { redact } = require("../../../src/runtime/logging");
    // a record with nothing to hide is logged as it is (a runner writes hundreds per candle)
    const clean = { instanceId: 7, indicators: { fast: 1.5, slow: null }, actions: ["entry"], reason: "x" };
    expect(redact(clean)).toBe(clean);
    const err = Object.assign(new Error("boom"), { apiKey: "K3Y" });
    const loop: Record<string, unknown> = { list: [{ Token: "T0K" }], err };
    loop.self = loop;
    const out = redact(loop) as Record<string, unknown>;
    expect(out).not.toBe(loop);
    expect(JSON.stringify(out)).not.toMatch(/T0K|K3Y/);
    expect(out.self).toBe("[…]");
    expect(out.err).toMatchObject({ type: "Error", message: "boom", apiKey: "[REDACTED]" });
    // the caller's object is left as it was
    expect((loop.list as { Token: string }[])[0].Token).toBe("T0K");
  });
});

/** The variable names in the first column of the README's table under "## Configuration". */
function readmeVariables(): string[] {
  const readme = fs.readFileSync(path.resolve(__dirname, "../../../README.md"), "utf8");
  const section = readme.slice(readme.indexOf("\n## Configuration\n"));
  const lines = section.split("\n");
  const start = lines.findIndex((l) => l.startsWith("|"));
  const rows = [];
  for (let i = start + 2; i < lines.length && lines[i].startsWith("|"); i++) rows.push(lines[i]);
  return rows.flatMap((row) => [...row.split("|")[1].matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((m) => m[1]));
}

/** The variables validateConfig actually looks up, recorded through a proxy environment. */
function variablesRead(env: NodeJS.ProcessEnv = {}): Set<string> {
  const read = new Set<string>();
  const proxy = new Proxy(env, {
    get(target, key) {
      if (typeof key === "string") read.add(key);
      return target[key as string];
    },
  });
  validateConfig(proxy);
  return read;
}

describe("the configuration table", () => {
  const declared = Object.keys(VARIABLES).sort();

  test("the README table lists exactly the variables the configuration module declares", () => {
    const table = readmeVariables();
    expect(table.length).toBeGreaterThan(30);
    expect(new Set(table).size).toBe(table.length);
    expect([...table].sort()).toEqual(declared);
  });

  test("the module reads every variable it declares, and nothing else", () => {
    expect([...variablesRead()].sort()).toEqual(declared);
    // the same with the other branches (Binance, a stepped simulator)
    expect([...variablesRead({ EXCHANGE: "binance", SIM_STEP: "1" })].sort()).toEqual(declared);
  });
});

describe("typed readers", () => {
  // [variable, bad value, what the message must say is accepted]
  const bad: [VariableName, string, RegExp][] = [
    ["PORT", "abc", /integer from 0 to 65535/],
    ["PORT", "1.5", /integer from 0 to 65535/],
    ["PORT", "70000", /integer from 0 to 65535/],
    ["HEALTH_PORT", "-1", /integer from 0 to 65535/],
    ["REQUEST_TIMEOUT_MS", "10s", /whole number of milliseconds/],
    ["RATE_LIMIT_USER_PER_MIN", "-5", /integer ≥ 0/],
    ["TRUST_PROXY_HOPS", "abc", /integer ≥ 0/],
    ["LOGIN_IP_LOCKOUT_THRESHOLD", "0", /integer from 1 to 100000/],
    ["ACCESS_TOKEN_TTL_SEC", "3600", /whole number of seconds from 30 to 900/],
    ["REFRESH_TOKEN_TTL_SEC", "59", /whole number of seconds ≥ 60/],
    ["AUTH_STATE_TTL_MS", "60001", /milliseconds from 0 to 60000/],
    ["KEY_RECHECK_INTERVAL_MS", "9999999999", /milliseconds from 0 to 2147483647/],
    ["HEALTH_CHECK_INTERVAL_MS", "abc", /milliseconds/],
    ["HEALTH_CHECK_INTERVAL_MS", "0", /milliseconds/],
    ["MARKET_DATA_STALE_MS", "-1", /milliseconds/],
    ["BACKTEST_WORKERS", "abc", /integer ≥ 0/],
    ["BACKTEST_QUEUE_PER_USER", "0", /integer from 1 to 100000/],
    ["BACKTEST_QUEUE_MAX", "1000001", /integer from 1 to 1000000/],
    ["SIM_PORT", "8o90", /integer from 0 to 65535/],
    ["SIM_SPEED", "fast", /positive number/],
    ["SIM_FROM", "last tuesday", /date/],
    ["SIM_STEP", "maybe", /true or false/],
    ["MARKET_DATA_BUNDLED", "maybe", /true or false/],
    ["LOG_LEVEL", "loud", /one of debug, info, warn, error, fatal/],
    ["EXCHANGE", "kraken", /one of binance, binance-testnet, sim/],
    ["TRANSPORTER", "tcp://x:4222", /nats:\/\/host:port URL/],
    ["REDIS_URL", "localhost:6379", /redis:\/\/ or rediss:\/\/ URL/],
    ["DATABASE_URL", "mysql://db/aura", /postgres:\/\/ or postgresql:\/\/ URL/],
    ["SIM_URL", "sim:7000", /http\(s\):\/\/host:port URL/],
    ["MARKET_DATA_WATCH", "BTCUSDT", /BTCUSDT:1h/],
    ["MARKET_DATA_WATCH", "BTCUSDT:1M", /interval one of/],
    ["SERVICES", "api;auth", /service names/],
    ["BODY_LIMIT", "lots", /size such as 100kb/],
    ["AURA_ADMIN_EMAIL", "admin", /email address/],
  ];

  test.each(bad)(
    "%s=%j is refused, naming the variable, the value and what is accepted",
    (name, value, accepts) => {
      let err: unknown;
      try {
        validateConfig({ [name]: value });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      const e = err as ConfigError;
      expect(e.problems.map((p) => p.variable)).toEqual([name]);
      expect(e.message).toContain(`${name} must be`);
      // a list names the entry it refused
      expect(e.message).toContain(`"${value.split(",").pop()}"`);
      expect(e.message).toMatch(accepts);
    },
  );

  test("every problem is reported at once, each variable once", () => {
    let err: ConfigError | undefined;
    try {
      validateConfig({ PORT: "abc", SIM_STEP: "maybe", EXCHANGE: "kraken", BACKTEST_WORKERS: "many" });
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err?.problems.map((p) => p.variable).sort()).toEqual([
      "BACKTEST_WORKERS",
      "EXCHANGE",
      "PORT",
      "SIM_STEP",
    ]);
    expect(err?.message).toMatch(/^4 configuration problems:/);
  });

  test("unset and blank mean the documented default; good values are read", () => {
    expect(validateConfig({}).runtime.port).toBe(3000);
    expect(validateConfig({ PORT: " " }).runtime.port).toBe(3000);
    expect(validateConfig({ PORT: "8080", SIM_STEP: "on" }).sim.step).toBe(true);
    expect(backtestConfig({})).toEqual({ workers: undefined, queuePerUser: 250, queueMax: 5000 });
    expect(backtestConfig({ BACKTEST_WORKERS: "0" }).workers).toBeUndefined();
    expect(
      backtestConfig({ BACKTEST_WORKERS: "3", BACKTEST_QUEUE_PER_USER: "10", BACKTEST_QUEUE_MAX: "100" }),
    ).toEqual({ workers: 3, queuePerUser: 10, queueMax: 100 });
    expect(monitorConfig({}).healthIntervalMs).toBe(30_000);
    expect(keysConfig({})).toEqual({ recheckIntervalMs: 86_400_000 });
    expect(exchangeConfig({ SIM_URL: "http://sim:7000/" })).toEqual({
      kind: "sim",
      simUrl: "http://sim:7000",
      simPort: 8090,
    });
    // the simulator and market data read SIM_STEP the same way
    expect(marketDataConfig({ SIM_STEP: "yes" }).staleAfterMs).toBe(0);
    expect(validateConfig({ SIM_STEP: "yes" }).sim.step).toBe(true);
  });
});

describe("secrets in error messages", () => {
  const messageFor = (env: NodeJS.ProcessEnv, secret: string) => {
    let message = "";
    try {
      validateConfig(env);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).not.toBe("");
    expect(message).not.toContain(secret);
    return message;
  };

  test("JWT_SECRET and the master keys are never quoted", () => {
    const weak = "hunter2hunter2";
    expect(messageFor({ JWT_SECRET: weak }, weak)).toMatch(/JWT_SECRET/);
    const notBase64 = "not base64 at all! s3cr3t";
    expect(messageFor({ AURA_MASTER_KEY: notBase64 }, notBase64)).toMatch(/AURA_MASTER_KEY is not base64/);
    const short = crypto.randomBytes(16).toString("base64");
    const old = `${crypto.randomBytes(32).toString("base64")},${short}`;
    expect(messageFor({ AURA_MASTER_KEYS_OLD: old }, short)).toMatch(/AURA_MASTER_KEYS_OLD\[1\]/);
  });

  test("a URL's password is masked, the rest of the value is shown", () => {
    const pw = "pg-Passw0rd";
    expect(messageFor({ DATABASE_URL: `mysql://aura:${pw}@db:3306/aura` }, pw)).toContain(
      '"mysql://***@db:3306/aura"',
    );
    expect(messageFor({ REDIS_URL: `http://:${pw}@redis:6379` }, pw)).toContain("***@redis:6379");
    expect(messageFor({ TRANSPORTER: `tcp://aura:${pw}@nats:4222` }, pw)).toMatch(/TRANSPORTER/);
    expect(messageFor({ SIM_URL: `ftp://u:${pw}@sim` }, pw)).toMatch(/SIM_URL/);
    expect(messageFor({ DATABASE_URL: `mysql://db/aura?password=${pw}` }, pw)).toContain("password=***");
    expect(messageFor({ TRANSPORTER: `nats://aura:a/b@c${pw}@nats:4222` }, pw)).toMatch(/TRANSPORTER/);
    // not a URL: nothing says where a password would be, so none of it is shown
    expect(messageFor({ DATABASE_URL: `host=db password=${pw}` }, pw)).toMatch(/DATABASE_URL/);
    expect(messageFor({ REDIS_URL: pw }, pw)).toMatch(/REDIS_URL/);
  });

  test("production lists every missing secret at start, with the other problems", () => {
    const message = messageFor({ NODE_ENV: "production", PORT: "x" }, "never-set");
    expect(message).toMatch(/JWT_SECRET is not set/);
    expect(message).toMatch(/AURA_MASTER_KEY is not set/);
    expect(message).toMatch(/PORT must be/);
  });
});

test("a production process without a service that uses the secrets does not need them", () => {
  const prod = { NODE_ENV: "production", DATABASE_URL: "postgres://aura@db:5432/aura" };
  expect(() => validateConfig({ ...prod, SERVICES: "market-data,exchange-sim" })).not.toThrow();
  expect(() => validateConfig({ ...prod, SERVICES: "backtest" })).not.toThrow();
  expect(() => validateConfig({ ...prod, SERVICES: "api" })).toThrow(/JWT_SECRET is not set/);
  expect(() => validateConfig(prod)).toThrow(/AURA_MASTER_KEY is not set/);
  // a secret that is set is checked wherever it is
  expect(() => validateConfig({ ...prod, SERVICES: "backtest", JWT_SECRET: "short" })).toThrow(/JWT_SECRET/);
});

test("the start-up check also lists unknown SERVICES and a production run without DATABASE_URL", () => {
  let err: ConfigError | undefined;
  try {
    validateConfig(
      { NODE_ENV: "production", SERVICES: "api,strategy-runner", PORT: "x" },
      { availableServices: ["api", "auth", "monitor"] },
    );
  } catch (e) {
    err = e as ConfigError;
  }
  expect(err?.message).toMatch(
    /SERVICES names unknown service\(s\): strategy-runner; available: api, auth, monitor/,
  );
  expect(err?.message).toMatch(/NODE_ENV=production requires DATABASE_URL/);
  expect(err?.message).toMatch(/PORT must be/);
});

describe("the bus (TRANSPORTER with NATS_*)", () => {
  const { transportConfig } = require("../../../src/adapters/config/transport");
  const { natsTransporterOptions, busNodeId } = require("../../../src/runtime/bus");
  const os = require("node:os");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "aura-bus-config-"));
  const file = (name: string, text: string) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, text, { mode: 0o600 });
    return p;
  };
  const ca = file("ca.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
  const key = file("key.pem", "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n");
  const seedText = `SU${"A".repeat(56)}`;
  const seed = file("user.nk", `${seedText}\n`);
  const creds = file(
    "user.creds",
    "-----BEGIN NATS USER JWT-----\neyJ\n------END NATS USER JWT------\n-----BEGIN USER NKEY SEED-----\nSUA\n------END USER NKEY SEED------\n",
  );
  const T = { TRANSPORTER: "nats://nats:4222" };
  const problemsOf = (env: NodeJS.ProcessEnv) => {
    try {
      validateConfig(env);
      return [];
    } catch (e) {
      return (e as ConfigError).problems;
    }
  };
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("TLS files and one kind of credentials become the nats client's options, secrets as authenticators", () => {
    const bus = transportConfig({ ...T, NATS_TLS_CA: ca, NATS_USER: "gateway", NATS_PASSWORD: "pw-1" });
    expect(bus).toMatchObject({
      tls: { caFile: ca },
      auth: { kind: "password", user: "gateway" },
      role: "gateway",
    });
    const opts = natsTransporterOptions(T.TRANSPORTER, bus);
    expect(opts).toMatchObject({ url: T.TRANSPORTER, tls: { caFile: ca } });
    expect(typeof opts.authenticator).toBe("function");
    // nothing a dump of broker.options would print holds the password
    expect(JSON.stringify(opts)).not.toContain("pw-1");
    expect(opts.authenticator()).toEqual({ user: "gateway", pass: "pw-1" });
    expect(busNodeId(bus, "host-1")).toBe("gateway.host-1");

    const nkey = transportConfig({
      ...T,
      NATS_TLS_CA: ca,
      NATS_TLS_CERT: ca,
      NATS_TLS_KEY: key,
      NATS_NKEY_SEED: seed,
    });
    expect(nkey).toMatchObject({ auth: { kind: "nkey", seedFile: seed }, role: undefined });
    expect(natsTransporterOptions(T.TRANSPORTER, nkey).tls).toEqual({
      caFile: ca,
      certFile: ca,
      keyFile: key,
    });
    expect(JSON.stringify(nkey)).not.toContain(seedText);
    expect(transportConfig({ ...T, NATS_CREDS: creds }).auth).toEqual({ kind: "creds", credsFile: creds });
    expect(transportConfig({ TRANSPORTER: "nats://backtest:pw@nats:4222" })).toMatchObject({
      auth: { kind: "url", user: "backtest" },
      role: "backtest",
    });
  });

  test("missing or malformed files, half pairs and two kinds of credentials are refused, naming the variable", () => {
    const cases: [NodeJS.ProcessEnv, string, RegExp][] = [
      [{ ...T, NATS_TLS_CA: path.join(dir, "nope.pem") }, "NATS_TLS_CA", /readable file.*nope\.pem.*ENOENT/],
      [{ ...T, NATS_TLS_CA: key }, "NATS_TLS_CA", /holding a certificate/],
      [{ ...T, NATS_TLS_CA: dir }, "NATS_TLS_CA", /not a file/],
      [{ ...T, NATS_NKEY_SEED: ca }, "NATS_NKEY_SEED", /user seed/],
      [{ ...T, NATS_CREDS: seed }, "NATS_CREDS", /holding a creds/],
      [{ ...T, NATS_TLS_CA: ca, NATS_TLS_CERT: ca }, "NATS_TLS_KEY", /go together/],
      [{ ...T, NATS_TLS_CERT: ca, NATS_TLS_KEY: key }, "NATS_TLS_CA", /need NATS_TLS_CA/],
      [{ ...T, NATS_USER: "gateway" }, "NATS_PASSWORD", /go together/],
      [{ ...T, NATS_USER: "a.b" }, "NATS_USER", /letters, digits/],
      [
        { ...T, NATS_USER: "gateway", NATS_PASSWORD: "x", NATS_NKEY_SEED: seed },
        "NATS_NKEY_SEED",
        /one place/,
      ],
      [{ TRANSPORTER: "nats://u:p@nats:4222", NATS_CREDS: creds }, "NATS_CREDS", /one place/],
      [{ NATS_TLS_CA: ca }, "NATS_TLS_CA", /TRANSPORTER is not/],
      [{ ...T, NATS_ALLOW_INSECURE: "maybe" }, "NATS_ALLOW_INSECURE", /true or false/],
    ];
    for (const [env, variable, message] of cases) {
      const problems = problemsOf(env);
      expect(problems.map((p) => p.variable)).toContain(variable);
      expect(problems.find((p) => p.variable === variable)!.message).toMatch(message);
    }
    // the password is never quoted, whatever else is wrong
    const secret = "hunter2-on-the-bus";
    const all = problemsOf({ NATS_USER: "x", NATS_PASSWORD: secret });
    expect(all.length).toBeGreaterThan(0);
    expect(JSON.stringify(all)).not.toContain(secret);
  });

  test("production refuses a NATS bus without TLS or credentials, unless NATS_ALLOW_INSECURE", () => {
    const prod = { NODE_ENV: "production", ...T };
    const problems = transportProblems(prod);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ variable: "NATS_TLS_CA", message: expect.stringMatching(/requires TLS/) }),
        expect.objectContaining({
          variable: "TRANSPORTER",
          message: expect.stringMatching(/requires credentials/),
        }),
      ]),
    );
    expect(transportProblems({ ...prod, NATS_TLS_CA: ca, NATS_USER: "gateway", NATS_PASSWORD: "x" })).toEqual(
      [],
    );
    expect(transportProblems({ ...prod, NATS_ALLOW_INSECURE: "true" })).toEqual([]);
    // a single production process has no bus to secure
    expect(transportProblems({ NODE_ENV: "production" })).toEqual([]);
  });

  function transportProblems(env: NodeJS.ProcessEnv) {
    try {
      transportConfig(env);
      return [];
    } catch (e) {
      return (e as ConfigError).problems;
    }
  }
});
