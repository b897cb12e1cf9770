// Through the real gateway: the bearer scheme in any case; an access token is accepted only for a
// live session of its own user; ids outside their range are a 400, not a database 500;
// /system/info needs a token; health probes are cheap and tell outsiders only the status.
import crypto from "node:crypto";
import net from "node:net";
import jwt from "jsonwebtoken";
import { AUDIENCE, ISSUER, tokenKeyId } from "../../../src/adapters/auth/tokens";
import {
  http,
  registerAndLogin,
  startSecurityEnv,
  useTestSecrets,
  type SecurityEnv,
  type Session,
} from "./helpers";

let healthCalls = 0;
const healthProbe = {
  name: "health-probe",
  methods: {
    health() {
      healthCalls++;
      return { status: "up", details: { error: "internal detail 10.1.2.3" } };
    },
  },
};

let env: SecurityEnv;
let base: string;
let admin: Session;
let alice: Session;
let bob: Session;
let secret: Buffer;
const sidOf = (t: string) => (jwt.decode(t) as any).sid as string;

beforeAll(async () => {
  secret = Buffer.from(useTestSecrets().jwtSecret, "utf8");
  // a small gateway, so that a test can take every request slot it has (read when the gateway
  // service loads)
  process.env.GATEWAY_MAX_IN_FLIGHT = "20";
  // one trusted proxy: X-Forwarded-For names the client, so a test can call from "outside"
  env = await startSecurityEnv({ settings: { api: { trustProxyHops: 1 } }, extra: [healthProbe as any] });
  base = env.cluster.baseUrl;
  admin = await registerAndLogin(base);
  alice = await registerAndLogin(base);
  bob = await registerAndLogin(base);
});
afterAll(async () => {
  await env?.stop();
  delete process.env.GATEWAY_MAX_IN_FLIGHT;
});

const forge = (sub: number, sid: string) =>
  jwt.sign(
    {
      sub: String(sub),
      role: "user",
      sid,
      typ: "access",
      jti: crypto.randomUUID(),
      iss: ISSUER,
      aud: AUDIENCE,
    },
    secret,
    { algorithm: "HS256", keyid: tokenKeyId(secret), expiresIn: 600 },
  );
const me = (headers: Record<string, string>) => http(base, "GET", "/auth/me", { headers });

describe("Authorization scheme", () => {
  test.each(["Bearer", "bearer", "BEARER", "bEaReR"])("%s <token> is accepted", async (scheme) => {
    const res = await me({ authorization: `${scheme} ${alice.accessToken}` });
    expect(res.status).toBe(200);
    expect(res.body.user.id).toBe(alice.id);
  });

  test("other schemes are still refused", async () => {
    for (const authorization of [
      `Basic ${alice.accessToken}`,
      `Bearerx ${alice.accessToken}`,
      alice.accessToken,
    ])
      expect((await me({ authorization })).status).toBe(401);
  });
});

describe("the token's session must be a live session of the token's user", () => {
  test("a correctly signed token naming another user's session is refused", async () => {
    // the self-signed control: same claims with alice's own session are accepted
    expect((await me({ authorization: `Bearer ${forge(alice.id, sidOf(alice.accessToken))}` })).status).toBe(
      200,
    );
    const res = await me({ authorization: `Bearer ${forge(alice.id, sidOf(bob.accessToken))}` });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe("UNAUTHORIZED");
  });

  test("a session id that is no session at all is refused", async () => {
    expect((await me({ authorization: `Bearer ${forge(alice.id, crypto.randomUUID())}` })).status).toBe(401);
  });

  test("a revoked session stops working at once, other sessions of the user do not", async () => {
    const s = await registerAndLogin(base);
    const second = await http(base, "POST", "/auth/login", {
      body: { email: s.email, password: s.password },
    });
    expect((await me({ authorization: `Bearer ${s.accessToken}` })).status).toBe(200);
    expect((await http(base, "POST", "/auth/logout", { token: s.accessToken })).status).toBe(204);
    expect((await me({ authorization: `Bearer ${s.accessToken}` })).status).toBe(401);
    expect((await me({ authorization: `Bearer ${second.body.accessToken}` })).status).toBe(200);
  });
});

describe("ids outside their range", () => {
  test.each([
    ["POST", "/admin/users/99999999999999999999/disable"],
    ["POST", "/admin/users/9223372036854775808/enable"],
    ["POST", "/admin/users/9007199254740992/disable"],
    ["POST", "/admin/users/1e3/disable"],
    ["POST", "/admin/users/-1/disable"],
    ["GET", "/admin/users?afterId=99999999999999999999"],
    ["GET", "/admin/users?afterId=0x10"],
  ])("%s %s → 400 VALIDATION_ERROR", async (method, path) => {
    const res = await http(base, method, path, { token: admin.accessToken });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("VALIDATION_ERROR");
    expect(res.body.error.details[0].field).toMatch(/^(id|afterId)$/);
  });

  test.each(["99999999999999999999", "9223372036854775808", "1.5", "0"])("key id %s → 400", async (id) => {
    for (const [method, path] of [
      ["GET", `/keys/${id}`],
      ["PATCH", `/keys/${id}`],
      ["DELETE", `/keys/${id}`],
      ["POST", `/keys/${id}/validate`],
    ]) {
      const res = await http(base, method, path, {
        token: alice.accessToken,
        ...(method === "PATCH" ? { body: { label: "x" } } : {}),
      });
      expect([method, path, res.status, res.body.error.code]).toEqual([
        method,
        path,
        400,
        "VALIDATION_ERROR",
      ]);
    }
  });

  test("the largest safe id is a well-formed id: 404, not an error", async () => {
    const res = await http(base, "POST", `/admin/users/${Number.MAX_SAFE_INTEGER}/disable`, {
      token: admin.accessToken,
    });
    expect(res.status).toBe(404);
  });
});

test("/system/info needs a token", async () => {
  expect((await http(base, "GET", "/system/info")).status).toBe(401);
  const res = await http(base, "GET", "/system/info", { token: alice.accessToken });
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ name: "AURA", apiVersion: "v1" });
});

describe("health endpoints", () => {
  const outside = { "x-forwarded-for": "203.0.113.50" };
  const get = async (path: string, headers: Record<string, string> = {}) => {
    const res = await fetch(base + path, { headers });
    return { status: res.status, body: (await res.json()) as any, text: "" };
  };

  test("an outside caller gets the status and per-component up/down only", async () => {
    const ready = await get("/health/ready", outside);
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: "ok", checks: { database: "up", cache: "up", transporter: "up" } });
    const live = await get("/health/live", outside);
    expect(live).toMatchObject({ status: 200, body: { status: "ok" } });
    expect(Object.keys(live.body)).toEqual(["status"]);
    // a user token or a broken one changes nothing
    for (const authorization of [`Bearer ${alice.accessToken}`, "Bearer not.a.token", "Basic x"])
      expect(Object.keys((await get("/health/ready", { ...outside, authorization })).body).sort()).toEqual([
        "checks",
        "status",
      ]);
  });

  test("probes answer GET only (405 otherwise), whatever the query string", async () => {
    expect((await get("/health/live?x=1", outside)).status).toBe(200);
    const post = await fetch(base + "/health/ready", { method: "POST", headers: outside });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
    expect(((await post.json()) as any).error.code).toBe("METHOD_NOT_ALLOWED");
  });

  test("loopback and admins get the full report", async () => {
    const local = await get("/health/ready");
    expect(local.body).toMatchObject({ status: "ok", nodeId: expect.any(String) });
    expect(local.body.services["health-probe"].details.error).toMatch(/internal detail/);
    const asAdmin = await get("/health/ready", { ...outside, authorization: `bearer ${admin.accessToken}` });
    expect(asAdmin.body.nodeId).toBe(local.body.nodeId);
    expect(
      (await get("/health/live", { ...outside, authorization: `Bearer ${admin.accessToken}` })).body,
    ).toMatchObject({
      nodeId: expect.any(String),
    });
  });

  test("probes are answered while every request slot of the gateway is taken", async () => {
    // requests whose bodies never arrive hold the gateway's request handling (its bulkhead's
    // slots and queue) until their sockets close
    const { port } = new URL(base);
    const held: net.Socket[] = [];
    try {
      await Promise.all(
        Array.from(
          { length: 60 },
          (_, i) =>
            new Promise<void>((resolve, reject) => {
              const sock = net.connect(Number(port), "127.0.0.1", () => {
                sock.write(
                  "POST /api/v1/backtests HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
                    `Content-Length: 100\r\nX-Forwarded-For: 198.51.100.${1 + (i % 250)}\r\n\r\n{`,
                  () => resolve(),
                );
              });
              sock.on("error", reject);
              held.push(sock);
            }),
        ),
      );
      await new Promise((r) => setTimeout(r, 200));
      // the gateway is full: an API request is refused or left waiting
      const api = await fetch(base + "/api/v1/system/info", {
        headers: { ...outside, authorization: `Bearer ${admin.accessToken}` },
        signal: AbortSignal.timeout(1500),
      }).then(
        (r) => r.status,
        () => "waiting",
      );
      expect([429, 503, "waiting"]).toContain(api);
      for (const path of ["/health/live", "/health/ready"]) {
        const res = await fetch(base + path, { headers: outside, signal: AbortSignal.timeout(10_000) });
        expect([path, res.status, ((await res.json()) as any).status]).toEqual([path, 200, "ok"]);
      }
    } finally {
      for (const s of held) s.destroy();
    }
  });

  test("concurrent probes share one readiness computation; a second later it is computed again", async () => {
    await new Promise((r) => setTimeout(r, 1100));
    const before = healthCalls;
    const results = await Promise.all(Array.from({ length: 40 }, () => get("/health/ready", outside)));
    expect(results.every((r) => r.status === 200 && r.body.status === "ok")).toBe(true);
    expect(healthCalls - before).toBe(1);
    await new Promise((r) => setTimeout(r, 1100));
    // answered from the last report while the next is computed (the probe does not wait for it)
    expect((await get("/health/ready", outside)).status).toBe(200);
    for (let i = 0; i < 200 && healthCalls - before < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(healthCalls - before).toBe(2);
  });
});
