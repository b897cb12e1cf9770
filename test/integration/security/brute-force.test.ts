// Brute force: password guessing is throttled per account and per client ip; spoofed X-Forwarded-For
// does not help; unknown emails and wrong passwords get byte-identical answers in similar time.
import crypto from "node:crypto";
import { QueryTypes } from "sequelize";
import { http, registerAndLogin, startSecurityEnv, uniqueEmail, type SecurityEnv } from "./helpers";

const randomIp = () => `10.${crypto.randomInt(256)}.${crypto.randomInt(256)}.${crypto.randomInt(1, 255)}`;
const login = (base: string, email: string, password: string, ip?: string) =>
  http(base, "POST", "/auth/login", {
    body: { email, password },
    headers: ip ? { "x-forwarded-for": ip } : {},
  });
const withoutRequestId = (body: any) => ({ ...body, error: { ...body.error, requestId: undefined } });

describe("behind one trusted proxy (X-Forwarded-For names the client)", () => {
  let env: SecurityEnv;
  let base: string;
  beforeAll(async () => {
    env = await startSecurityEnv({ settings: { api: { trustProxyHops: 1 } } });
    base = env.cluster.baseUrl;
    await registerAndLogin(base); // admin
  });
  afterAll(async () => {
    await env?.stop();
  });

  test("100 wrong passwords for one account from 100 different ips: ≥ 95 are blocked, and so is the right password", async () => {
    const victim = await registerAndLogin(base);
    const statuses: number[] = [];
    let lastBlocked: any;
    for (let i = 0; i < 100; i++) {
      const res = await login(base, victim.email, `wrong password ${i}!`, randomIp());
      statuses.push(res.status);
      if (res.status === 429) lastBlocked = res;
    }
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(95);
    expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
    expect(lastBlocked.body.error.code).toBe("RATE_LIMITED");
    expect(Number(lastBlocked.headers.get("retry-after"))).toBeGreaterThan(0);
    // locked means locked: the owner's correct password waits too
    expect((await login(base, victim.email, victim.password, randomIp())).status).toBe(429);
    const audit = await env.db.sequelize.query<any>(
      `SELECT action, count(*)::int AS n FROM audit_log WHERE details->>'email' = :email GROUP BY action`,
      {
        replacements: { email: victim.email },
        type: QueryTypes.SELECT,
      },
    );
    expect(Object.fromEntries(audit.map((a) => [a.action, a.n]))).toMatchObject({
      "auth.login_failed": statuses.filter((s) => s === 401).length,
    });
  });

  test("an unknown email is throttled exactly like a real one", async () => {
    const ghost = uniqueEmail("ghost");
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++)
      statuses.push((await login(base, ghost, `guess number ${i}!`, randomIp())).status);
    const real = await registerAndLogin(base);
    const realStatuses: number[] = [];
    for (let i = 0; i < 12; i++)
      realStatuses.push((await login(base, real.email, `guess number ${i}!`, randomIp())).status);
    expect(statuses).toEqual(realStatuses);
    expect(statuses.slice(-1)).toEqual([429]);
  });

  test("unknown email and wrong password: identical status, body and headers; similar timing", async () => {
    const known = await registerAndLogin(base);
    const a = await login(base, uniqueEmail("nobody"), "some password here", randomIp());
    const b = await login(base, known.email, "some password here", randomIp());
    expect(a.status).toBe(401);
    expect(b.status).toBe(a.status);
    expect(withoutRequestId(b.body)).toEqual(withoutRequestId(a.body));
    const headerNames = (h: Headers) =>
      [...h.keys()].filter((k) => !["date", "x-request-id", "content-length"].includes(k)).sort();
    expect(headerNames(b.headers)).toEqual(headerNames(a.headers));
    await login(base, known.email, known.password, randomIp()); // clears the failure count

    const unknownMs: number[] = [];
    const wrongMs: number[] = [];
    for (let i = 0; i < 24; i++) {
      let t = performance.now();
      await login(base, uniqueEmail("nobody"), "some password here", randomIp());
      unknownMs.push(performance.now() - t);
      t = performance.now();
      const res = await login(base, known.email, "some password here", randomIp());
      wrongMs.push(performance.now() - t);
      expect(res.status).toBe(401);
      // stay under the lockout threshold for the known account
      if (i % 3 === 2) await login(base, known.email, known.password, randomIp());
    }
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1];
    expect(Math.abs(median(unknownMs) - median(wrongMs))).toBeLessThan(10);
  });
});

describe("without a trusted proxy (X-Forwarded-For is ignored)", () => {
  let env: SecurityEnv;
  let base: string;
  beforeAll(async () => {
    env = await startSecurityEnv({
      settings: {
        api: {
          trustProxyHops: 0,
          rateLimits: { ipPerMinute: 100_000, userPerMinute: 100_000, credentialsPerMinute: 1000 },
        },
      },
    });
    base = env.cluster.baseUrl;
  });
  afterAll(async () => {
    await env?.stop();
  });

  test("failures across many accounts from one client lock that client, whatever X-Forwarded-For claims", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++)
      statuses.push((await login(base, uniqueEmail("spray"), "password spraying 1", randomIp())).status);
    expect(statuses.slice(0, 20).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(20).every((s) => s === 429)).toBe(true);
    const audit = await env.db.sequelize.query<any>(
      `SELECT DISTINCT ip FROM audit_log WHERE action = 'auth.login_failed'`,
      { type: QueryTypes.SELECT },
    );
    expect(audit.map((r) => r.ip)).toEqual([expect.stringMatching(/127\.0\.0\.1$/)]);
  });
});

describe("credential routes have a stricter per-ip request budget", () => {
  let env: SecurityEnv;
  let base: string;
  beforeAll(async () => {
    env = await startSecurityEnv({
      settings: { api: { rateLimits: { ipPerMinute: 1000, userPerMinute: 1000, credentialsPerMinute: 5 } } },
    });
    base = env.cluster.baseUrl;
  });
  afterAll(async () => {
    await env?.stop();
  });

  test("the 6th login request in a minute → 429 RATE_LIMITED with Retry-After; other routes still answer", async () => {
    const statuses: number[] = [];
    let last: any;
    for (let i = 0; i < 6; i++) {
      last = await http(base, "POST", "/auth/refresh", { body: { refreshToken: "art_" + "B".repeat(43) } });
      statuses.push(last.status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
    expect(last.body.error).toMatchObject({
      code: "RATE_LIMITED",
      details: { retryAfter: expect.any(Number) },
    });
    expect(Number(last.headers.get("retry-after"))).toBeGreaterThan(0);
    // buckets are per route: login still has its own budget
    expect((await login(base, uniqueEmail(), "whatever password")).status).toBe(401);
    // and other routes are answered (401 without a token), not limited
    expect((await http(base, "GET", "/system/info")).status).toBe(401);
  });

  test("the per-ip limit on every route", async () => {
    const tight = await startSecurityEnv({
      settings: { api: { rateLimits: { ipPerMinute: 3, userPerMinute: 1000, credentialsPerMinute: 1000 } } },
    });
    try {
      const statuses: number[] = [];
      // the per-ip limit comes before authentication: anonymous requests count too
      for (let i = 0; i < 4; i++)
        statuses.push((await http(tight.cluster.baseUrl, "GET", "/system/info")).status);
      expect(statuses).toEqual([401, 401, 401, 429]);
    } finally {
      await tight.stop();
    }
  });

  test("the per-user limit on authenticated routes", async () => {
    const tight = await startSecurityEnv({
      settings: { api: { rateLimits: { ipPerMinute: 1000, userPerMinute: 3, credentialsPerMinute: 1000 } } },
    });
    try {
      const s = await registerAndLogin(tight.cluster.baseUrl);
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++)
        statuses.push(
          (await http(tight.cluster.baseUrl, "GET", "/auth/me", { token: s.accessToken })).status,
        );
      expect(statuses).toEqual([200, 200, 200, 429]);
      // another user has a budget of their own
      const t = await registerAndLogin(tight.cluster.baseUrl);
      expect((await http(tight.cluster.baseUrl, "GET", "/auth/me", { token: t.accessToken })).status).toBe(
        200,
      );
    } finally {
      await tight.stop();
    }
  });
});
