// Master-key rotation: `aura keys rotate` re-encrypts 100 % of the stored exchange keys under the new
// master key; afterwards the old key can be dropped (services started with only the new key open
// every row) and the old key alone opens nothing. Rows it cannot open are reported, not lost.
import { execFile } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { QueryTypes } from "sequelize";
import {
  insertApiKey,
  openApiKeyRow,
  rotateApiKeys,
  type ApiKeyRow,
} from "../../../src/adapters/auth/api-keys";
import { createUser } from "../../../src/adapters/auth/users";
import { KeyRing, keyIdOf } from "../../../src/adapters/crypto/aead";
import type { VenueAccounts } from "../../../src/adapters/execution/accounts";
import { resolveSecrets } from "../../../src/runtime/secrets";
import { createTestDatabase, type TestDatabase } from "../../support/db";
import { randomApiKey, startSecurityEnv, useTestSecrets } from "./helpers";

jest.setTimeout(60_000);
const run = promisify(execFile);
const ROOT = path.resolve(__dirname, "../../..");
const aura = (args: string[], over: Record<string, string | undefined>) => {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, LOG_LEVEL: "warn", ...over }))
    if (v !== undefined) env[k] = v;
  return run(process.execPath, [path.join(ROOT, "bin/aura.js"), ...args], { cwd: ROOT, env }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e) => ({ code: e.code as number, stdout: e.stdout as string, stderr: e.stderr as string }),
  );
};

const k1 = crypto.randomBytes(32);
const k2 = crypto.randomBytes(32);
let db: TestDatabase;
const plain = new Map<string, { apiKey: string; apiSecret: string }>();

async function seed(ring: KeyRing, n: number, sequelize = db.sequelize): Promise<void> {
  const users = [];
  for (let i = 0; i < 2; i++)
    users.push(
      await createUser(sequelize, {
        email: `rot-${crypto.randomUUID()}@example.com`,
        passwordHash: "$argon2id$v=19$m=19456,t=2,p=1$x$y",
      }),
    );
  for (let i = 0; i < n; i++) {
    const apiKey = randomApiKey();
    const apiSecret = randomApiKey();
    const row = await insertApiKey(sequelize, ring, {
      userId: users[i % 2].id,
      label: `k${i}`,
      exchange: "binance",
      apiKey,
      apiSecret,
      status: "valid",
      statusReason: null,
      permissions: null,
      validatedAt: new Date(),
    });
    plain.set(row.id, { apiKey, apiSecret });
  }
}
const allRows = (sequelize = db.sequelize) =>
  sequelize.query<ApiKeyRow>(`SELECT * FROM user_api_keys ORDER BY id`, { type: QueryTypes.SELECT });

beforeAll(async () => {
  useTestSecrets();
  db = await createTestDatabase();
  await seed(new KeyRing(k1), 5);
});
afterAll(async () => {
  await db?.drop();
});

test("aura keys rotate moves every row to the new key; the old key can then be removed", async () => {
  const before = await allRows();
  expect(new Set(before.map((r) => r.enc_key_id))).toEqual(new Set([keyIdOf(k1)]));
  const env = {
    DATABASE_URL: db.url,
    AURA_MASTER_KEY: k2.toString("base64"),
    AURA_MASTER_KEYS_OLD: k1.toString("base64"),
  };

  const r = await aura(["keys", "rotate"], env);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("re-encrypted: 5 row(s)");
  expect(r.stdout).toContain("AURA_MASTER_KEYS_OLD can now be removed");

  const after = await allRows();
  expect(after.map((x) => x.enc_key_id)).toEqual(after.map(() => keyIdOf(k2)));
  for (const row of after) {
    const old = before.find((b) => b.id === row.id)!;
    expect(row.api_secret_enc).not.toBe(old.api_secret_enc);
    expect(openApiKeyRow(new KeyRing(k2), row)).toEqual(plain.get(row.id));
    expect(() => openApiKeyRow(new KeyRing(k1), row)).toThrow(/unknown master key id/);
  }

  const status = await aura(["keys", "status"], {
    DATABASE_URL: db.url,
    AURA_MASTER_KEY: k2.toString("base64"),
  });
  expect(status.stdout).toMatch(new RegExp(`${keyIdOf(k2)}\\s+5 row\\(s\\)\\s+current`));

  // a second run has nothing to do
  expect((await aura(["keys", "rotate"], env)).stdout).toContain("re-encrypted: 0 row(s)");
});

test("services started with only the new key open every rotated row", async () => {
  const saved = { master: process.env.AURA_MASTER_KEY, old: process.env.AURA_MASTER_KEYS_OLD };
  process.env.AURA_MASTER_KEY = k2.toString("base64");
  delete process.env.AURA_MASTER_KEYS_OLD;
  // execution is the service that opens keys (in its own process, with the master key it was started with)
  const env = await startSecurityEnv({ db, services: ["keys", "execution"] });
  try {
    const accounts = (env.cluster.broker.getLocalService("execution") as any).accounts as VenueAccounts;
    for (const row of await allRows()) {
      const got = await accounts.get(Number(row.id), Number(row.user_id));
      const signer = got.client.exchange as unknown as { apiKey: string; secret: string };
      expect({ apiKey: signer.apiKey, apiSecret: signer.secret }).toEqual(plain.get(row.id));
    }
  } finally {
    await env.stop();
    process.env.AURA_MASTER_KEY = saved.master;
    if (saved.old !== undefined) process.env.AURA_MASTER_KEYS_OLD = saved.old;
  }
});

test("rows sealed with a key that is not configured are reported and left untouched (exit code 1)", async () => {
  const stranger = crypto.randomBytes(32);
  await seed(new KeyRing(stranger), 1);
  const before = await allRows();
  const report = await rotateApiKeys(db.sequelize, new KeyRing(k1, [k2]));
  expect(report.reencrypted).toBe(5);
  expect(report.failed).toEqual([
    expect.objectContaining({
      keyId: keyIdOf(stranger),
      error: expect.stringMatching(/unknown master key id/),
    }),
  ]);
  const strangerRow = before.find((r) => r.enc_key_id === keyIdOf(stranger))!;
  expect((await allRows()).find((r) => r.id === strangerRow.id)).toEqual(strangerRow);

  const cli = await aura(["keys", "rotate"], {
    DATABASE_URL: db.url,
    AURA_MASTER_KEY: k2.toString("base64"),
    AURA_MASTER_KEYS_OLD: k1.toString("base64"),
  });
  expect(cli.code).toBe(1);
  expect(cli.stderr).toMatch(/could not be re-encrypted/);
  await db.sequelize.query(`DELETE FROM user_api_keys WHERE enc_key_id = :kid`, {
    replacements: { kid: keyIdOf(stranger) },
  });
});

test("embedded installs: rotate --generate writes a new key to secrets.json, moves every row, then drops the old key", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "aura-rotate-"));
  const other = await createTestDatabase({ install: false });
  try {
    const env = {
      DATABASE_URL: other.url,
      AURA_DATA_DIR: dir,
      AURA_MASTER_KEY: undefined,
      AURA_MASTER_KEYS_OLD: undefined,
    };
    const first = resolveSecrets({ AURA_DATA_DIR: dir }, { warn: () => {} });
    await seed(new KeyRing(first.masterKey), 3, other.sequelize);
    const r = await aura(["keys", "rotate", "--generate"], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("re-encrypted: 3 row(s)");
    const file = JSON.parse(fs.readFileSync(path.join(dir, "secrets.json"), "utf8"));
    expect(file.masterKey).not.toBe(first.masterKey.toString("base64"));
    expect(file.oldMasterKeys).toEqual([]);
    expect(file.jwtSecret).toBe(first.jwtSecret.toString());
    const ring = new KeyRing(Buffer.from(file.masterKey, "base64"));
    for (const row of await allRows(other.sequelize))
      expect(openApiKeyRow(ring, row)).toEqual(plain.get(row.id));
    expect(fs.statSync(path.join(dir, "secrets.json")).mode & 0o777).toBe(0o600);
  } finally {
    await other.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
