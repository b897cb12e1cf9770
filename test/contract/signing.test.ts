// Request security over plain HTTP (docs/exchange-contract.md, Signing and Rate limits): HMAC over
// the raw query + raw body as received, case-insensitive hex, timestamp/recvWindow rules, key errors
// with HTTP 401, the documented test vectors, and the X-MBX-* headers.
import { hmacHex, wsApiPayload, type Simulator } from "../../src/sim";
import { raw, signed, startSim, WsClient } from "./helpers";

// Binance's published illustrative example key pair (docs/exchange-contract.md, Signing), not a credential.
const DOC_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
const DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

let sim: Simulator;
let acc: { apiKey: string; secretKey: string };

beforeAll(async () => {
  sim = await startSim();
  acc = sim.createAccount({ balances: { USDT: "1000" } });
});
afterAll(() => sim.close());

const order = {
  symbol: "BTCUSDT",
  side: "BUY",
  type: "LIMIT",
  timeInForce: "GTC",
  quantity: "0.001",
  price: "20000",
};

describe("documented signature vectors", () => {
  it("REST: HMAC-SHA256 hex of the example payload", () => {
    const payload =
      "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
    expect(hmacHex(DOC_SECRET, payload)).toBe(
      "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71",
    );
  });

  it("WebSocket API: params sorted by name, raw values", () => {
    const params = {
      symbol: "BTCUSDT",
      side: "SELL",
      type: "LIMIT",
      timeInForce: "GTC",
      quantity: "0.01000000",
      price: "52000.00",
      recvWindow: 100,
      timestamp: 1645423376532,
      apiKey: DOC_KEY,
      signature: "ignored",
    };
    const payload = wsApiPayload(params);
    expect(payload).toBe(
      "apiKey=vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A&price=52000.00&quantity=0.01000000&recvWindow=100&side=SELL&symbol=BTCUSDT&timeInForce=GTC&timestamp=1645423376532&type=LIMIT",
    );
    expect(hmacHex(DOC_SECRET, payload)).toBe(
      "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24",
    );
  });

  it("the server accepts the REST example request byte for byte (clock pinned to the example's time)", async () => {
    const docSim = await startSim({
      now: () => 1499827319559 + 50,
      series: [
        {
          symbol: "LTCBTC",
          interval: "1h",
          rows: [[1499824800000, "0.1", "0.1", "0.1", "0.1", "1", 1499828399999, "0.1", 1, "0", "0", "0"]],
        },
      ],
      symbols: [],
      from: 1499827319559,
    });
    try {
      docSim.createAccount({ apiKey: DOC_KEY, secretKey: DOC_SECRET, balances: { BTC: "1" } });
      const body =
        "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71";
      const r = await raw(docSim, "POST", "/api/v3/order/test", body, { "X-MBX-APIKEY": DOC_KEY });
      // signature and timestamp pass; the order itself fails the 5 USDT-style minimum notional of the default filters
      expect(r.body).toEqual({ code: -1013, msg: "Filter failure: NOTIONAL" });
      const tampered = await raw(
        docSim,
        "POST",
        "/api/v3/order/test",
        body.replace("quantity=1", "quantity=2"),
        { "X-MBX-APIKEY": DOC_KEY },
      );
      expect([tampered.status, tampered.body]).toEqual([
        400,
        { code: -1022, msg: "Signature for this request is not valid." },
      ]);
    } finally {
      await docSim.close();
    }
  });
});

describe("HMAC verification", () => {
  it("accepts a correct signature", async () => {
    const r = await signed(sim, acc, "POST", "/api/v3/order/test", order);
    expect([r.status, r.body]).toEqual([200, {}]);
  });

  it("rejects a tampered parameter with -1022", async () => {
    const r = await signed(sim, acc, "POST", "/api/v3/order/test", order, {
      mutate: (q, b, sig) => ({ q, b: b.replace("quantity=0.001", "quantity=0.002"), sig }),
    });
    expect([r.status, r.body]).toEqual([
      400,
      { code: -1022, msg: "Signature for this request is not valid." },
    ]);
  });

  it("verifies a request split between query string and body (query + body, no separator)", async () => {
    const r = await signed(sim, acc, "POST", "/api/v3/order", order, { split: 3 });
    expect(r.status).toBe(200);
    expect(r.body.status).toBe("NEW");
    // the same split, signed as if joined with '&', is wrong
    const joined = await signed(sim, acc, "POST", "/api/v3/order/test", order, {
      split: 3,
      mutate: (q, b) => ({ q, b, sig: hmacHex(acc.secretKey, `${q}&${b}`) }),
    });
    expect(joined.body.code).toBe(-1022);
  });

  it("accepts an uppercase hex signature (HMAC is case-insensitive)", async () => {
    const r = await signed(sim, acc, "POST", "/api/v3/order/test", order, {
      mutate: (q, b, sig) => ({ q, b, sig: sig.toUpperCase() }),
    });
    expect([r.status, r.body]).toEqual([200, {}]);
  });

  it("lets the query string win over the body on a clash", async () => {
    const params = { ...order, quantity: "0.002" };
    const r = await signed(sim, acc, "POST", "/api/v3/order", params, {
      mutate: (q, b) => {
        const b2 = `${b}&newClientOrderId=from-body`;
        const q2 = "newClientOrderId=from-query";
        return { q: q2, b: b2, sig: hmacHex(acc.secretKey, q2 + b2) };
      },
    });
    expect(r.body.clientOrderId).toBe("from-query");
  });

  it("rejects a missing signature with -1102", async () => {
    const r = await raw(sim, "GET", `/api/v3/account?timestamp=${Date.now()}`, undefined, {
      "X-MBX-APIKEY": acc.apiKey,
    });
    expect(r.body).toEqual({
      code: -1102,
      msg: "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
    });
  });
});

describe("timestamp and recvWindow (server clock pinned)", () => {
  const T = Date.parse("2025-01-15T12:00:00Z");
  let pinned: Simulator;
  let a: { apiKey: string; secretKey: string };
  beforeAll(async () => {
    pinned = await startSim({ now: () => T });
    a = pinned.createAccount({ balances: { USDT: "1" } });
  });
  afterAll(() => pinned.close());
  const at = (timestamp: number, extra: Record<string, string | number> = {}) =>
    signed(pinned, a, "GET", "/api/v3/account", extra, { timestamp });

  it("1001 ms ahead → -1021 (ahead); 999 ms ahead is accepted", async () => {
    expect((await at(T + 1001)).body).toEqual({
      code: -1021,
      msg: "Timestamp for this request was 1000ms ahead of the server's time.",
    });
    expect((await at(T + 1000)).body.code).toBe(-1021);
    expect((await at(T + 999)).status).toBe(200);
  });

  it("older than recvWindow → -1021 (outside); exactly recvWindow old is accepted", async () => {
    expect((await at(T - 5001)).body).toEqual({
      code: -1021,
      msg: "Timestamp for this request is outside of the recvWindow.",
    });
    expect((await at(T - 5000)).status).toBe(200);
    expect((await at(T - 20_000, { recvWindow: 20_000 })).status).toBe(200);
    expect((await at(T - 20_001, { recvWindow: 20_000 })).body.code).toBe(-1021);
  });

  it("recvWindow 60001 → -1102; 60000 is the maximum", async () => {
    const r = await at(T, { recvWindow: 60001 });
    expect([r.status, r.body]).toEqual([
      400,
      { code: -1102, msg: "'recvWindow' contains unexpected value. Cannot be greater than 60000." },
    ]);
    expect((await at(T - 59_000, { recvWindow: 60000 })).status).toBe(200);
  });

  it("accepts a timestamp in microseconds", async () => {
    expect((await at(T * 1000 - 123)).status).toBe(200);
  });

  it("GET /api/v3/time reports the same clock", async () => {
    expect((await raw(pinned, "GET", "/api/v3/time")).body).toEqual({ serverTime: T });
  });
});

describe("API keys and permissions", () => {
  it("no key → -2014, unknown key → -2015, both with HTTP 401", async () => {
    const none = await raw(sim, "GET", `/api/v3/account?timestamp=${Date.now()}&signature=00`);
    expect([none.status, none.body]).toEqual([401, { code: -2014, msg: "API-key format invalid." }]);
    const unknown = await signed(
      sim,
      { apiKey: "A".repeat(64), secretKey: "x" },
      "GET",
      "/api/v3/account",
      {},
    );
    expect([unknown.status, unknown.body]).toEqual([
      401,
      { code: -2015, msg: "Invalid API-key, IP, or permissions for action." },
    ]);
  });

  it("a key without spot trading permission gets -2015 on TRADE endpoints but can still read", async () => {
    const a = sim.createAccount({
      balances: { USDT: "100" },
      permissions: { enableSpotAndMarginTrading: false },
    });
    const r = await signed(sim, a, "POST", "/api/v3/order", order);
    expect([r.status, r.body.code]).toEqual([401, -2015]);
    expect((await signed(sim, a, "GET", "/api/v3/account", {})).status).toBe(200);
    const restr = await signed(sim, a, "GET", "/sapi/v1/account/apiRestrictions", {});
    expect(restr.body).toMatchObject({
      enableSpotAndMarginTrading: false,
      enableWithdrawals: false,
      ipRestrict: true,
      enableReading: true,
    });
  });
});

describe("headers", () => {
  it("X-MBX-USED-WEIGHT-1M on every response, counted per IP", async () => {
    sim.resetLimits();
    const a = await raw(sim, "GET", "/api/v3/ping");
    const b = await raw(sim, "GET", "/api/v3/exchangeInfo");
    const c = await raw(sim, "GET", "/api/v3/klines?symbol=NOPE&interval=1h");
    expect([
      a.headers.get("x-mbx-used-weight-1m"),
      b.headers.get("x-mbx-used-weight-1m"),
      c.headers.get("x-mbx-used-weight-1m"),
    ]).toEqual(["1", "21", "23"]);
    expect(c.body).toEqual({ code: -1121, msg: "Invalid symbol." });
  });

  it("X-MBX-ORDER-COUNT-10S and -1D on successful orders only", async () => {
    sim.resetLimits();
    const ok = await signed(sim, acc, "POST", "/api/v3/order", order);
    expect([ok.headers.get("x-mbx-order-count-10s"), ok.headers.get("x-mbx-order-count-1d")]).toEqual([
      "1",
      "1",
    ]);
    const bad = await signed(sim, acc, "POST", "/api/v3/order", { ...order, quantity: "0.000000001" });
    expect(bad.body.code).toBe(-1111);
    expect(bad.headers.get("x-mbx-order-count-10s")).toBeNull();
  });

  it("the order-rate limit answers 429 with -1015", async () => {
    sim.resetLimits();
    const before = sim.limitsView();
    sim.setLimits({ ordersPer10s: 1 });
    try {
      expect((await signed(sim, acc, "POST", "/api/v3/order", order)).status).toBe(200);
      const r = await signed(sim, acc, "POST", "/api/v3/order", order);
      expect([r.status, r.body]).toEqual([
        429,
        { code: -1015, msg: "Too many new orders; current limit is 1 orders per 10 SECOND." },
      ]);
    } finally {
      sim.setLimits(before);
      sim.resetLimits();
    }
  });

  it("persisting after 429s gets the IP banned with 418 and Retry-After", async () => {
    sim.resetLimits();
    const before = sim.limitsView();
    sim.setLimits({ weightPerMinute: 3, banAfter429s: 2, banMs: 60_000 });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++) statuses.push((await raw(sim, "GET", "/api/v3/ping")).status);
      expect(statuses).toEqual([200, 200, 200, 429, 429, 418, 418]);
      const r = await raw(sim, "GET", "/api/v3/time");
      expect(r.status).toBe(418);
      expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(50);
      expect(r.body.code).toBe(-1003);
    } finally {
      sim.setLimits(before);
      sim.resetLimits();
    }
  });
});

describe("WebSocket API signing", () => {
  it("userDataStream.subscribe.signature verifies the sorted-params HMAC; a wrong one gets -1022", async () => {
    const ws = new WsClient(sim.wsApiUrl);
    await ws.opened;
    const params: Record<string, unknown> = { apiKey: acc.apiKey, timestamp: Date.now(), recvWindow: 5000 };
    params.signature = hmacHex(acc.secretKey, wsApiPayload(params));
    const ok = await ws.request({ id: "sub-1", method: "userDataStream.subscribe.signature", params });
    expect([ok.status, ok.result]).toEqual([200, { subscriptionId: 0 }]);
    const bad = await ws.request({
      id: "sub-2",
      method: "userDataStream.subscribe.signature",
      params: { ...params, signature: "0".repeat(64) },
    });
    expect([bad.status, bad.error]).toEqual([
      400,
      { code: -1022, msg: "Signature for this request is not valid." },
    ]);
    const stale: Record<string, unknown> = { apiKey: acc.apiKey, timestamp: Date.now() - 10_000 };
    stale.signature = hmacHex(acc.secretKey, wsApiPayload(stale));
    expect((await ws.request({ id: 3, method: "session.logon", params: stale })).error.code).toBe(-1021);
    await ws.close();
  });
});
