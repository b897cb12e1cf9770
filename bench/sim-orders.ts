// Simulator order path: market-order round trips per second through ccxt (sign, HTTP, verify,
// match, respond, parse) against two baselines on the same server in the same run: a bare
// keep-alive HTTP GET /api/v3/ping loop, and the same ping through ccxt. Target: an order costs
// at most 3× a ping (ratio ≥ 0.33). A third line times the same signed market order sent with a
// bare HTTP client, which separates the simulator's own cost from ccxt's client-side work.
// Every order is checked to have FILLED, and the venue must hold exactly the orders sent.
// Run: node --import tsx bench/sim-orders.ts [orders]
import http from "node:http";
import { performance } from "node:perf_hooks";
import { createSimulator, hmacHex } from "../src/sim";
import { benchEnv, emit } from "./lib";

const N = Number(process.argv[2] ?? 2000);
const RUNS = 3;
const env = benchEnv({
  requests: N,
  transport: "loopback keep-alive, client and simulator in one process",
});

async function best(run: () => Promise<number>): Promise<number> {
  let top = 0;
  for (let i = 0; i < RUNS; i++) top = Math.max(top, await run());
  return top;
}

async function main(): Promise<void> {
  const sim = await createSimulator({
    step: true,
    from: "2023-06-01",
    limits: { weightPerMinute: 1e9, ordersPer10s: 1e9, ordersPerDay: 1e9 },
  });
  await sim.listen(0, "127.0.0.1");
  const acc = sim.createAccount({ balances: { USDT: "100000000", BTC: "10000" } });
  const ccxt = require("ccxt");
  const ex = new ccxt.binance({ apiKey: acc.apiKey, secret: acc.secretKey, enableRateLimit: false });
  ex.options.fetchMarkets = { types: ["spot"] };
  ex.options.fetchCurrencies = false;
  ex.options.fetchMargins = false;
  const u = sim.ccxtUrls();
  ex.urls.api.public = u.public;
  ex.urls.api.private = u.private;
  await ex.loadMarkets();

  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const bare = () =>
    new Promise<void>((resolve, reject) => {
      http
        .get(`${sim.baseUrl}/api/v3/ping`, { agent }, (res) => {
          res.resume();
          res.on("end", () =>
            res.statusCode === 200 ? resolve() : reject(new Error(`ping ${res.statusCode}`)),
          );
        })
        .on("error", reject);
    });

  const rawOrder = (i: number) =>
    new Promise<void>((resolve, reject) => {
      const b = `timestamp=${Date.now()}&symbol=BTCUSDT&side=${i % 2 ? "SELL" : "BUY"}&type=MARKET&quantity=0.001&newOrderRespType=FULL&recvWindow=10000`;
      const body = `${b}&signature=${hmacHex(acc.secretKey, b)}`;
      const req = http.request(
        `${sim.baseUrl}/api/v3/order`,
        {
          method: "POST",
          agent,
          headers: { "X-MBX-APIKEY": acc.apiKey, "Content-Type": "application/x-www-form-urlencoded" },
        },
        (res) => {
          let text = "";
          res.on("data", (d) => (text += d));
          res.on("end", () => {
            if (res.statusCode !== 200 || JSON.parse(text).status !== "FILLED")
              reject(new Error(`order failed: ${res.statusCode} ${text}`));
            else {
              filled++;
              resolve();
            }
          });
        },
      );
      req.on("error", reject);
      req.end(body);
    });

  const rate = async (n: number, one: (i: number) => Promise<unknown>) => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await one(i);
    return (n / (performance.now() - t0)) * 1000;
  };
  let filled = 0;
  const order = async (i: number) => {
    const o = await ex.createOrder("BTC/USDT", "market", i % 2 ? "sell" : "buy", 0.001);
    if (o.status !== "closed" || o.filled !== 0.001) throw new Error(`order ${o.id} not filled: ${o.status}`);
    filled++;
  };

  // warm-up (JIT, sockets)
  await rate(300, bare);
  await rate(300, () => ex.publicGetPing());
  await rate(300, order);
  await rate(300, rawOrder);

  const bareRate = await best(() => rate(N, bare));
  const ccxtPingRate = await best(() => rate(N, () => ex.publicGetPing()));
  const orderRate = await best(() => rate(N, order));
  const rawOrderRate = await best(() => rate(N, rawOrder));
  if (filled !== 2 * (300 + RUNS * N))
    throw new Error(`expected ${2 * (300 + RUNS * N)} filled orders, got ${filled}`);
  const held = sim.orders().length;
  if (held !== filled) throw new Error(`the venue holds ${held} orders, expected ${filled}`);

  emit(env, "sim_market_order_roundtrip_vs_bare_ping", orderRate, bareRate, "req/s", {
    costVsPing: +(bareRate / orderRate).toFixed(2),
    target: "costVsPing <= 3",
  });
  emit(env, "sim_market_order_roundtrip_vs_ccxt_ping", orderRate, ccxtPingRate, "req/s", {
    costVsPing: +(ccxtPingRate / orderRate).toFixed(2),
  });
  emit(env, "sim_market_order_raw_http_vs_bare_ping", rawOrderRate, bareRate, "req/s", {
    costVsPing: +(bareRate / rawOrderRate).toFixed(2),
    note: "same order, bare HTTP client: the simulator's own cost",
  });

  agent.destroy();
  await ex.close?.();
  await sim.close();
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
