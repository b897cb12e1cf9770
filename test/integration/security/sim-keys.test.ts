// Key onboarding against the real Binance-compatible simulator (src/sim): accounts created with
// dangerous permissions are refused through the API with their reason, a safe one is accepted,
// and the accepted key opens in the execution service's own process and signs for the simulator.
import { createSimulator, type Simulator } from "../../../src/sim";
import { createCcxtClient } from "../../../src/adapters/exchange/key-validation";
import type { VenueAccounts } from "../../../src/adapters/execution/accounts";
import {
  http,
  nodeCcxt,
  registerAndLogin,
  startSecurityEnv,
  type SecurityEnv,
  type Session,
} from "./helpers";

let sim: Simulator;
let env: SecurityEnv;
let user: Session;
const ccxt = nodeCcxt();
/** The venue accounts of the execution service in this process: keys are opened there, never sent. */
const accounts = () => (env.cluster.broker.getLocalService("execution") as any).accounts as VenueAccounts;

/** Opens a key as execution does; execution reaches a "sim" key's venue at SIM_URL. */
async function openForTrading(keyId: number, userId: number) {
  const saved = process.env.SIM_URL;
  process.env.SIM_URL = sim.baseUrl;
  try {
    return await accounts().get(keyId, userId);
  } finally {
    if (saved === undefined) delete process.env.SIM_URL;
    else process.env.SIM_URL = saved;
  }
}

beforeAll(async () => {
  sim = await createSimulator({ step: true });
  await sim.listen(0);
  env = await startSecurityEnv({
    services: ["api", "auth", "keys", "execution"],
    settings: {
      keys: {
        validation: {
          simUrl: sim.baseUrl,
          timeoutMs: 3000,
          createClient: (ex: any, c: any, o: any) => createCcxtClient(ex, c, o, ccxt),
        },
      },
    },
  });
  await registerAndLogin(env.cluster.baseUrl);
  user = await registerAndLogin(env.cluster.baseUrl);
});
afterAll(async () => {
  await env?.stop();
  await sim?.close();
});

const add = (label: string, apiKey: string, apiSecret: string) =>
  http(env.cluster.baseUrl, "POST", "/keys", {
    token: user.accessToken,
    body: { label, exchange: "sim", apiKey, apiSecret },
  });

test("a spot-only key without withdrawals is accepted and can be opened for trading", async () => {
  const acct = sim.createAccount({ balances: { USDT: "1000" } });
  const res = await add("safe", acct.apiKey, acct.secretKey);
  expect(res.status).toBe(201);
  expect(res.body).toMatchObject({
    status: "valid",
    statusReason: null,
    permissions: { spotTrading: true, withdrawals: false, internalTransfer: false, universalTransfer: false },
  });
  expect(res.text).not.toContain(acct.secretKey);
  const opened = await openForTrading(res.body.id, user.id);
  expect(opened.exchange).toBe("sim");
  const signer = opened.client.exchange as unknown as { apiKey: string; secret: string };
  expect({ apiKey: signer.apiKey, secret: signer.secret }).toEqual({
    apiKey: acct.apiKey,
    secret: acct.secretKey,
  });
  // the venue accepts what it signs
  expect((await opened.client.account()).balances).toBeInstanceOf(Map);
});

test.each([
  ["withdrawal-enabled", "withdrawals_enabled", { enableWithdrawals: true }],
  ["trading-disabled", "trading_disabled", { enableSpotAndMarginTrading: false }],
  ["internal-transfer", "internal_transfer_enabled", { enableInternalTransfer: true }],
  ["universal-transfer", "universal_transfer_enabled", { permitsUniversalTransfer: true }],
])("a %s key is stored invalid with reason %s", async (label, reason, permissions) => {
  const acct = sim.createAccount({ balances: { USDT: "1000" }, permissions });
  const res = await add(label, acct.apiKey, acct.secretKey);
  expect(res.status).toBe(201);
  expect(res.body).toMatchObject({
    status: "invalid",
    statusReason: reason,
    statusMessage: expect.any(String),
  });
  await expect(openForTrading(res.body.id, user.id)).rejects.toMatchObject({
    name: "AccountUnusableError",
    reason: "invalid",
  });
});

test("a wrong secret is refused as an authentication failure", async () => {
  const acct = sim.createAccount({});
  const res = await add("wrong-secret", acct.apiKey, "x".repeat(64));
  expect(res.body).toMatchObject({ status: "invalid", statusReason: "auth_failed" });
});

test("a key without an IP whitelist is accepted with a warning", async () => {
  const acct = sim.createAccount({ permissions: { ipRestrict: false } });
  const res = await add("no-ip", acct.apiKey, acct.secretKey);
  expect(res.body).toMatchObject({
    status: "valid",
    warnings: [{ code: "no_ip_restriction", message: expect.any(String) }],
  });
});

test("without SIM_URL, 'sim' keys are checked against the simulator running in the cluster", async () => {
  const cluster = await startSecurityEnv({
    services: ["api", "auth", "keys", "exchange-sim"],
    settings: {
      "exchange-sim": { port: 0, step: true },
      keys: {
        validation: {
          timeoutMs: 3000,
          createClient: (ex: any, c: any, o: any) => createCcxtClient(ex, c, o, ccxt),
        },
      },
    },
  });
  try {
    const s = await registerAndLogin(cluster.cluster.baseUrl);
    const inCluster: Simulator = (cluster.cluster.broker.getLocalService("exchange-sim") as any).sim;
    const good = inCluster.createAccount({});
    const bad = inCluster.createAccount({ permissions: { enableWithdrawals: true } });
    const ok = await http(cluster.cluster.baseUrl, "POST", "/keys", {
      token: s.accessToken,
      body: { label: "a", exchange: "sim", apiKey: good.apiKey, apiSecret: good.secretKey },
    });
    const refused = await http(cluster.cluster.baseUrl, "POST", "/keys", {
      token: s.accessToken,
      body: { label: "b", exchange: "sim", apiKey: bad.apiKey, apiSecret: bad.secretKey },
    });
    expect(ok.body.status).toBe("valid");
    expect(refused.body).toMatchObject({ status: "invalid", statusReason: "withdrawals_enabled" });
  } finally {
    await cluster.stop();
  }
});
