// Sessions: refresh tokens rotate on every use; presenting a rotated one revokes the whole family
// (and that session's access tokens); of 20 concurrent refreshes with one token at most one
// succeeds and the family ends up revoked; logout, password change and disabling a user revoke
// immediately. Policy: no grace window (docs/security.md, "Refresh tokens").
import { QueryTypes } from "sequelize";
import { http, registerAndLogin, startSecurityEnv, type SecurityEnv } from "./helpers";

let env: SecurityEnv;
let base: string;
let admin: Awaited<ReturnType<typeof registerAndLogin>>;
beforeAll(async () => {
  env = await startSecurityEnv();
  base = env.cluster.baseUrl;
  admin = await registerAndLogin(base);
});
afterAll(async () => {
  await env?.stop();
});

const refresh = (refreshToken: string) => http(base, "POST", "/auth/refresh", { body: { refreshToken } });
const me = (token: string) => http(base, "GET", "/auth/me", { token });
const rows = (sql: string, replacements: Record<string, unknown> = {}) =>
  env.db.sequelize.query<any>(sql, { replacements, type: QueryTypes.SELECT });

test("refresh rotates: RT1 → RT2 → RT3, each old one stops working, only hashes are stored", async () => {
  const s = await registerAndLogin(base);
  const r1 = await refresh(s.refreshToken);
  expect(r1.status).toBe(200);
  expect(r1.body).toMatchObject({
    accessToken: expect.any(String),
    refreshToken: expect.any(String),
    expiresIn: expect.any(Number),
  });
  expect(r1.body.refreshToken).not.toBe(s.refreshToken);
  const r2 = await refresh(r1.body.refreshToken);
  expect(r2.status).toBe(200);
  expect((await me(r2.body.accessToken)).status).toBe(200);
  const stored = await rows(`SELECT token_hash FROM refresh_tokens WHERE user_id = :id`, { id: s.id });
  expect(stored).toHaveLength(3);
  for (const t of [s.refreshToken, r1.body.refreshToken, r2.body.refreshToken]) {
    expect(JSON.stringify(stored)).not.toContain(t);
    expect(JSON.stringify(stored)).not.toContain(t.slice(4));
  }
});

test("reuse of a rotated token → 401, the family is revoked (RT2 too) and its access tokens stop working", async () => {
  const s = await registerAndLogin(base);
  const r1 = await refresh(s.refreshToken);
  expect(r1.status).toBe(200);
  const reuse = await refresh(s.refreshToken);
  expect(reuse.status).toBe(401);
  expect(reuse.body.error.code).toBe("UNAUTHORIZED");
  expect((await refresh(r1.body.refreshToken)).status).toBe(401);
  expect((await me(r1.body.accessToken)).status).toBe(401);
  expect((await me(s.accessToken)).status).toBe(401);
  const audit = await rows(
    `SELECT action, outcome FROM audit_log WHERE user_id = :id AND action = 'auth.refresh_reuse_detected'`,
    { id: s.id },
  );
  expect(audit).toEqual([{ action: "auth.refresh_reuse_detected", outcome: "failure" }]);
  // other sessions of the same user are untouched
  const other = await http(base, "POST", "/auth/login", { body: { email: s.email, password: s.password } });
  expect((await me(other.body.accessToken)).status).toBe(200);
});

test("20 parallel refreshes with the same token: at most one succeeds, and the family ends revoked", async () => {
  const s = await registerAndLogin(base);
  const results = await Promise.all(Array.from({ length: 20 }, () => refresh(s.refreshToken)));
  const ok = results.filter((r) => r.status === 200);
  expect(ok.length).toBeLessThanOrEqual(1);
  expect(results.filter((r) => r.status === 401)).toHaveLength(20 - ok.length);
  // at most one child was ever minted from the presented token
  const children = await rows(
    `SELECT count(*)::int AS n FROM refresh_tokens c JOIN refresh_tokens p ON c.parent_id = p.id WHERE p.user_id = :id`,
    { id: s.id },
  );
  expect(children[0].n).toBeLessThanOrEqual(1);
  // the others were reuse: the whole family, the winner's new token included, is revoked
  for (const r of ok) {
    expect((await refresh(r.body.refreshToken)).status).toBe(401);
    expect((await me(r.body.accessToken)).status).toBe(401);
  }
  const live = await rows(
    `SELECT count(*)::int AS n FROM refresh_tokens WHERE user_id = :id AND revoked_at IS NULL`,
    { id: s.id },
  );
  expect(live[0].n).toBe(0);
});

test("logout revokes the session's refresh tokens and access token at once; other sessions stay", async () => {
  const s = await registerAndLogin(base);
  const second = await http(base, "POST", "/auth/login", { body: { email: s.email, password: s.password } });
  const out = await http(base, "POST", "/auth/logout", { token: s.accessToken });
  expect(out.status).toBe(204);
  expect((await me(s.accessToken)).status).toBe(401);
  expect((await refresh(s.refreshToken)).status).toBe(401);
  expect((await me(second.body.accessToken)).status).toBe(200);
  expect((await refresh(second.body.refreshToken)).status).toBe(200);
});

test("password change revokes every session (refresh and access) and returns a fresh one", async () => {
  const s = await registerAndLogin(base);
  const other = await http(base, "POST", "/auth/login", { body: { email: s.email, password: s.password } });
  const wrong = await http(base, "POST", "/auth/password", {
    token: s.accessToken,
    body: { currentPassword: "not the password!!", newPassword: "brand new passphrase 12" },
  });
  expect(wrong.status).toBe(400);
  expect(wrong.body.error.code).toBe("INVALID_CURRENT_PASSWORD");
  expect((await me(s.accessToken)).status).toBe(200);

  const changed = await http(base, "POST", "/auth/password", {
    token: s.accessToken,
    body: { currentPassword: s.password, newPassword: "brand new passphrase 12" },
  });
  expect(changed.status).toBe(200);
  for (const t of [s.accessToken, other.body.accessToken]) expect((await me(t)).status).toBe(401);
  for (const t of [s.refreshToken, other.body.refreshToken]) expect((await refresh(t)).status).toBe(401);
  expect((await me(changed.body.accessToken)).status).toBe(200);
  expect(
    (await http(base, "POST", "/auth/login", { body: { email: s.email, password: s.password } })).status,
  ).toBe(401);
  expect(
    (
      await http(base, "POST", "/auth/login", {
        body: { email: s.email, password: "brand new passphrase 12" },
      })
    ).status,
  ).toBe(200);
});

test("a new password must meet the policy", async () => {
  const s = await registerAndLogin(base);
  for (const newPassword of ["short", s.email, s.password]) {
    const res = await http(base, "POST", "/auth/password", {
      token: s.accessToken,
      body: { currentPassword: s.password, newPassword },
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({
      code: "VALIDATION_ERROR",
      details: [expect.objectContaining({ field: "newPassword" })],
    });
  }
});

test("a disabled user's access and refresh tokens stop working immediately, and login is refused", async () => {
  const s = await registerAndLogin(base);
  const res = await http(base, "POST", `/admin/users/${s.id}/disable`, { token: admin.accessToken });
  expect(res.status).toBe(200);
  expect(res.body.user).toMatchObject({ id: s.id, status: "disabled" });
  expect((await me(s.accessToken)).status).toBe(401);
  expect((await refresh(s.refreshToken)).status).toBe(401);
  const login = await http(base, "POST", "/auth/login", { body: { email: s.email, password: s.password } });
  expect(login.status).toBe(403);
  expect(login.body.error.code).toBe("ACCOUNT_DISABLED");
  // enabling again allows a new login (old sessions stay revoked)
  expect((await http(base, "POST", `/admin/users/${s.id}/enable`, { token: admin.accessToken })).status).toBe(
    200,
  );
  expect((await me(s.accessToken)).status).toBe(401);
  expect(
    (await http(base, "POST", "/auth/login", { body: { email: s.email, password: s.password } })).status,
  ).toBe(200);
});

test("malformed and unknown refresh tokens → 401", async () => {
  for (const refreshToken of ["", "x", "art_" + "A".repeat(43), "eyJhbGciOiJIUzI1NiJ9.e30.x"]) {
    const res = await refresh(refreshToken);
    expect([400, 401]).toContain(res.status);
  }
  expect((await refresh("art_" + "A".repeat(43))).status).toBe(401);
});
