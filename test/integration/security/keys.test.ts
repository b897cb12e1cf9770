// Exchange keys through the gateway: accepted only after the permission check, stored sealed,
// shown only masked, opened only inside the process that signs with them (execution, acting for
// the key's owner) and never handed out over the bus, and re-checked so a key that gains
// withdrawal rights is switched off (the periodic permission re-check).
import { QueryTypes } from "sequelize";
import { insertApiKey } from "../../../src/adapters/auth/api-keys";
import { KeyRing } from "../../../src/adapters/crypto/aead";
import { AccountUnusableError, type VenueAccounts } from "../../../src/adapters/execution/accounts";
import { availableServices } from "../../../src/runtime/runner";
import { loadSecrets } from "../../../src/runtime/secrets";
import {
  fakeExchangeClient,
  http,
  randomApiKey,
  registerAndLogin,
  SAFE_RESTRICTIONS,
  startSecurityEnv,
  type FakeKeyBehaviour,
  type SecurityEnv,
  type Session,
} from "./helpers";

/** What the fake exchange answers, per API key. */
const behaviours = new Map<string, FakeKeyBehaviour>();
const events: any[] = [];

const listener = {
  name: "listener",
  events: {
    "keys.invalidated"(ctx: any) {
      events.push(ctx.params);
    },
  },
};

let env: SecurityEnv;
let base: string;
let alice: Session;
let bob: Session;
beforeAll(async () => {
  env = await startSecurityEnv({
    // execution opens keys in its own process: the tests below use its accounts, not the bus
    services: ["api", "auth", "keys", "execution"],
    settings: {
      keys: {
        validation: { createClient: fakeExchangeClient((k) => behaviours.get(k) ?? {}) },
        recheckIntervalMs: 0,
      },
    },
    extra: [listener] as any,
  });
  base = env.cluster.baseUrl;
  await registerAndLogin(base); // admin
  alice = await registerAndLogin(base);
  bob = await registerAndLogin(base);
});
afterAll(async () => {
  await env?.stop();
});

const addKey = (s: Session, body: Record<string, unknown>) =>
  http(base, "POST", "/keys", { token: s.accessToken, body });
const q = (sql: string, replacements: Record<string, unknown> = {}) =>
  env.db.sequelize.query<any>(sql, { replacements, type: QueryTypes.SELECT });
const VIEW_FIELDS = [
  "apiKeyMasked",
  "createdAt",
  "exchange",
  "id",
  "label",
  "permissions",
  "status",
  "statusMessage",
  "statusReason",
  "validatedAt",
  "warnings",
];

test("a safe key is accepted: 201 with a masked key, never the key or the secret", async () => {
  const apiKey = randomApiKey();
  const apiSecret = randomApiKey();
  const res = await addKey(alice, { label: "main", exchange: "binance", apiKey, apiSecret });
  expect(res.status).toBe(201);
  expect(res.headers.get("location")).toBe(`/api/v1/keys/${res.body.id}`);
  expect(Object.keys(res.body).sort()).toEqual(VIEW_FIELDS);
  expect(res.body).toMatchObject({
    label: "main",
    exchange: "binance",
    apiKeyMasked: `****${apiKey.slice(-4)}`,
    status: "valid",
    statusReason: null,
    permissions: { spotTrading: true, withdrawals: false, internalTransfer: false, universalTransfer: false },
    validatedAt: expect.any(String),
  });
  for (const r of [
    res,
    await http(base, "GET", "/keys", { token: alice.accessToken }),
    await http(base, "GET", `/keys/${res.body.id}`, { token: alice.accessToken }),
  ]) {
    expect(r.text).not.toContain(apiSecret);
    expect(r.text).not.toContain(apiKey);
    expect(r.text).not.toContain(apiKey.slice(0, 8));
  }
  const [row] = await q(`SELECT * FROM user_api_keys WHERE id = :id`, { id: res.body.id });
  expect(JSON.stringify(row)).not.toContain(apiSecret);
  expect(JSON.stringify(row)).not.toContain(apiKey);
  expect(row.api_key_last4).toBe(apiKey.slice(-4));
  expect(row.enc_key_id).toBe(new KeyRing(loadSecrets().masterKey).currentId);
  expect(row.api_secret_enc).toMatch(/^v1\.mk-[0-9a-f]{16}\./);
});

test.each<[string, FakeKeyBehaviour, string]>([
  [
    "withdrawals enabled",
    { restrictions: { ...SAFE_RESTRICTIONS, enableWithdrawals: true } },
    "withdrawals_enabled",
  ],
  [
    "spot trading disabled",
    { restrictions: { ...SAFE_RESTRICTIONS, enableSpotAndMarginTrading: false } },
    "trading_disabled",
  ],
  [
    "internal transfer enabled",
    { restrictions: { ...SAFE_RESTRICTIONS, enableInternalTransfer: true } },
    "internal_transfer_enabled",
  ],
  [
    "universal transfer enabled",
    { restrictions: { ...SAFE_RESTRICTIONS, permitsUniversalTransfer: true } },
    "universal_transfer_enabled",
  ],
  ["a failing exchange (fail closed)", { error: new Error("socket hang up") }, "exchange_error"],
])("a key with %s is stored invalid with that reason", async (_n, behaviour, reason) => {
  const apiKey = randomApiKey();
  behaviours.set(apiKey, behaviour);
  const res = await addKey(alice, {
    label: `k-${reason}`,
    exchange: "binance",
    apiKey,
    apiSecret: randomApiKey(),
  });
  expect(res.status).toBe(201);
  expect(res.body).toMatchObject({
    status: "invalid",
    statusReason: reason,
    statusMessage: expect.stringMatching(/^.{20,}$/),
  });
  const [row] = await q(`SELECT status, status_reason FROM user_api_keys WHERE id = :id`, {
    id: res.body.id,
  });
  expect(row).toEqual({ status: "invalid", status_reason: reason });
});

test("bad input is refused with 400 and nothing is stored", async () => {
  const before = await q(`SELECT count(*)::int AS n FROM user_api_keys`);
  for (const body of [
    { label: "x", exchange: "kraken", apiKey: randomApiKey(), apiSecret: randomApiKey() },
    { label: "x", exchange: "binance", apiKey: "not/a key!", apiSecret: randomApiKey() },
    { label: "", exchange: "binance", apiKey: randomApiKey(), apiSecret: randomApiKey() },
    { label: "x", exchange: "binance", apiKey: randomApiKey() },
  ]) {
    const res = await addKey(alice, body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("VALIDATION_ERROR");
  }
  expect(await q(`SELECT count(*)::int AS n FROM user_api_keys`)).toEqual(before);
});

test("labels are unique per user; rename, delete", async () => {
  const a = await addKey(alice, {
    label: "dup",
    exchange: "binance",
    apiKey: randomApiKey(),
    apiSecret: randomApiKey(),
  });
  expect(
    (
      await addKey(alice, {
        label: "dup",
        exchange: "binance",
        apiKey: randomApiKey(),
        apiSecret: randomApiKey(),
      })
    ).status,
  ).toBe(409);
  // another user may use the same label
  expect(
    (
      await addKey(bob, {
        label: "dup",
        exchange: "binance",
        apiKey: randomApiKey(),
        apiSecret: randomApiKey(),
      })
    ).status,
  ).toBe(201);
  const renamed = await http(base, "PATCH", `/keys/${a.body.id}`, {
    token: alice.accessToken,
    body: { label: "renamed" },
  });
  expect(renamed.status).toBe(200);
  expect(renamed.body.label).toBe("renamed");
  expect((await http(base, "DELETE", `/keys/${a.body.id}`, { token: alice.accessToken })).status).toBe(204);
  expect((await http(base, "GET", `/keys/${a.body.id}`, { token: alice.accessToken })).status).toBe(404);
  expect((await http(base, "DELETE", `/keys/${a.body.id}`, { token: alice.accessToken })).status).toBe(404);
});

test("validate re-checks with the exchange and records the outcome", async () => {
  const apiKey = randomApiKey();
  const created = await addKey(alice, {
    label: "to-validate",
    exchange: "binance",
    apiKey,
    apiSecret: randomApiKey(),
  });
  expect(created.body.status).toBe("valid");
  behaviours.set(apiKey, { restrictions: { ...SAFE_RESTRICTIONS, enableWithdrawals: true } });
  const res = await http(base, "POST", `/keys/${created.body.id}/validate`, { token: alice.accessToken });
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ status: "invalid", statusReason: "withdrawals_enabled" });
  behaviours.delete(apiKey);
  const again = await http(base, "POST", `/keys/${created.body.id}/validate`, { token: alice.accessToken });
  expect(again.body.status).toBe("valid");
  const audit = await q(
    `SELECT outcome FROM audit_log WHERE action = 'keys.validate' AND target_id = :id ORDER BY id`,
    { id: String(created.body.id) },
  );
  expect(audit.map((a: any) => a.outcome)).toEqual(["failure", "success"]);
});

test("the periodic re-check switches a key that gained withdrawal rights to invalid and announces it", async () => {
  const apiKey = randomApiKey();
  const created = await addKey(bob, {
    label: "recheck",
    exchange: "binance",
    apiKey,
    apiSecret: randomApiKey(),
  });
  behaviours.set(apiKey, { restrictions: { ...SAFE_RESTRICTIONS, enableWithdrawals: true } });
  events.length = 0;
  const svc: any = env.cluster.broker.getLocalService("keys");
  expect(await svc.recheckDue(0)).toBeGreaterThan(0);
  const [row] = await q(`SELECT status, status_reason FROM user_api_keys WHERE id = :id`, {
    id: created.body.id,
  });
  expect(row).toEqual({ status: "invalid", status_reason: "withdrawals_enabled" });
  expect(events).toContainEqual({ userId: bob.id, keyId: created.body.id, reason: "withdrawals_enabled" });
  expect(
    await q(`SELECT action FROM audit_log WHERE action = 'keys.recheck_failed' AND target_id = :id`, {
      id: String(created.body.id),
    }),
  ).toHaveLength(1);
});

/** The venue accounts of the execution service running in this process (where keys are opened). */
const accounts = () => (env.cluster.broker.getLocalService("execution") as any).accounts as VenueAccounts;

describe("opening a key for trading", () => {
  let keyId: number;
  let apiKey: string;
  let apiSecret: string;
  beforeAll(async () => {
    apiKey = randomApiKey();
    apiSecret = randomApiKey();
    keyId = (await addKey(alice, { label: "trading", exchange: "binance", apiKey, apiSecret })).body.id;
  });

  test("execution opens the key in its own process, for its owner", async () => {
    const acc = await accounts().get(keyId, alice.id);
    expect({ keyId: acc.keyId, userId: acc.userId, exchange: acc.exchange }).toEqual({
      keyId,
      userId: alice.id,
      exchange: "binance",
    });
    const signer = acc.client.exchange as unknown as { apiKey: string; secret: string };
    expect({ apiKey: signer.apiKey, secret: signer.secret }).toEqual({ apiKey, secret: apiSecret });
  });

  test("refuses another user's key", async () => {
    await expect(accounts().get(keyId, bob.id)).rejects.toMatchObject({
      name: "AccountUnusableError",
      reason: "not_owner",
    });
  });

  test("refuses a key once it is invalid (the invalidation event drops the open client)", async () => {
    behaviours.set(apiKey, { restrictions: { ...SAFE_RESTRICTIONS, enableSpotAndMarginTrading: false } });
    await http(base, "POST", `/keys/${keyId}/validate`, { token: alice.accessToken });
    let err: unknown;
    for (const until = Date.now() + 5000; Date.now() < until;) {
      err = await accounts()
        .get(keyId, alice.id)
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      if (err) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(err).toBeInstanceOf(AccountUnusableError);
    expect(err).toMatchObject({ reason: "invalid" });
    behaviours.delete(apiKey);
    await http(base, "POST", `/keys/${keyId}/validate`, { token: alice.accessToken });
  });

  test("a sealed secret copied into another user's row does not open (fail closed)", async () => {
    const bobKey = await addKey(bob, {
      label: "victim-copy",
      exchange: "binance",
      apiKey: randomApiKey(),
      apiSecret: randomApiKey(),
    });
    await env.db.sequelize.query(
      `UPDATE user_api_keys SET api_secret_enc = (SELECT api_secret_enc FROM user_api_keys WHERE id = :from) WHERE id = :to`,
      {
        replacements: { from: keyId, to: bobKey.body.id },
      },
    );
    const err: unknown = await accounts()
      .get(bobKey.body.id, bob.id)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toMatchObject({ name: "AccountUnusableError", reason: "unreadable" });
    expect(String((err as Error).message)).not.toContain(apiSecret);
    const res = await http(base, "POST", `/keys/${bobKey.body.id}/validate`, { token: bob.accessToken });
    expect(res.body).toMatchObject({ status: "invalid", statusReason: "key_unreadable" });
    expect(res.text).not.toContain(apiSecret);
  });

  test("no decrypting route exists over HTTP", async () => {
    for (const [method, path] of [
      ["POST", "/keys/decrypt"],
      ["GET", "/keys.decrypt"],
      ["POST", "/api/v1/keys/decrypt"],
      ["GET", "/~node/actions"],
    ]) {
      const res = await http(base, method, path, {
        token: alice.accessToken,
        body: method === "POST" ? { keyId } : undefined,
      });
      expect([path, res.status]).toEqual([path, 404]);
      expect(res.text).not.toContain(apiSecret);
    }
  });
});

// What a user cares about: whoever can call actions on the bus, as the key's owner, an admin, or
// any service an action admits, gets no plaintext of a stored key back from any of them.
describe("secrets never travel over the bus", () => {
  let all: SecurityEnv;
  beforeAll(async () => {
    all = await startSecurityEnv({
      db: env.db,
      services: availableServices(),
      settings: {
        "exchange-sim": { port: 0, step: true },
        "market-data": { watch: [], loadBundled: false, staleAfterMs: 0 },
        keys: { validation: { createClient: fakeExchangeClient(() => ({})) }, recheckIntervalMs: 0 },
        backtest: { workers: 1 },
      },
    });
  }, 120_000);
  afterAll(async () => {
    await all?.stop();
  });

  test("keys.decrypt is not registered, and no registered action returns a stored key's plaintext", async () => {
    const broker = all.cluster.broker;
    const actions = (
      broker.registry.getActionList({ onlyLocal: true, skipInternal: false, withEndpoints: false }) as any[]
    ).map((a) => ({
      name: a.name as string,
      callers: (Array.isArray(a.action?.callers) ? a.action.callers : []) as string[],
    }));
    const names = actions.map((a) => a.name);
    expect(names).not.toContain("keys.decrypt");
    expect(names).toEqual(expect.arrayContaining(["keys.list", "keys.get", "execution.submit"]));
    await expect(
      broker.call("keys.decrypt", { keyId: 1 }, { meta: { user: { id: alice.id, role: "user" } } }),
    ).rejects.toMatchObject({ name: "ServiceNotFoundError" });

    const secrets = loadSecrets();
    const ring = new KeyRing(secrets.masterKey, secrets.oldMasterKeys);
    const apiKey = randomApiKey();
    const apiSecret = randomApiKey();
    const store = async () =>
      Number(
        (
          await insertApiKey(env.db.sequelize, ring, {
            userId: alice.id,
            label: `bus-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`,
            exchange: "sim",
            apiKey,
            apiSecret,
            status: "valid",
            statusReason: null,
            permissions: { spotTrading: true },
            validatedAt: new Date(),
          })
        ).id,
      );
    let keyId = await store();
    const leaks: string[] = [];
    let calls = 0;
    for (const a of actions) {
      // every caller the action admits (a family "x.*" by one of its members), and none
      const callers = [undefined, ...a.callers.map((c) => (c.endsWith(".*") ? `${c.slice(0, -2)}.1` : c))];
      for (const caller of callers)
        for (const role of ["user", "admin"])
          for (const params of [{}, { id: keyId, keyId, userId: alice.id }]) {
            calls++;
            const out = await broker
              .call(a.name, params, {
                meta: { user: { id: alice.id, email: alice.email, role } },
                timeout: 3000,
                ...(caller ? { caller } : {}),
              })
              .then(
                (r) => JSON.stringify(r ?? null),
                (e: any) => JSON.stringify({ message: e?.message, type: e?.type, data: e?.data }),
              );
            for (const s of [apiKey, apiSecret, apiSecret.slice(0, 16), apiKey.slice(0, 16)])
              if (out.includes(s))
                leaks.push(`${a.name} as ${caller ?? "nobody"} (${role}) returned part of the key`);
            // a destructive action (keys.remove) may have taken the key: store it again
            const [row] = await env.db.sequelize.query(`SELECT 1 FROM user_api_keys WHERE id = :keyId`, {
              replacements: { keyId },
              type: QueryTypes.SELECT,
            });
            if (!row) keyId = await store();
          }
    }
    process.stdout.write(`bus: ${actions.length} actions, ${calls} calls, no plaintext returned\n`);
    expect(leaks).toEqual([]);
  }, 300_000);
});
