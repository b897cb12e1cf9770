// Password hashing through the API: stored hashes are argon2id at OWASP's parameters, weaker stored hashes
// are upgraded at the next successful login, and registration enforces the password policy.
import { QueryTypes } from "sequelize";
import { hashPassword } from "../../../src/adapters/crypto/password";
import {
  http,
  registerAndLogin,
  startSecurityEnv,
  STRONG_PASSWORD,
  uniqueEmail,
  type SecurityEnv,
} from "./helpers";

let env: SecurityEnv;
beforeAll(async () => {
  env = await startSecurityEnv({ services: ["api", "auth"] });
});
afterAll(async () => {
  await env?.stop();
});

const hashOf = async (id: number) =>
  (
    await env.db.sequelize.query<any>(`SELECT password_hash FROM users WHERE id = :id`, {
      replacements: { id },
      type: QueryTypes.SELECT,
    })
  )[0].password_hash as string;

test("the stored hash is argon2id v19 with m=19456, t=2, p=1 (the production parameters)", async () => {
  const s = await registerAndLogin(env.cluster.baseUrl);
  expect(await hashOf(s.id)).toMatch(
    /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/,
  );
});

test("a weaker stored hash is replaced at the next successful login, not at a failed one", async () => {
  const s = await registerAndLogin(env.cluster.baseUrl);
  const weak = await hashPassword(s.password, { memoryCost: 4096, timeCost: 1, parallelism: 1 });
  await env.db.sequelize.query(`UPDATE users SET password_hash = :weak WHERE id = :id`, {
    replacements: { weak, id: s.id },
  });
  expect(
    (
      await http(env.cluster.baseUrl, "POST", "/auth/login", {
        body: { email: s.email, password: "not the right one" },
      })
    ).status,
  ).toBe(401);
  expect(await hashOf(s.id)).toBe(weak);
  expect(
    (
      await http(env.cluster.baseUrl, "POST", "/auth/login", {
        body: { email: s.email, password: s.password },
      })
    ).status,
  ).toBe(200);
  expect(await hashOf(s.id)).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  expect(
    (
      await http(env.cluster.baseUrl, "POST", "/auth/login", {
        body: { email: s.email, password: s.password },
      })
    ).status,
  ).toBe(200);
});

test.each([
  ["shorter than 10 characters", (_e: string) => "Short1!"],
  ["equal to the email", (e: string) => e],
  ["a common password", (_e: string) => "1234567890"],
])("registration refuses a password %s, and stores nothing", async (_n, pw) => {
  const email = uniqueEmail("policy");
  const res = await http(env.cluster.baseUrl, "POST", "/auth/register", {
    body: { email, password: pw(email) },
  });
  expect(res.status).toBe(400);
  expect(res.body.error).toMatchObject({
    code: "VALIDATION_ERROR",
    details: [expect.objectContaining({ field: "password" })],
  });
  expect(
    await env.db.sequelize.query(`SELECT id FROM users WHERE email = :email`, {
      replacements: { email },
      type: QueryTypes.SELECT,
    }),
  ).toEqual([]);
});

test("emails are case-insensitive and unique; a second registration gets 409", async () => {
  const email = uniqueEmail("Case");
  expect(
    (
      await http(env.cluster.baseUrl, "POST", "/auth/register", {
        body: { email, password: STRONG_PASSWORD },
      })
    ).status,
  ).toBe(201);
  const again = await http(env.cluster.baseUrl, "POST", "/auth/register", {
    body: { email: email.toUpperCase(), password: STRONG_PASSWORD },
  });
  expect(again.status).toBe(409);
  expect(again.body.error.code).toBe("EMAIL_TAKEN");
  expect(
    (
      await http(env.cluster.baseUrl, "POST", "/auth/login", {
        body: { email: `  ${email.toUpperCase()} `, password: STRONG_PASSWORD },
      })
    ).status,
  ).toBe(200);
});
