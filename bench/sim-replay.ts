// Replay streaming throughput: kline messages per second delivered to one WebSocket subscriber
// while the simulator replays the bundled BTCUSDT/ETHUSDT history as fast as it can (realtime
// mode at a huge speed, so every price point is due at once and the timer loop runs in
// batches). Baseline in the same run: a bare `ws` server pushing a pre-serialised kline of the
// same size to one client. Target: ≥ 50,000 msg/s. The last message must be the final closed
// candle of the data, equal to the bundled row.
// Run: node --import tsx bench/sim-replay.ts [candles]
import { performance } from "node:perf_hooks";
import WebSocket, { WebSocketServer } from "ws";
import { bundledSeries } from "../src/adapters/klines/files";
import { createSimulator } from "../src/sim";
import { benchEnv, emit } from "./lib";

const CANDLES = Number(process.argv[2] ?? 12_000);
const RUNS = 3;
const env = benchEnv({
  candles: CANDLES,
  pointsPerCandle: 13,
  transport: "loopback, subscriber and simulator in one process",
});

const rows = bundledSeries("BTCUSDT", "1h");
const last = rows[rows.length - 1];
const startIdx = rows.length - CANDLES;

async function oursOnce(): Promise<{ rate: number; messages: number }> {
  // start paused in step mode so the subscription is in place before time runs
  const sim = await createSimulator({ step: true, from: rows[startIdx][0] });
  await sim.listen(0, "127.0.0.1");
  const ws = new WebSocket(`${sim.wsUrl}/btcusdt@kline_1h`);
  await new Promise((r) => ws.once("open", r));
  await sim.whenSubscribed("btcusdt@kline_1h");
  // price points after the first (already current) one, plus one close per candle
  const expected = CANDLES * 14 - 1;
  let n = 0;
  let final: Buffer | undefined;
  const done = new Promise<void>((resolve) => {
    ws.on("message", (data: Buffer) => {
      if (++n === expected) {
        final = data;
        resolve();
      }
    });
  });
  const t0 = performance.now();
  sim.clock.setSpeed(1e9);
  sim.clock.setStepMode(false);
  await done;
  const rate = (n / (performance.now() - t0)) * 1000;
  const k = JSON.parse(final!.toString()).k;
  if (k.t !== last[0] || !k.x || k.c !== last[4] || k.v !== last[5])
    throw new Error(`last message is not the final candle: ${final}`);
  ws.close();
  await sim.close();
  return { rate, messages: n };
}

async function baselineOnce(sample: string, count: number): Promise<number> {
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", perMessageDeflate: false });
  await new Promise((r) => wss.once("listening", r));
  const port = (wss.address() as { port: number }).port;
  wss.on("connection", (sock) => {
    let sent = 0;
    const pump = () => {
      while (sent < count && sock.bufferedAmount < 8 * 1024 * 1024) {
        sock.send(sample);
        sent++;
      }
      if (sent < count) setTimeout(pump, 5);
    };
    pump();
  });
  const ws = new WebSocket(`ws://127.0.0.1:${port}`);
  let n = 0;
  const t0 = performance.now();
  await new Promise<void>((resolve) => ws.on("message", () => ++n === count && resolve()));
  const rate = (n / (performance.now() - t0)) * 1000;
  ws.close();
  await new Promise((r) => wss.close(r));
  return rate;
}

async function main(): Promise<void> {
  const r = last;
  const sample = `{"e":"kline","E":${r[0]},"s":"BTCUSDT","k":{"t":${r[0]},"T":${r[6]},"s":"BTCUSDT","i":"1h","f":1,"L":2,"o":"${r[1]}","c":"${r[4]}","h":"${r[2]}","l":"${r[3]}","v":"${r[5]}","n":${r[8]},"x":false,"q":"${r[7]}","V":"${r[9]}","Q":"${r[10]}","B":"0"}}`;
  await oursOnce(); // warm-up
  let best = { rate: 0, messages: 0 };
  for (let i = 0; i < RUNS; i++) {
    const x = await oursOnce();
    if (x.rate > best.rate) best = x;
  }
  await baselineOnce(sample, best.messages);
  let base = 0;
  for (let i = 0; i < RUNS; i++) base = Math.max(base, await baselineOnce(sample, best.messages));
  emit(env, "sim_replay_kline_stream", best.rate, base, "msg/s", {
    messages: best.messages,
    target: "ours >= 50000",
  });
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
