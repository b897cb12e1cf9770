// Key permission checks over HTTP: the real ccxt client (spot-only options, URLs pointed at a local server)
// against a minimal Binance stand-in that checks the API-key header and HMAC signature and
// answers /api/v3/account and /sapi/v1/account/apiRestrictions per key. Every dangerous flag,
// a bad signature, an HTTP 500 and a timeout are each refused with their own reason.
import {
  createCcxtClient,
  validateExchangeKey,
  type KeyExchange,
} from "../../../src/adapters/exchange/key-validation";
import {
  nodeCcxt,
  randomApiKey,
  SAFE_RESTRICTIONS,
  startFakeBinance,
  type FakeBinance,
  type FakeBinanceKey,
} from "./helpers";

let fake: FakeBinance;
let url: string;
beforeAll(async () => {
  fake = await startFakeBinance();
  url = fake.url;
});
afterAll(async () => {
  await fake?.close();
});

const ccxt = nodeCcxt();
function check(k: FakeBinanceKey & { apiKey?: string }, exchange: KeyExchange = "sim") {
  const apiKey = k.apiKey ?? randomApiKey();
  fake.keys.set(apiKey, k);
  return validateExchangeKey(
    { exchange, apiKey, apiSecret: k.secret },
    { simUrl: url, timeoutMs: 400, createClient: (ex, creds, o) => createCcxtClient(ex, creds, o, ccxt) },
  );
}

test("a safe key passes; only /api/v3/account and apiRestrictions are called (spot-only options)", async () => {
  fake.seen.length = 0;
  const r = await check({ secret: randomApiKey() });
  expect(r).toMatchObject({ ok: true, permissions: { spotTrading: true, withdrawals: false } });
  expect([...new Set(fake.seen)].sort()).toEqual(["/api/v3/account", "/sapi/v1/account/apiRestrictions"]);
});

test.each<[string, Partial<FakeBinanceKey>, string]>([
  [
    "withdrawals enabled",
    { restrictions: { ...SAFE_RESTRICTIONS, enableWithdrawals: true } },
    "withdrawals_enabled",
  ],
  [
    "internal transfer enabled",
    { restrictions: { ...SAFE_RESTRICTIONS, enableInternalTransfer: true } },
    "internal_transfer_enabled",
  ],
  [
    "universal transfer permitted",
    { restrictions: { ...SAFE_RESTRICTIONS, permitsUniversalTransfer: true } },
    "universal_transfer_enabled",
  ],
  [
    "spot trading disabled on the key",
    { restrictions: { ...SAFE_RESTRICTIONS, enableSpotAndMarginTrading: false } },
    "trading_disabled",
  ],
  [
    "trading disabled on the account",
    { account: { canTrade: false, permissions: ["SPOT"], balances: [] } },
    "trading_disabled",
  ],
  ["HTTP 500 from apiRestrictions", { restrictions: "500" }, "exchange_error"],
  ["a timeout on apiRestrictions", { restrictions: "hang" }, "exchange_unreachable"],
])("%s is refused with its own reason", async (_n, k, reason) => {
  const r = await check({ secret: randomApiKey(), ...k });
  expect(r).toMatchObject({ ok: false, reason, message: expect.any(String) });
});

test("an unknown key and a wrong secret → auth_failed", async () => {
  const unknown = await validateExchangeKey(
    { exchange: "sim", apiKey: randomApiKey(), apiSecret: randomApiKey() },
    { simUrl: url, timeoutMs: 400, createClient: (ex, creds, o) => createCcxtClient(ex, creds, o, ccxt) },
  );
  expect(unknown).toMatchObject({ ok: false, reason: "auth_failed" });
  const apiKey = randomApiKey();
  fake.keys.set(apiKey, { secret: randomApiKey() });
  const wrongSecret = await validateExchangeKey(
    { exchange: "sim", apiKey, apiSecret: randomApiKey() },
    { simUrl: url, timeoutMs: 400, createClient: (ex, creds, o) => createCcxtClient(ex, creds, o, ccxt) },
  );
  expect(wrongSecret).toMatchObject({ ok: false, reason: "auth_failed" });
});

test("nothing listening → exchange_unreachable", async () => {
  const r = await validateExchangeKey(
    { exchange: "sim", apiKey: randomApiKey(), apiSecret: randomApiKey() },
    {
      simUrl: "http://127.0.0.1:9",
      timeoutMs: 400,
      createClient: (ex, creds, o) => createCcxtClient(ex, creds, o, ccxt),
    },
  );
  expect(r).toMatchObject({ ok: false, reason: "exchange_unreachable" });
});

test("sim clients point every REST family at the simulator, never at binance.com", () => {
  const ex: any = createCcxtClient(
    "sim",
    { apiKey: "k", secret: "s" },
    { simUrl: url, timeoutMs: 400 },
    ccxt,
  );
  for (const [k, v] of Object.entries(ex.urls.api))
    if (typeof v === "string") expect([k, v.startsWith(url)]).toEqual([k, true]);
  expect(ex.urls.api.sapi).toBe(`${url}/sapi/v1`);
  expect(ex.verbose).toBe(false);
});
