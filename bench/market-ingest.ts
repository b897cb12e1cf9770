// M3: closed-kline messages per second from the WebSocket frame (raw Binance combined-stream
// JSON text) through AURA's decoder, the per-series continuity logic (MarketFeed + CandleSeries)
// and the published Moleculer event (local broker, no-op listener), against a bare JSON.parse of
// the same frames in the same run. A second metric mixes in forming-candle updates (x:false), 12
// per closed candle as the simulator sends them.
// Run: node --import tsx bench/market-ingest.ts
import { EventEmitter } from "node:events";
import { ServiceBroker } from "moleculer";
import { decodeStreamFrame } from "../src/adapters/exchange/kline-decoder";
import type { KlineStream } from "../src/adapters/exchange/kline-stream";
import type { MarketRest } from "../src/adapters/exchange/market-rest";
import { MarketFeed } from "../src/adapters/market/feed";
import { MARKET_EVENTS } from "../src/core/market/events";
import { benchEnv, emit } from "./lib";

const SERIES = ["btcusdt", "ethusdt", "bnbusdt", "solusdt", "xrpusdt", "adausdt", "dogeusdt", "ltcusdt"];
const CLOSED_PER_SERIES = Number(process.env.BENCH_CANDLES ?? 25_000);
const RUNS = 5;
const WARMUPS = 3;
const H = 3_600_000;
const T0 = Date.UTC(2023, 0, 1);

function frame(sym: string, i: number, closed: boolean, step = 12): string {
  const t = T0 + i * H;
  const px = (30_000 + (i % 500) + step / 100).toFixed(8);
  const upper = sym.toUpperCase();
  return (
    `{"stream":"${sym}@kline_1h","data":{"e":"kline","E":${t + H - (closed ? 0 : 1000 * (13 - step))},"s":"${upper}","k":{"t":${t},"T":${t + H - 1},"s":"${upper}","i":"1h",` +
    `"f":${i * 100},"L":${i * 100 + 99},"o":"${px}","c":"${px}","h":"${px}","l":"${px}","v":"1234.56780000","n":100,"x":${closed},` +
    `"q":"37036800.12345678","V":"617.28390000","Q":"18518400.06172839","B":"0"}}}`
  );
}

/** Frames in arrival order: series interleaved, each candle's forming updates (optional) then its close. */
function frames(withForming: boolean): { list: string[]; closed: number } {
  const list: string[] = [];
  let closed = 0;
  for (let i = 0; i < CLOSED_PER_SERIES; i++) {
    for (const s of SERIES) {
      if (withForming) for (let k = 1; k <= 12; k++) list.push(frame(s, i, false, k));
      list.push(frame(s, i, true));
      closed++;
    }
  }
  return { list, closed };
}

/** A KlineStream stand-in: the feed subscribes to its events; the bench feeds it decoded frames. */
class FrameSource extends EventEmitter {
  async add(): Promise<void> {}
  remove(): void {}
  stats() {
    return { connected: true, disconnectedSince: undefined };
  }
  async close(): Promise<void> {}
}

async function main(): Promise<void> {
  const broker = new ServiceBroker({ logger: false, nodeID: "bench" });
  let delivered = 0;
  let lastOpen = 0;
  broker.createService({
    name: "noop-strategy",
    events: {
      [MARKET_EVENTS.candleClosed](ctx: any) {
        delivered++;
        lastOpen = ctx.params.candle.openTime;
      },
    },
  });
  await broker.start();

  const runOurs = async (list: string[]) => {
    const source = new FrameSource();
    const feed = new MarketFeed({
      stream: source as unknown as KlineStream,
      rest: {} as MarketRest,
      updateThrottleMs: 1000,
      publisher: {
        // as the service does it: fire and forget, failures logged
        closed: (ev) => void broker.broadcast(MARKET_EVENTS.candleClosed, ev).catch(() => {}),
        updated: () => {},
        gap: () => {},
        stale: () => {},
      },
    });
    for (const s of SERIES) await feed.start(s.toUpperCase(), "1h");
    delivered = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < list.length; i++) {
      const m = decodeStreamFrame(list[i]);
      if (m.type === "kline") source.emit("kline", m);
      // a socket read hands over ~64 KB (≈170 frames) per task; promise jobs run between reads
      if ((i & 127) === 127) await new Promise<void>((r) => setImmediate(r));
    }
    await new Promise<void>((r) => setImmediate(r));
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    await feed.close();
    return s;
  };

  const runParse = (list: string[]) => {
    let sink = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < list.length; i++) sink += JSON.parse(list[i]).data.k.t & 1;
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    if (sink < 0) console.log(sink);
    return s;
  };

  const env = benchEnv({ series: SERIES.length, runs: RUNS, warmups: WARMUPS });
  for (const withForming of [false, true]) {
    const { list, closed } = frames(withForming);
    const bytes = list.reduce((n, f) => n + f.length, 0) / list.length;
    let ours = Infinity;
    let parse = Infinity;
    for (let r = 0; r < WARMUPS + RUNS; r++) {
      const a = await runOurs(list);
      const b = runParse(list);
      // outputs match: every closed candle was delivered, the last one last
      if (delivered !== closed || lastOpen !== T0 + (CLOSED_PER_SERIES - 1) * H)
        throw new Error(`delivered ${delivered}/${closed}, last ${lastOpen}`);
      if (r >= WARMUPS) {
        ours = Math.min(ours, a);
        parse = Math.min(parse, b);
      }
    }
    emit(
      {
        ...env,
        frames: list.length,
        closedCandles: closed,
        avgFrameBytes: Math.round(bytes),
        closedPublishedPerS: Math.round(closed / ours),
      },
      withForming
        ? "market_ingest_mixed_frames_per_s_vs_json_parse"
        : "market_ingest_closed_klines_per_s_vs_json_parse",
      Math.round(list.length / ours),
      Math.round(list.length / parse),
      "msg/s",
    );
  }
  await broker.stop();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
