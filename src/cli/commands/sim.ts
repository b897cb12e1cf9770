// `aura sim`: runs the Binance-compatible exchange simulator on loopback, prints where to point
// a client and a ready-made account, and stops cleanly on SIGINT/SIGTERM.
import { Command, InvalidArgumentError } from "commander";
import type { Simulator } from "../../sim";

function positiveNumber(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("must be a positive number");
  return n;
}

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError("must be a port number 0-65535");
  return n;
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

export interface SimCommandOptions {
  port: number;
  host: string;
  speed?: number;
  step?: boolean;
  from?: string;
  klines: string[];
  symbols?: string;
  usdt: string;
  adminToken?: string;
}

export function banner(sim: Simulator, acc: { apiKey: string; secretKey: string }, usdt: string): string {
  const st = sim.clock.state();
  const perCandle =
    st.mode === "step"
      ? "step mode: POST /sim/v1/clock/advance"
      : `one candle every ${(st.intervalMs / st.speed / 1000).toFixed(1)} s`;
  const u = sim.ccxtUrls();
  return [
    "AURA exchange simulator (Binance Spot API) is listening",
    `  REST      ${sim.baseUrl}/api/v3`,
    `  streams   ${sim.wsUrl}   (combined: ${sim.streamUrl}?streams=btcusdt@kline_1h)`,
    `  WS API    ${sim.wsApiUrl}`,
    `  admin     ${sim.baseUrl}/sim/v1`,
    `  replay    ${st.symbols.map((s) => s.symbol).join(", ")} from ${st.iso} at ${st.speed}x (${perCandle})`,
    "",
    `Account with ${usdt} USDT:`,
    `  apiKey    ${acc.apiKey}`,
    `  secretKey ${acc.secretKey}`,
    "",
    "ccxt:",
    `  const ex = new ccxt.pro.binance({ apiKey: "${acc.apiKey}", secret: "${acc.secretKey}",`,
    `    options: { fetchMarkets: { types: ["spot"] }, fetchCurrencies: false, fetchMargins: false } });`,
    `  ex.urls.api.public = ex.urls.api.private = "${u.public}";`,
    `  ex.urls.api.ws.spot = "${u.ws.spot}";`,
    `  ex.urls.api.ws["ws-api"].spot = "${u.ws["ws-api"].spot}";`,
    `  await ex.loadHttpProxyAgent(); // before the first watch*`,
    "",
    "Ctrl-C stops the simulator.",
  ].join("\n");
}

export async function runSim(
  o: SimCommandOptions,
  out: (s: string) => void = (s) => process.stdout.write(s + "\n"),
): Promise<Simulator> {
  // loaded on use so `aura --help` does not read the bundled klines
  const { createSimulator } = require("../../sim") as typeof import("../../sim");
  const sim = await createSimulator({
    speed: o.speed,
    step: o.step,
    from: o.from,
    klines: o.klines,
    symbols: o.symbols
      ? o.symbols
          .split(",")
          .map((s) => s.trim().toUpperCase())
          .filter(Boolean)
      : undefined,
    adminToken: o.adminToken,
  });
  await sim.listen(o.port, o.host);
  const acc = sim.createAccount({ balances: { USDT: o.usdt } });
  out(banner(sim, acc, o.usdt));
  return sim;
}

export function register(program: Command): void {
  program
    .command("sim")
    .description(
      "run the Binance-compatible exchange simulator (replays real klines; REST + WebSocket on loopback)",
    )
    .option("--port <port>", "port to listen on (0 = any free port)", port, 8090)
    .option("--host <host>", "interface to bind", "127.0.0.1")
    .option(
      "--speed <factor>",
      "replay ms per wall ms (1800 = one 1h candle every 2 s, 3600 = one per second)",
      positiveNumber,
    )
    .option("--step", "step mode: replay time moves only via POST /sim/v1/clock/advance")
    .option(
      "--from <date>",
      "replay start (2023-01-01, an ISO time or epoch ms); default: 1000 candles into the data",
    )
    .option("--klines <dir|file>", "extra klines to replay (repeatable)", collect, [])
    .option("--symbols <list>", "bundled symbols to replay, comma-separated (default BTCUSDT,ETHUSDT)")
    .option("--usdt <amount>", "USDT balance of the ready-made account", "10000")
    .option("--admin-token <token>", "require 'Authorization: Bearer <token>' on /sim/v1")
    .action(async (o: SimCommandOptions) => {
      const sim = await runSim(o);
      await new Promise<void>((resolve) => {
        const stop = (sig: NodeJS.Signals) => {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          process.stderr.write(`\n${sig}: stopping the simulator\n`);
          void sim.close().then(resolve);
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
      });
    });
}
