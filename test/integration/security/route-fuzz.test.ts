// Every route of the allowlist, driven with hostile values through the real gateway with every
// service running in one process (as `npm start` runs them): wrong types, huge, negative and
// past-2^63 numbers, NaN-ish strings, impossible dates, NUL and control characters, very long
// strings, deep and huge JSON, prototype keys, in path params, query strings and bodies, as the
// right kind of caller for the route (user, admin, or nobody for public routes).
// Fails on any 5xx, on any request slower than HANG_MS, and on any change to Object.prototype.
// The route table is iterated, so routes added later are fuzzed without touching this file.
// Reproduce a failure with the printed seed: FUZZ_SEED=<seed> npx jest …/route-fuzz.test.ts
// (FUZZ_RUNS sets the requests per route).
import nodeHttp from "node:http";
import fc from "fast-check";
import { API_PREFIX, ROUTES, aliasKey, type RouteSpec } from "../../../src/gateway/routes";
import { MAX_TIME_MS } from "../../../src/gateway/params";
import { availableServices } from "../../../src/runtime/runner";
import {
  fakeExchangeClient,
  http,
  registerAndLogin,
  startSecurityEnv,
  uniqueEmail,
  type SecurityEnv,
  type Session,
} from "./helpers";

jest.setTimeout(120_000);

const SEED = Number(process.env.FUZZ_SEED ?? 20_241_202);
const RUNS_PER_ROUTE = Number(process.env.FUZZ_RUNS ?? 12);
/** a request slower than this is a hang (the broker's own request timeout is longer) */
const HANG_MS = 8_000;
/** names a successful pollution would show up under */
const PROBES = ["polluted", "isAdmin", "role", "userId", "admin"];

let env: SecurityEnv;
let base: string;
let user: Session;
let admin: Session;
let target: Session;
/** the known client the disposable sessions log in as (see tokenFor) */
let userDevice: string;
/** disposable-session logins come from their own address, which fuzzed logins never lock */
const SESSION_IP = "192.0.2.77";
const protoNames = Object.getOwnPropertyNames(Object.prototype).sort();
const statuses = new Map<number, number>();

beforeAll(async () => {
  console.info(`route fuzz: FUZZ_SEED=${SEED}, ${RUNS_PER_ROUTE} requests per route`);
  env = await startSecurityEnv({
    services: availableServices(),
    settings: {
      // X-Forwarded-For counts only for the disposable-session logins; fuzz requests send none
      api: { trustProxyHops: 1 },
      // loopback only, a free port, no replay clock running: the simulator answers REST and waits
      "exchange-sim": { port: 0, step: true },
      "market-data": { watch: [], loadBundled: false, staleAfterMs: 0 },
      keys: {
        validation: { createClient: fakeExchangeClient(() => ({})), timeoutMs: 2000 },
        recheckIntervalMs: 0,
      },
      backtest: { workers: 1 },
    },
  });
  base = env.cluster.baseUrl;
  // user ids far beyond what generated integers reach, so a fuzzed admin action cannot disable or
  // demote the fuzzing callers themselves; only `target` is aimed at on purpose
  await env.db.sequelize.query(`SELECT setval('users_id_seq', 7000000000)`);
  admin = await registerAndLogin(base, uniqueEmail("fuzz-admin"));
  user = await registerAndLogin(base, uniqueEmail("fuzz-user"));
  // the object of admin actions, so disabling or demoting it leaves the fuzzing callers working
  target = await registerAndLogin(base, uniqueEmail("fuzz-target"));
  userDevice = (await sessionLogin()).deviceToken;
});

afterAll(async () => {
  await env?.stop();
});

// ------------------------------------------------------------------ hostile values

const NASTY_STRINGS = [
  "",
  " ",
  "\u0000",
  "a\u0000b",
  "1\u0000",
  "%00",
  "\u0001\u0002\u001b[31m\u007f",
  "\r\nX-Injected: 1",
  "\ud800",
  "\uffff\ufeff",
  "🙂👩‍💻",
  "NaN",
  "Infinity",
  "-Infinity",
  "1e309",
  "-0",
  "0x10",
  "1e3",
  "0.1",
  "9007199254740993",
  "9223372036854775807",
  "9223372036854775808",
  "-9223372036854775809",
  "18446744073709551616",
  "99999999999999999999",
  "9999999999999999",
  "2024-02-30T00:00:00Z",
  "2023-02-29",
  "0000-00-00",
  "9999-12-31",
  "2024-13-45T25:61:61Z",
  "+275760-09-13T00:00:00.000Z",
  "-271821-04-20T00:00:00.000Z",
  "1970-01-01T00:00:00+99:99",
  "null",
  "undefined",
  "true",
  "[]",
  "{}",
  "../../etc/passwd",
  "' OR '1'='1",
  "'; DROP TABLE users; --",
  "$(reboot)",
  "<script>alert(1)</script>",
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "BTCUSDT\u0000",
  "x".repeat(300),
];

const NASTY_NUMBERS = [
  -1,
  0,
  -0,
  0.5,
  -0.5,
  2 ** 31,
  2 ** 53,
  2 ** 53 + 2,
  2 ** 63,
  2 ** 64,
  1e21,
  1e308,
  -1e308,
  Number.MAX_VALUE,
  Number.MIN_VALUE,
  Number.MAX_SAFE_INTEGER,
  -Number.MAX_SAFE_INTEGER,
  9999999999999999,
];

/** Values a real client would send, so requests get past validation into handlers. */
const plausible = (): fc.Arbitrary<unknown> =>
  fc.constantFrom<unknown>(
    "BTCUSDT",
    "ETHUSDT",
    "1h",
    "1m",
    "1d",
    "2023-03-20",
    "2023-03-21T00:00:00Z",
    1_679_270_400_000,
    1,
    5,
    100,
    target.id,
    String(target.id),
    "sim",
    "binance",
    "fuzz label",
    "user",
    "admin",
    "sharpe",
    "FUZZKEYFUZZKEYFUZZKEY1234",
    "fuzz secret fuzz secret 1234",
    "someone@example.com",
    "an unguessable passphrase 9",
    "00000000-0000-4000-8000-000000000000",
    true,
    false,
  );

const scalar: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom<unknown>(...NASTY_STRINGS) },
  { weight: 3, arbitrary: fc.constantFrom<unknown>(...NASTY_NUMBERS) },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
  { weight: 1, arbitrary: fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }).map(String) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ minLength: 2_000, maxLength: 6_000 }) },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()) },
);

const HOSTILE_KEYS = [
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "valueOf",
  "hasOwnProperty",
  "__proto__.polluted",
  "constructor.prototype.polluted",
  "a[__proto__][polluted]",
  "polluted",
  "$$strict",
  "userId",
  "role",
];

/** JSON text of a structure built to hurt: deep, wide, huge, or with prototype keys (all < 100 kB). */
const structuredJson: fc.Arbitrary<string> = fc.oneof(
  fc.integer({ min: 20, max: 30_000 }).map((d) => "[".repeat(d) + "0" + "]".repeat(d)),
  fc.integer({ min: 20, max: 6_000 }).map((d) => '{"a":'.repeat(d) + "1" + "}".repeat(d)),
  fc.integer({ min: 1_000, max: 30_000 }).map((n) => `[${"0,".repeat(n)}0]`),
  fc
    .integer({ min: 100, max: 6_000 })
    .map((n) => `{${Array.from({ length: n }, (_, i) => `"k${i}":1`).join(",")}}`),
  fc
    .array(fc.tuple(fc.constantFrom(...HOSTILE_KEYS), scalar), { minLength: 1, maxLength: 4 })
    .map(
      (kv) => `{${kv.map(([k, v]) => `${JSON.stringify(k)}:{"polluted":${JSON.stringify(v)}}`).join(",")}}`,
    ),
  fc.constant(
    '{"__proto__":{"polluted":"yes","isAdmin":true},"constructor":{"prototype":{"polluted":"yes"}}}',
  ),
  fc.array(scalar, { maxLength: 50 }).map((a) => JSON.stringify(a)),
);

/** JSON text of one field's value. */
const jsonValue = (): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 5, arbitrary: scalar.map((v) => JSON.stringify(v)) },
    { weight: 4, arbitrary: plausible().map((v) => JSON.stringify(v)) },
    { weight: 2, arbitrary: structuredJson },
  );

/** One query-string value (always text: that is all a query can carry). */
const queryValue = (): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 5, arbitrary: scalar.map((v) => (typeof v === "string" ? v : JSON.stringify(v))) },
    { weight: 4, arbitrary: plausible().map(String) },
  );

const RAW_QUERY_TRICKS = [
  "__proto__[polluted]=1",
  "constructor[prototype][polluted]=1",
  "a[__proto__][polluted]=1",
  "__proto__.polluted=1",
  "symbol[]=BTCUSDT&symbol[]=ETHUSDT",
  "from[$gt]=1",
  "limit[0]=1",
  "limit[length]=99999999",
  "a[b][c][d][e][f][g][h]=1",
  "a[99999]=1",
  "toString=1&valueOf=1",
  "x=%E0%A4%A",
  "x=%ED%A0%80",
  "%C0%AE%C0%AE=1",
  "%ZZ=1",
  "&&&=&=",
  `k=${"a".repeat(5_000)}`,
  "id=1&id=2",
];

/**
 * Valid values by field name. Near-valid requests use them for every field but one, so the
 * hostile value gets past validation of the others and reaches the handler's own code.
 */
function hintFor(field: string, route?: RouteSpec): fc.Arbitrary<unknown> | undefined {
  const when = fc.oneof(
    fc.constantFrom(
      "2023-03-01",
      "2023-03-20T00:00:00Z",
      "2024-12-31",
      "2100-12-31T23:59:59.999Z",
      "1970-01-01",
    ),
    fc.integer({ min: 0, max: MAX_TIME_MS }),
  );
  const passphrase = fc.constantFrom("an unguessable passphrase 9", "yet another long passphrase 42");
  const hints: Record<string, () => fc.Arbitrary<unknown>> = {
    symbol: () => fc.constantFrom("BTCUSDT", "ETHUSDT", "btcusdt", "NOPEUSDT"),
    interval: () => fc.constantFrom("1h", "1m", "4h", "1d"),
    from: () => when,
    to: () => when,
    before: () =>
      fc
        .date({ min: new Date("1970-01-01"), max: new Date("2100-01-01"), noInvalidDate: true })
        .map((d) => d.toISOString()),
    limit: () => fc.integer({ min: 1, max: 1000 }),
    afterId: () => fc.integer({ min: 1, max: 20 }),
    // admin actions aim at the target user only, so the fuzzing callers stay active admins/users
    id: () =>
      route?.auth === "admin"
        ? fc.constantFrom<unknown>(target.id, String(target.id), 999_999)
        : fc.constantFrom<unknown>(1, 2, 3, "00000000-0000-4000-8000-000000000000"),
    email: () => fc.constantFrom("someone@example.com", "Someone@Example.com", "new.person@example.com"),
    password: () => passphrase,
    currentPassword: () => passphrase,
    newPassword: () => passphrase,
    deviceToken: () => fc.stringMatching(/^adt1\.[A-Za-z0-9_-]{22}\.[0-9]{10}\.[A-Za-z0-9_-]{43}$/),
    refreshToken: () => fc.stringMatching(/^art_[A-Za-z0-9_-]{43}$/),
    label: () => fc.string({ minLength: 1, maxLength: 64 }),
    exchange: () => fc.constantFrom("sim", "binance", "binance-testnet"),
    apiKey: () => fc.stringMatching(/^[A-Za-z0-9]{16,64}$/),
    apiSecret: () => fc.string({ minLength: 16, maxLength: 80 }),
    role: () => fc.constantFrom("user", "admin"),
    ids: () => fc.array(fc.uuid(), { minLength: 2, maxLength: 10 }),
    grid: () =>
      fc.dictionary(
        fc.constantFrom("indicators.fast.period", "risk.stopLossPct", "a.b", "entry.all"),
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 3 }),
        { maxKeys: 3 },
      ),
    rankBy: () => fc.constantFrom("sharpe", "maxDrawdownPct", "totalReturnPct"),
    descending: () => fc.boolean(),
    initialBalance: () => fc.double({ min: 1, max: 1e6, noNaN: true }),
    feeRate: () => fc.double({ min: 0, max: 0.1, noNaN: true }),
    slippageBps: () => fc.integer({ min: 0, max: 1000 }),
    strategyId: () => fc.integer({ min: 1, max: 5 }),
  };
  return hints[field]?.();
}

// ------------------------------------------------------------------ requests

/** Percent-encoding that survives lone surrogates (they have no UTF-8 form; raw tricks send bytes). */
function encode(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return encodeURIComponent(s.replace(/[\ud800-\udfff]/g, "\ufffd"));
  }
}

interface FuzzRequest {
  method: RouteSpec["method"];
  path: string;
  body?: string;
  authorization?: string;
  /** a route that ends the caller's session gets a session of its own */
  ownSession?: boolean;
}

function describeRequest(r: FuzzRequest): string {
  const clip = (s: string) => (s.length > 600 ? `${s.slice(0, 600)}… (${s.length} chars)` : s);
  return `${r.method} ${clip(r.path)}${r.body !== undefined ? `\n  body: ${clip(JSON.stringify(r.body))}` : ""}${
    r.authorization ? `\n  authorization: ${clip(r.authorization)}` : ""
  }`;
}

/** The parameter names an action declares (so values land on fields the handler reads). */
function fieldsOf(action: string): string[] {
  const ep: any = env.cluster.broker.findNextActionEndpoint(action);
  const params = ep && !(ep instanceof Error) ? ep.action?.params : undefined;
  return params ? Object.keys(params).filter((k) => !k.startsWith("$$")) : [];
}

function requestFor(route: RouteSpec): fc.Arbitrary<FuzzRequest> {
  const pathParams = [...route.path.matchAll(/:([A-Za-z_]\w*)/g)].map((m) => m[1]);
  const fields = fieldsOf(route.action).filter((f) => !pathParams.includes(f));
  const hasBody = route.method === "POST" || route.method === "PUT" || route.method === "PATCH";
  const fieldEntry = (f: string) =>
    fc.option(jsonValue(), { freq: 3 }).map((v) => (v === null ? null : ([f, v] as const)));
  const objectBody = fc
    .tuple(
      fc.tuple(...fields.map(fieldEntry)),
      fc.array(fc.tuple(fc.constantFrom(...HOSTILE_KEYS), jsonValue()), { maxLength: 2 }),
    )
    .map(([known, extra]) => {
      const entries = [...known.filter((e): e is readonly [string, string] => e !== null), ...extra];
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(",")}}`;
    });
  // every field valid (where a hint knows how) except one, which gets a hostile value
  const hinted = (f: string) => (hintFor(f, route) ?? plausible()).map((v) => JSON.stringify(v));
  const hintedText = (f: string) =>
    (hintFor(f, route) ?? plausible()).map((v) => (typeof v === "string" ? v : JSON.stringify(v)));
  const nearValidBody = (fields.length ? fc.nat({ max: fields.length - 1 }) : fc.constant(-1)).chain((bad) =>
    fc
      .tuple(...fields.map((f, i) => (i === bad ? jsonValue() : hinted(f)).map((v) => [f, v] as const)))
      .map((entries) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(",")}}`),
  );
  const body = fc.oneof(
    { weight: 4, arbitrary: objectBody },
    { weight: 4, arbitrary: nearValidBody },
    { weight: 2, arbitrary: structuredJson },
    { weight: 1, arbitrary: fc.constantFrom("null", '"text"', "42", "[]", "{", '{"a":1}garbage', "") },
  );
  const pathValue = fc.oneof(
    { weight: 4, arbitrary: queryValue() },
    { weight: 1, arbitrary: fc.constantFrom(...NASTY_NUMBERS).map(String) },
    { weight: 2, arbitrary: hintedText("id") },
  );
  const query = fc
    .tuple(
      fc.tuple(
        ...fields.map((f) =>
          fc
            .option(fc.oneof(queryValue(), hintedText(f), hintedText(f)), { freq: 2 })
            .map((v) => (v === null ? null : ([f, v] as const))),
        ),
      ),
      fc.option(fc.constantFrom(...RAW_QUERY_TRICKS), { freq: 2 }),
    )
    .map(([known, trick]) => {
      const parts = known
        .filter((e): e is readonly [string, string] => e !== null)
        .map(([k, v]) => `${encode(k)}=${encode(v)}`);
      if (trick) parts.push(trick);
      return parts.length ? `?${parts.join("&")}` : "";
    });
  const authorization = fc.oneof(
    { weight: 12, arbitrary: fc.constant(undefined) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        "Bearer",
        "Bearer ",
        "Bearer a.b.c",
        "Bearer \u00ff\u00fe",
        `Bearer ${"a".repeat(5_000)}.b.c`,
        "Basic Zm9vOmJhcg==",
        "bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.",
      ),
    },
  );
  return fc
    .record({
      pathValues: fc.tuple(...pathParams.map(() => pathValue)),
      query:
        route.method === "GET" || route.method === "DELETE"
          ? query
          : fc.option(query, { freq: 4 }).map((q) => q ?? ""),
      body: hasBody
        ? body.map((b): string | undefined => b)
        : fc.option(body, { freq: 8 }).map((b) => b ?? undefined),
      authorization,
    })
    .map(({ pathValues, query: q, body: b, authorization: auth }) => {
      let i = 0;
      const filled = route.path.replace(/:([A-Za-z_]\w*)/g, () => {
        const v = String(pathValues[i++]).slice(0, 2_000);
        return v === "" ? "%20" : encode(v);
      });
      const r: FuzzRequest = {
        method: route.method,
        path: `${API_PREFIX}${filled}${q}`,
        body: b,
        authorization: auth,
        ownSession: route.action === "auth.logout" || route.action === "auth.changePassword",
      };
      // fast-check prints a failing value with this: a readable request, not 100 kB of JSON
      return Object.assign(r, { [fc.toStringMethod]: () => describeRequest(r) });
    });
}

/**
 * A fresh session of the fuzzing user, as a known client (its device token) from its own address:
 * fuzzed wrong passwords may lock the account and the loopback address, not this client.
 */
async function sessionLogin(): Promise<{ accessToken: string; deviceToken: string }> {
  const res = await http(base, "POST", "/auth/login", {
    body: { email: user.email, password: user.password, ...(userDevice ? { deviceToken: userDevice } : {}) },
    headers: { "x-forwarded-for": SESSION_IP },
  });
  if (res.status !== 200)
    throw new Error(`could not log in for a disposable session: ${res.status} ${res.text}`);
  return res.body;
}

async function tokenFor(route: RouteSpec, r: FuzzRequest): Promise<string | undefined> {
  if (route.auth === "public") return undefined;
  if (route.auth === "admin") return admin.accessToken;
  // logout and password change end the session they are called with: give them one to end
  return r.ownSession ? (await sessionLogin()).accessToken : user.accessToken;
}

/** node:http rather than fetch: fetch refuses a body on GET, which a hostile client can send. */
function rawRequest(
  method: string,
  path: string,
  headers: Record<string, string>,
  body: string | undefined,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = nodeHttp.request(base + path, { method, headers, timeout: HANG_MS + 2_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }),
      );
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${HANG_MS + 2_000} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}

async function send(route: RouteSpec, r: FuzzRequest): Promise<{ status: number; ms: number; text: string }> {
  const token = await tokenFor(route, r);
  const headers: Record<string, string> = {};
  if (r.body !== undefined) {
    headers["content-type"] = "application/json";
    headers["content-length"] = String(Buffer.byteLength(r.body));
  }
  const authorization = r.authorization ?? (token ? `Bearer ${token}` : undefined);
  if (authorization) headers.authorization = authorization;
  const started = Date.now();
  const res = await rawRequest(r.method, r.path, headers, r.body);
  return { ...res, ms: Date.now() - started };
}

function assertPrototypesIntact(context: string): void {
  const now = Object.getOwnPropertyNames(Object.prototype).sort();
  const touched = PROBES.filter((p) => (({}) as any)[p] !== undefined || ([] as any)[p] !== undefined);
  if (now.join() !== protoNames.join() || touched.length)
    throw new Error(
      `Object.prototype changed after ${context}: own names ${JSON.stringify(now)}, polluted probes ${JSON.stringify(touched)}`,
    );
}

// ------------------------------------------------------------------ the properties

test("every route of the table is served by a running service", () => {
  expect(ROUTES.length).toBeGreaterThan(0);
  const unserved = ROUTES.filter((r) => env.cluster.broker.findNextActionEndpoint(r.action) instanceof Error);
  expect(unserved.map(aliasKey)).toEqual([]);
});

describe.each(ROUTES.map((r) => [aliasKey(r), r] as const))("%s", (_name, route) => {
  test("no 5xx, no hang, no prototype pollution", async () => {
    await fc.assert(
      fc.asyncProperty(requestFor(route), async (r) => {
        const { status, ms, text } = await send(route, r);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        const seen = `FUZZ_SEED=${SEED}: ${describeRequest(r)}\n  → ${status} in ${ms} ms: ${text.slice(0, 300)}`;
        if (status >= 500) throw new Error(`server error for ${seen}`);
        if (ms > HANG_MS) throw new Error(`slower than ${HANG_MS} ms: ${seen}`);
        assertPrototypesIntact(seen);
      }),
      { seed: SEED, numRuns: RUNS_PER_ROUTE, endOnFailure: true },
    );
  });
});

test("values that once gave a 500 are refused with 400", async () => {
  for (const [method, path, token] of [
    ["GET", "/market/klines?symbol=BTCUSDT&interval=1h&from=9999999999999999", user.accessToken],
    ["GET", "/market/klines?symbol=BTCUSDT&interval=1h&to=2024-02-30T00:00:00Z", user.accessToken],
    ["POST", "/admin/users/99999999999999999999/disable", admin.accessToken],
    ["GET", "/keys/9223372036854775808", user.accessToken],
  ] as const) {
    const res = await http(base, method, path, { token });
    expect([method, path, res.status, res.body?.error?.code]).toEqual([
      method,
      path,
      400,
      "VALIDATION_ERROR",
    ]);
  }
  const nul = await http(base, "POST", "/auth/login", {
    body: { email: "a\u0000@example.com", password: "x" },
  });
  expect(nul.status).toBe(400);
  // a number field given {"toString": …}: the validator's Number(x) threw (found with FUZZ_SEED=7)
  const body = '{"limit":{"toString":{"polluted":true}},"initialBalance":{"toString":1}}';
  for (const [method, path, token] of [
    ["GET", "/api/v1/admin/users", admin.accessToken],
    ["GET", "/api/v1/market/klines?symbol=BTCUSDT&interval=1h", user.accessToken],
    ["POST", "/api/v1/backtests", user.accessToken],
  ] as const) {
    const res = await rawRequest(
      method,
      path,
      {
        "content-type": "application/json",
        "content-length": String(Buffer.byteLength(body)),
        authorization: `Bearer ${token}`,
      },
      body,
    );
    expect([method, path, res.status]).toEqual([method, path, 400]);
  }
});

test("Object.prototype is as it was, and the callers still work", async () => {
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoNames);
  for (const p of PROBES) expect([p, ({} as any)[p]]).toEqual([p, undefined]);
  expect((await http(base, "GET", "/auth/me", { token: user.accessToken })).status).toBe(200);
  expect((await http(base, "GET", "/auth/me", { token: admin.accessToken })).status).toBe(200);
  console.info(`route fuzz: statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
});
