// Mass assignment: fields a client must not set (role, status, userId, ids, permissions, …) are stripped by
// every action's schema ($$strict: "remove"); the caller's identity comes only from the token.
import { QueryTypes } from "sequelize";
import {
  fakeExchangeClient,
  http,
  randomApiKey,
  registerAndLogin,
  SAFE_RESTRICTIONS,
  STRONG_PASSWORD,
  startSecurityEnv,
  uniqueEmail,
  type SecurityEnv,
  type Session,
} from "./helpers";

let env: SecurityEnv;
let base: string;
let admin: Session;
let a: Session;
let b: Session;
const dangerous = new Set<string>();

beforeAll(async () => {
  env = await startSecurityEnv({
    settings: {
      keys: {
        validation: {
          createClient: fakeExchangeClient((k) =>
            dangerous.has(k) ? { restrictions: { ...SAFE_RESTRICTIONS, enableWithdrawals: true } } : {},
          ),
        },
      },
    },
  });
  base = env.cluster.baseUrl;
  admin = await registerAndLogin(base);
  a = await registerAndLogin(base);
  b = await registerAndLogin(base);
});
afterAll(async () => {
  await env?.stop();
});

const q = (sql: string, replacements: Record<string, unknown> = {}) =>
  env.db.sequelize.query<any>(sql, { replacements, type: QueryTypes.SELECT });

test("register ignores role, status, id and friends", async () => {
  const email = uniqueEmail("sneaky");
  const res = await http(base, "POST", "/auth/register", {
    body: {
      email,
      password: STRONG_PASSWORD,
      role: "admin",
      status: "disabled",
      id: 1,
      userId: admin.id,
      failed_logins: -1,
      password_hash: "$argon2id$x",
    },
  });
  expect(res.status).toBe(201);
  expect(res.body.user).toMatchObject({ email, role: "user" });
  expect(res.body.user.id).not.toBe(1);
  const [row] = await q(`SELECT role, status, failed_logins, password_hash FROM users WHERE email = :email`, {
    email,
  });
  expect(row).toMatchObject({ role: "user", status: "active", failed_logins: 0 });
  expect(row.password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  expect(await q(`SELECT role FROM users WHERE id = :id`, { id: admin.id })).toEqual([{ role: "admin" }]);
});

test("login ignores a requested role", async () => {
  const res = await http(base, "POST", "/auth/login", {
    body: { email: a.email, password: a.password, role: "admin" },
  });
  expect(res.status).toBe(200);
  expect(res.body.user.role).toBe("user");
  expect((await http(base, "GET", "/admin/users", { token: res.body.accessToken })).status).toBe(403);
});

test("adding a key for someone else, pre-validated, is impossible", async () => {
  const apiKey = randomApiKey();
  dangerous.add(apiKey);
  const res = await http(base, "POST", "/keys", {
    token: a.accessToken,
    body: {
      label: "mine",
      exchange: "binance",
      apiKey,
      apiSecret: randomApiKey(),
      userId: b.id,
      user_id: b.id,
      status: "valid",
      statusReason: null,
      permissions: { withdrawals: false, spotTrading: true },
      validatedAt: "2030-01-01T00:00:00Z",
      id: 424242,
      enc_key_id: "mk-attacker",
    },
  });
  expect(res.status).toBe(201);
  expect(res.body).toMatchObject({
    status: "invalid",
    statusReason: "withdrawals_enabled",
    permissions: { withdrawals: true },
  });
  expect(res.body.id).not.toBe(424242);
  const [row] = await q(`SELECT user_id, status, enc_key_id FROM user_api_keys WHERE id = :id`, {
    id: res.body.id,
  });
  expect(row).toMatchObject({ user_id: String(a.id), status: "invalid" });
  expect(row.enc_key_id).not.toBe("mk-attacker");
  expect(await q(`SELECT id FROM user_api_keys WHERE user_id = :id`, { id: b.id })).toEqual([]);
});

test("renaming a key cannot change its owner, status or exchange", async () => {
  const apiKey = randomApiKey();
  dangerous.add(apiKey);
  const created = await http(base, "POST", "/keys", {
    token: a.accessToken,
    body: { label: "rename-me", exchange: "binance", apiKey, apiSecret: randomApiKey() },
  });
  const before = (await q(`SELECT * FROM user_api_keys WHERE id = :id`, { id: created.body.id }))[0];
  const res = await http(base, "PATCH", `/keys/${created.body.id}`, {
    token: a.accessToken,
    body: {
      label: "renamed",
      status: "valid",
      userId: b.id,
      exchange: "sim",
      api_key_last4: "0000",
      permissions: {},
    },
  });
  expect(res.status).toBe(200);
  const after = (await q(`SELECT * FROM user_api_keys WHERE id = :id`, { id: created.body.id }))[0];
  expect(after.label).toBe("renamed");
  expect({ ...after, label: before.label, updated_at: before.updated_at }).toEqual(before);
});

test("a role change takes the user from the path and changes nothing but the role", async () => {
  const victim = await registerAndLogin(base);
  const res = await http(base, "PUT", `/admin/users/${victim.id}/role`, {
    token: admin.accessToken,
    body: { role: "admin", status: "disabled", id: a.id, email: "x@y.z" },
  });
  expect(res.status).toBe(200);
  expect(
    await q(`SELECT id, email, role, status FROM users WHERE id IN (:ids) ORDER BY id`, {
      ids: [a.id, victim.id],
    }),
  ).toEqual([
    { id: String(a.id), email: a.email, role: "user", status: "active" },
    { id: String(victim.id), email: victim.email, role: "admin", status: "active" },
  ]);
  const bad = await http(base, "PUT", `/admin/users/${victim.id}/role`, {
    token: admin.accessToken,
    body: { role: "root" },
  });
  expect(bad.status).toBe(400);
});

test("a password change applies to the caller only, whatever the body says", async () => {
  const c = await registerAndLogin(base);
  const d = await registerAndLogin(base);
  const res = await http(base, "POST", "/auth/password", {
    token: c.accessToken,
    body: {
      currentPassword: c.password,
      newPassword: "a fresh long passphrase",
      userId: d.id,
      email: d.email,
    },
  });
  expect(res.status).toBe(200);
  expect(
    (await http(base, "POST", "/auth/login", { body: { email: d.email, password: d.password } })).status,
  ).toBe(200);
  expect(
    (
      await http(base, "POST", "/auth/login", {
        body: { email: c.email, password: "a fresh long passphrase" },
      })
    ).status,
  ).toBe(200);
});

test("identity cannot be injected through query, body meta or headers", async () => {
  for (const path of [
    `/auth/me?userId=${b.id}`,
    `/auth/me?user[id]=${b.id}`,
    `/auth/me?meta[user][id]=${b.id}`,
  ]) {
    const res = await http(base, "GET", path, {
      token: a.accessToken,
      headers: { "x-user-id": String(b.id), "x-forwarded-user": b.email },
    });
    expect(res.status).toBe(200);
    expect(res.body.user).toMatchObject({ id: a.id, email: a.email });
  }
  await http(base, "POST", "/keys", {
    token: b.accessToken,
    body: { label: "b-only-key", exchange: "binance", apiKey: randomApiKey(), apiSecret: randomApiKey() },
  });
  const keys = await http(base, "GET", `/keys?userId=${b.id}`, { token: a.accessToken });
  expect(keys.status).toBe(200);
  expect(keys.text).not.toContain("b-only-key");
});
