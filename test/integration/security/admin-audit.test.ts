// Roles (first user or AURA_ADMIN_EMAIL is admin; admin routes; role changes apply at once; the
// last admin is protected) and the audit trail: every security-relevant action leaves an
// audit_log row with the client ip, user agent and request id, and never a secret.
import crypto from "node:crypto";
import { QueryTypes } from "sequelize";
import {
  fakeExchangeClient,
  http,
  randomApiKey,
  registerAndLogin,
  STRONG_PASSWORD,
  startSecurityEnv,
  uniqueEmail,
  type SecurityEnv,
  type Session,
} from "./helpers";

describe("roles", () => {
  let env: SecurityEnv;
  let base: string;
  let first: Session;
  beforeAll(async () => {
    env = await startSecurityEnv();
    base = env.cluster.baseUrl;
    first = await registerAndLogin(base);
  });
  afterAll(async () => {
    await env?.stop();
  });

  test("the first registered user is the admin, later ones are users", async () => {
    const me = await http(base, "GET", "/auth/me", { token: first.accessToken });
    expect(me.body.user.role).toBe("admin");
    const second = await registerAndLogin(base);
    expect((await http(base, "GET", "/auth/me", { token: second.accessToken })).body.user.role).toBe("user");
  });

  test("admins list users (no hashes); users may not", async () => {
    const u = await registerAndLogin(base);
    const res = await http(base, "GET", "/admin/users?limit=100", { token: first.accessToken });
    expect(res.status).toBe(200);
    expect(res.body.users.map((x: any) => x.email)).toEqual(expect.arrayContaining([first.email, u.email]));
    expect(Object.keys(res.body.users[0]).sort()).toEqual([
      "createdAt",
      "email",
      "id",
      "lastLoginAt",
      "role",
      "status",
    ]);
    expect(res.text).not.toMatch(/argon2/);
    expect((await http(base, "GET", "/admin/users", { token: u.accessToken })).status).toBe(403);
    expect((await http(base, "GET", "/admin/users")).status).toBe(401);
  });

  test("a promotion or demotion applies to existing tokens at once", async () => {
    const u = await registerAndLogin(base);
    expect((await http(base, "GET", "/admin/users", { token: u.accessToken })).status).toBe(403);
    expect(
      (
        await http(base, "PUT", `/admin/users/${u.id}/role`, {
          token: first.accessToken,
          body: { role: "admin" },
        })
      ).status,
    ).toBe(200);
    expect((await http(base, "GET", "/admin/users", { token: u.accessToken })).status).toBe(200);
    expect(
      (
        await http(base, "PUT", `/admin/users/${u.id}/role`, {
          token: first.accessToken,
          body: { role: "user" },
        })
      ).status,
    ).toBe(200);
    expect((await http(base, "GET", "/admin/users", { token: u.accessToken })).status).toBe(403);
  });

  test("an admin cannot disable themselves, and the last admin cannot be demoted", async () => {
    const self = await http(base, "POST", `/admin/users/${first.id}/disable`, { token: first.accessToken });
    expect(self.status).toBe(403);
    const demote = await http(base, "PUT", `/admin/users/${first.id}/role`, {
      token: first.accessToken,
      body: { role: "user" },
    });
    expect(demote.status).toBe(409);
    expect(demote.body.error.code).toBe("LAST_ADMIN");
    expect(
      (await http(base, "POST", `/admin/users/999999/disable`, { token: first.accessToken })).status,
    ).toBe(404);
  });
});

test("with AURA_ADMIN_EMAIL set, only that address becomes admin (not the first user)", async () => {
  const adminEmail = uniqueEmail("boss");
  const env = await startSecurityEnv({ settings: { auth: { adminEmail } } });
  try {
    const early = await registerAndLogin(env.cluster.baseUrl);
    const boss = await registerAndLogin(env.cluster.baseUrl, adminEmail.toUpperCase());
    expect(
      (await http(env.cluster.baseUrl, "GET", "/auth/me", { token: early.accessToken })).body.user.role,
    ).toBe("user");
    expect(
      (await http(env.cluster.baseUrl, "GET", "/auth/me", { token: boss.accessToken })).body.user,
    ).toMatchObject({ role: "admin", email: adminEmail });
  } finally {
    await env.stop();
  }
});

test("every security-relevant action is audited with ip, user agent and request id, and no secret", async () => {
  const env = await startSecurityEnv({
    settings: { keys: { validation: { createClient: fakeExchangeClient(() => ({})) } } },
  });
  const base = env.cluster.baseUrl;
  const ua = `AuditProbe/1.0 ${crypto.randomUUID()}`;
  const rid = () => `audit-${crypto.randomUUID()}`;
  const sent: string[] = [];
  const call = (method: string, path: string, opts: { token?: string; body?: unknown } = {}) => {
    const id = rid();
    sent.push(id);
    return http(base, method, path, { ...opts, headers: { "user-agent": ua, "x-request-id": id } });
  };
  try {
    const adminEmail = uniqueEmail("adm");
    await call("POST", "/auth/register", { body: { email: adminEmail, password: STRONG_PASSWORD } });
    const adminLogin = await call("POST", "/auth/login", {
      body: { email: adminEmail, password: STRONG_PASSWORD },
    });
    const email = uniqueEmail("audited");
    const reg = await call("POST", "/auth/register", { body: { email, password: STRONG_PASSWORD } });
    await call("POST", "/auth/login", { body: { email, password: "definitely wrong pw" } });
    await call("POST", "/auth/login", {
      body: { email: uniqueEmail("ghost"), password: "definitely wrong pw" },
    });
    const login = await call("POST", "/auth/login", { body: { email, password: STRONG_PASSWORD } });
    const apiSecret = randomApiKey();
    const key = await call("POST", "/keys", {
      token: login.body.accessToken,
      body: { label: "audited", exchange: "binance", apiKey: randomApiKey(), apiSecret },
    });
    await call("POST", `/keys/${key.body.id}/validate`, { token: login.body.accessToken });
    await call("DELETE", `/keys/${key.body.id}`, { token: login.body.accessToken });
    const r1 = await call("POST", "/auth/refresh", { body: { refreshToken: login.body.refreshToken } });
    await call("POST", "/auth/refresh", { body: { refreshToken: login.body.refreshToken } }); // reuse
    const again = await call("POST", "/auth/login", { body: { email, password: STRONG_PASSWORD } });
    await call("POST", "/auth/password", {
      token: again.body.accessToken,
      body: { currentPassword: STRONG_PASSWORD, newPassword: "a changed passphrase 9" },
    });
    const third = await call("POST", "/auth/login", { body: { email, password: "a changed passphrase 9" } });
    await call("POST", "/auth/logout", { token: third.body.accessToken });
    await call("PUT", `/admin/users/${reg.body.user.id}/role`, {
      token: adminLogin.body.accessToken,
      body: { role: "admin" },
    });
    await call("POST", `/admin/users/${reg.body.user.id}/disable`, { token: adminLogin.body.accessToken });

    const rows = await env.db.sequelize.query<any>(`SELECT * FROM audit_log ORDER BY id`, {
      type: QueryTypes.SELECT,
    });
    const actions = rows.map((r) => r.action);
    for (const a of [
      "auth.register",
      "auth.login",
      "auth.login_failed",
      "auth.logout",
      "auth.refresh_reuse_detected",
      "auth.password_change",
      "keys.add",
      "keys.validate",
      "keys.remove",
      "admin.role_change",
      "admin.user_disable",
    ]) {
      expect(actions).toContain(a);
    }
    for (const r of rows) {
      expect(r.user_agent).toBe(ua);
      expect(r.ip).toMatch(/127\.0\.0\.1/);
      expect(sent).toContain(r.request_id);
    }
    expect(rows.filter((r) => r.action === "auth.login_failed")).toHaveLength(2);
    expect(rows.find((r) => r.action === "admin.role_change").details).toEqual({ from: "user", to: "admin" });
    const dump = JSON.stringify(rows);
    for (const s of [
      STRONG_PASSWORD,
      "definitely wrong pw",
      "a changed passphrase 9",
      apiSecret,
      login.body.refreshToken,
      r1.body.refreshToken,
      login.body.accessToken,
    ]) {
      expect(dump).not.toContain(s);
    }
  } finally {
    await env.stop();
  }
});
