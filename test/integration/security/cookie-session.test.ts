// The browser session scheme through the real gateway (docs/security.md, Browser sessions): the
// refresh token travels only in an HttpOnly SameSite=Strict cookie for clients that ask for it,
// refresh reads the cookie, cross-site cookie-mode requests are refused, logout clears the cookie;
// and the live channel (/api/v1/live) authenticates by its first message and delivers a user's
// events to that user only.
import WebSocket from "ws";
import {
  http,
  registerAndLogin,
  startSecurityEnv,
  STRONG_PASSWORD,
  type SecurityEnv,
  type Session,
} from "./helpers";

let env: SecurityEnv;
let base: string;
let alice: Session;
let bob: Session;
const COOKIE = { "x-aura-session": "cookie" };

beforeAll(async () => {
  env = await startSecurityEnv({ services: ["api", "auth"] });
  base = env.cluster.baseUrl;
  alice = await registerAndLogin(base);
  bob = await registerAndLogin(base);
});
afterAll(async () => {
  await env?.stop();
});

function refreshCookieOf(res: { headers: Headers }): { value: string; attrs: string } | undefined {
  const raw = res.headers.get("set-cookie");
  const m = raw && /aura_refresh=([^;]*);(.*)$/.exec(raw);
  return m ? { value: decodeURIComponent(m[1]), attrs: m[2] } : undefined;
}

const cookieLogin = (s: Session, headers: Record<string, string> = {}) =>
  http(base, "POST", "/auth/login", {
    body: { email: s.email, password: STRONG_PASSWORD },
    headers: { ...COOKIE, ...headers },
  });

describe("cookie session", () => {
  test("login in cookie mode sets an HttpOnly SameSite=Strict cookie and leaves the token out of the JSON", async () => {
    const res = await cookieLogin(alice);
    expect(res.status).toBe(200);
    expect(res.body.refreshToken).toBeUndefined();
    expect(res.body).toMatchObject({ accessToken: expect.any(String), expiresIn: expect.any(Number) });
    const c = refreshCookieOf(res)!;
    expect(c.value).toMatch(/^art_/);
    expect(c.attrs).toMatch(/Path=\/api\/v1\/auth/);
    expect(c.attrs).toMatch(/HttpOnly/);
    expect(c.attrs).toMatch(/SameSite=Strict/);
    expect(c.attrs).not.toMatch(/Secure/); // plain http outside production
  });

  test("refresh reads the cookie, rotates it, and a replay of the old cookie ends the session", async () => {
    const first = refreshCookieOf(await cookieLogin(alice))!.value;
    const refresh = (cookie: string) =>
      http(base, "POST", "/auth/refresh", {
        body: {},
        headers: { ...COOKIE, cookie: `aura_refresh=${cookie}` },
      });
    const r1 = await refresh(first);
    expect(r1.status).toBe(200);
    expect(r1.body.refreshToken).toBeUndefined();
    const second = refreshCookieOf(r1)!.value;
    expect(second).not.toBe(first);
    const reuse = await refresh(first);
    expect(reuse.status).toBe(401);
    expect(refreshCookieOf(reuse)?.value).toBe(""); // cleared
    expect((await refresh(second)).status).toBe(401); // the whole family ended
  });

  test("without the header the cookie is ignored, and without a cookie cookie-mode refresh is 401", async () => {
    const cookie = refreshCookieOf(await cookieLogin(alice))!.value;
    const noHeader = await http(base, "POST", "/auth/refresh", {
      body: {},
      headers: { cookie: `aura_refresh=${cookie}` },
    });
    expect(noHeader.status).toBe(400); // the JSON API still wants refreshToken in the body
    const noCookie = await http(base, "POST", "/auth/refresh", { body: {}, headers: COOKIE });
    expect(noCookie.status).toBe(401);
  });

  test("cross-site cookie-mode requests are refused before anything runs", async () => {
    const cookie = refreshCookieOf(await cookieLogin(alice))!.value;
    const hostile: Record<string, string>[] = [
      { origin: "https://evil.example" },
      { "sec-fetch-site": "cross-site" },
      { origin: "null" },
    ];
    for (const headers of hostile) {
      const res = await http(base, "POST", "/auth/refresh", {
        body: {},
        headers: { ...COOKIE, ...headers, cookie: `aura_refresh=${cookie}` },
      });
      expect([headers, res.status, res.body.error.code]).toEqual([headers, 403, "ORIGIN_NOT_ALLOWED"]);
    }
    // the same origin passes (the token was never consumed by the refused attempts)
    const same = await http(base, "POST", "/auth/refresh", {
      body: {},
      headers: { ...COOKIE, origin: base, "sec-fetch-site": "same-origin", cookie: `aura_refresh=${cookie}` },
    });
    expect(same.status).toBe(200);
    expect((await cookieLogin(alice, { origin: "https://evil.example" })).status).toBe(403);
  });

  test("logout in cookie mode clears the cookie; JSON clients are unchanged", async () => {
    const login = await cookieLogin(bob);
    const out = await http(base, "POST", "/auth/logout", {
      token: login.body.accessToken,
      body: {},
      headers: COOKIE,
    });
    expect(out.status).toBe(204);
    expect(out.headers.get("set-cookie")).toMatch(/aura_refresh=;.*Max-Age=0/);
    const json = await http(base, "POST", "/auth/login", {
      body: { email: bob.email, password: STRONG_PASSWORD },
    });
    expect(json.body.refreshToken).toMatch(/^art_/);
    expect(json.headers.get("set-cookie")).toBeNull();
  });
});

describe("live channel", () => {
  const wsUrl = () => base.replace(/^http/, "ws") + "/api/v1/live";

  function open(
    headers: Record<string, string> = { origin: base },
  ): Promise<{ ws: WebSocket; messages: any[]; closed: Promise<number> }> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(wsUrl(), { headers });
      const messages: any[] = [];
      const closed = new Promise<number>((r) => ws.on("close", (code) => r(code)));
      ws.on("message", (d) => messages.push(JSON.parse(String(d))));
      ws.on("open", () => resolve({ ws, messages, closed }));
      ws.on("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.on("error", reject);
    });
  }
  const waitFor = async (cond: () => boolean) => {
    for (let i = 0; i < 100 && !cond(); i++) await new Promise((r) => setTimeout(r, 20));
  };
  async function ready(token: string, channel = "backtests") {
    const c = await open();
    c.ws.send(JSON.stringify({ type: "auth", token }));
    await waitFor(() => c.messages.some((m) => m.type === "ready"));
    c.ws.send(JSON.stringify({ type: "subscribe", channel }));
    await waitFor(() => c.messages.some((m) => m.type === "subscribed"));
    return c;
  }

  test("a user's events reach that user's sockets only", async () => {
    const a = await ready(alice.accessToken);
    const b = await ready(bob.accessToken);
    await env.cluster.broker.broadcast("backtest.progress", {
      id: "run-a",
      userId: alice.id,
      sweepId: null,
      progress: 0.5,
    });
    await env.cluster.broker.broadcast("backtest.completed", {
      id: "run-b",
      userId: bob.id,
      sweepId: null,
      status: "completed",
    });
    await env.cluster.broker.broadcast("alert.raised", { severity: "critical", message: "no owner" });
    await waitFor(
      () => a.messages.some((m) => m.type === "event") && b.messages.some((m) => m.type === "event"),
    );
    await new Promise((r) => setTimeout(r, 100));
    expect(a.messages.filter((m) => m.type === "event").map((m) => m.data.id)).toEqual(["run-a"]);
    expect(b.messages.filter((m) => m.type === "event").map((m) => m.data.id)).toEqual(["run-b"]);
    a.ws.close();
    b.ws.close();
  });

  test("a runner's batch of decisions reaches each owner as one message per decision of theirs", async () => {
    const a = await ready(alice.accessToken, "strategies");
    const b = await ready(bob.accessToken, "strategies");
    const notice = (userId: number, strategyId: number) => ({
      userId,
      strategyId,
      candleOpenTime: 1_700_000_000_000,
      action: "none",
      message: "no signal",
    });
    await env.cluster.broker.broadcast("strategy.decisions", {
      decisions: [notice(alice.id, 1), notice(bob.id, 2), notice(alice.id, 3), { userId: "x" }],
    });
    await waitFor(
      () =>
        a.messages.filter((m) => m.type === "event").length >= 2 &&
        b.messages.some((m) => m.type === "event"),
    );
    await new Promise((r) => setTimeout(r, 100));
    const events = (c: { messages: any[] }) =>
      c.messages.filter((m) => m.type === "event").map((m) => [m.channel, m.event, m.data.strategyId]);
    expect(events(a)).toEqual([
      ["strategies", "strategy.decision", 1],
      ["strategies", "strategy.decision", 3],
    ]);
    expect(events(b)).toEqual([["strategies", "strategy.decision", 2]]);
    a.ws.close();
    b.ws.close();
  });

  test("a token in the URL is not a credential; a bad first message closes with 4001", async () => {
    const c = await open();
    c.ws.send(JSON.stringify({ type: "subscribe", channel: "backtests" }));
    expect(await c.closed).toBe(4001);
    const d = await open();
    d.ws.send(JSON.stringify({ type: "auth", token: "not.a.token" }));
    expect(await d.closed).toBe(4001);
    await expect(
      new Promise((resolve, reject) => {
        const ws = new WebSocket(`${wsUrl()}?token=${alice.accessToken}`, { headers: { origin: base } });
        ws.on("open", () => {
          ws.send(JSON.stringify({ type: "ping" }));
          ws.on("close", resolve);
        });
        ws.on("error", reject);
      }),
    ).resolves.toBe(4001);
  });

  test("cross-site upgrades and other paths are refused", async () => {
    await expect(open({ origin: "https://evil.example" })).rejects.toThrow("HTTP 403");
    await expect(
      new Promise((resolve, reject) => {
        const ws = new WebSocket(base.replace(/^http/, "ws") + "/api/v1/elsewhere", {
          headers: { origin: base },
        });
        ws.on("open", resolve);
        ws.on("unexpected-response", (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)));
        ws.on("error", reject);
      }),
    ).rejects.toThrow("HTTP 404");
  });

  test("logging out closes the session's sockets", async () => {
    const s = await registerAndLogin(base);
    const c = await ready(s.accessToken);
    await http(base, "POST", "/auth/logout", { token: s.accessToken, body: {} });
    expect(await c.closed).toBe(4001);
  });
});
