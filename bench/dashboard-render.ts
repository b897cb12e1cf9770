// Dashboard rendering, in Chromium against a real `aura start` (api, auth, market-data, the
// simulator and backtests on the embedded database):
// - frame time under live updates: the signed-in dashboard (live BTCUSDT 1h chart, activity log)
//   receives 50 candle updates and 50 strategy decisions per second for 10 s, injected into its
//   own live WebSocket (Playwright's routeWebSocket proxies the real socket to the gateway and adds
//   the messages, so the page's real client and handlers process them); frame durations are the
//   requestAnimationFrame deltas collected in the page, plus its long tasks; max and p99 against
//   the same page idle for 10 s (the real stream only). Target: no frame over 50 ms.
// - the backtest result page drawing a long run: a real backtest over all the bundled 1h candles
//   the market-data service serves (~16,800) with a fast EMA cross (~500 trades), opened cold; the
//   chart's draw is timed in the page from the moment the last candle page's body has arrived to
//   the end of the first frame whose price-chart canvases hold candle pixels, against the same
//   page for a ~200-candle run. Navigation to the drawn chart (REST reads included) is reported
//   too. Target: draw ≤ 300 ms.
// JSON lines on stdout, one human summary per measurement on stderr.
// Run: node --import tsx bench/dashboard-render.ts
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Browser, BrowserContext, Page, WebSocketRoute } from "playwright-core";
import { killChildren, ROOT, startAura, stopAura, waitFor, type Aura } from "../test/support/aura-process";
import { findChromium, launch } from "../test/e2e/browser";
import { benchEnv, emit } from "./lib";

const EMAIL = `bench-render-${Date.now()}@example.com`;
const PASSWORD = "bench passphrase long enough 1";
const LIVE_MS = 10_000;
const RATE_PER_SEC = 50;
const DRAW_REPS = 5;
const LONG = { from: "2023-01-01", to: "2024-11-30" };
const SHORT = { from: "2024-06-01", to: "2024-06-08" };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] ?? NaN;
};
const say = (line: string) => process.stderr.write(`${line}\n`);

interface Frames {
  deltas: number[];
  longTasks: number[];
}

/** requestAnimationFrame deltas and long tasks of the page for `ms`. */
function collectFrames(page: Page, ms: number): Promise<Frames> {
  return page.evaluate(
    (ms: number) =>
      new Promise<Frames>((resolve) => {
        const g = globalThis as any;
        const deltas: number[] = [];
        const longTasks: number[] = [];
        const obs = new g.PerformanceObserver((list: any) => {
          for (const e of list.getEntries()) longTasks.push(e.duration);
        });
        obs.observe({ type: "longtask" });
        let prev = 0;
        const start = g.performance.now();
        const tick = (t: number) => {
          if (prev) deltas.push(t - prev);
          prev = t;
          if (t - start < ms) g.requestAnimationFrame(tick);
          else {
            obs.disconnect();
            resolve({ deltas, longTasks });
          }
        };
        g.requestAnimationFrame(tick);
      }),
    ms,
  );
}

/**
 * In every backtest result page: the time the last `/market/klines` body arrived and the end of
 * the first frame after it in which the price chart's canvases hold candle-coloured pixels.
 * Runs through the DevTools protocol, which the page's CSP does not govern.
 */
function drawProbe(): void {
  const g = globalThis as any;
  if (!/^\/backtests\/[0-9a-f-]{36}$/.test(g.location.pathname)) return;
  const b: { klinesAt: number; klinesPages: number; drawnAt: number; probeMs: number; longTasks: number[] } =
    {
      klinesAt: 0,
      probeMs: 0,
      klinesPages: 0,
      drawnAt: 0,
      longTasks: [],
    };
  g.__bench = b;
  const text = g.Response.prototype.text;
  g.Response.prototype.text = async function (this: any) {
    const body = await text.call(this);
    if (String(this.url).includes("/api/v1/market/klines")) {
      b.klinesAt = g.performance.now();
      b.klinesPages++;
    }
    return body;
  };
  new g.PerformanceObserver((list: any) => {
    for (const e of list.getEntries())
      if (b.klinesAt && e.startTime >= b.klinesAt) b.longTasks.push(e.duration);
  }).observe({ type: "longtask" });
  const candlePixels = (canvas: any): boolean => {
    const w = canvas.width;
    const h = canvas.height;
    if (!w || !h) return false;
    const d = canvas.getContext("2d").getImageData(0, 0, w, h).data;
    // every other row and column: a candle is wider than a pixel, or (thousands of candles) fills
    // every column
    for (let y = 0; y < h; y += 2)
      for (let x = 0; x < w; x += 2) {
        const i = (y * w + x) * 4;
        const r = d[i];
        const gr = d[i + 1];
        const bl = d[i + 2];
        // the series' up (#16a34a) and down (#dc2626) colours
        if (d[i + 3] > 200 && ((gr > 140 && r < 60 && bl < 100) || (r > 190 && gr < 60 && bl < 60)))
          return true;
      }
    return false;
  };
  const channel = new g.MessageChannel();
  // after the frame's animation callbacks (the chart draws in one): is the chart drawn? The time
  // the frame's work ended is taken before looking; looking at frames not yet drawn costs the page
  // time in the measured window, which is recorded (probeMs)
  channel.port1.onmessage = () => {
    const t = g.performance.now();
    const chart = g.document.querySelector('.price-chart[aria-label*="trades marked"]');
    if (b.klinesAt && chart) {
      const canvases = [...chart.querySelectorAll("canvas")];
      if (canvases.some(candlePixels)) {
        b.drawnAt = t;
        return;
      }
      b.probeMs += g.performance.now() - t;
    }
    g.requestAnimationFrame(frame);
  };
  const frame = () => channel.port2.postMessage(0);
  g.requestAnimationFrame(frame);
}

interface Draw {
  drawMs: number;
  navMs: number;
  pages: number;
  longestTask: number;
  probeMs: number;
}

async function openRun(context: BrowserContext, base: string, id: string): Promise<Draw> {
  const page = await context.newPage();
  try {
    await page.goto(`${base}/backtests/${id}`);
    await page.waitForFunction(() => (globalThis as any).__bench?.drawnAt > 0, undefined, {
      timeout: 120_000,
    });
    const b = (await page.evaluate(() => (globalThis as any).__bench)) as {
      klinesAt: number;
      klinesPages: number;
      drawnAt: number;
      probeMs: number;
      longTasks: number[];
    };
    return {
      probeMs: b.probeMs,
      drawMs: b.drawnAt - b.klinesAt,
      navMs: b.drawnAt,
      pages: b.klinesPages,
      longestTask: Math.max(0, ...b.longTasks),
    };
  } finally {
    await page.close();
  }
}

async function main(): Promise<void> {
  const chromium = findChromium();
  if (!chromium) throw new Error("no Chromium: install Debian's chromium or set CHROMIUM_PATH");
  if (!fs.existsSync(path.join(ROOT, "web/build/handler.js")))
    throw new Error("web/build is missing: npm run build -w web");
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "aura-bench-render-"));
  let aura: Aura | undefined;
  let browser: Browser | undefined;
  try {
    aura = await startAura(dataDir, {
      SERVICES: "api,auth,market-data,exchange-sim,backtest",
      SIM_PORT: "0",
      SIM_FROM: "2024-12-01",
      BACKTEST_WORKERS: "1",
      LOG_LEVEL: "warn",
      RATE_LIMIT_CREDENTIALS_PER_MIN: "0",
    });
    const base = aura.baseUrl;
    const post = (p: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(base + p, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
      });
    await post("/api/v1/auth/register", { email: EMAIL, password: PASSWORD });
    const login = await post(
      "/api/v1/auth/login",
      { email: EMAIL, password: PASSWORD },
      { "x-aura-session": "cookie" },
    );
    const m = /aura_refresh=([^;]+)/.exec(login.headers.get("set-cookie") ?? "");
    if (!m) throw new Error(`login gave no session cookie (${login.status})`);
    const { accessToken, user } = (await login.json()) as { accessToken: string; user: { id: number } };
    const auth = { authorization: `Bearer ${accessToken}` };

    // the backtests, queued while the browser measures the dashboard
    const definition = JSON.parse(
      fs.readFileSync(path.join(ROOT, "examples/strategies/ema-cross-rsi.json"), "utf8"),
    );
    definition.indicators.fast.period = 7;
    definition.indicators.slow.period = 18;
    const submit = async (period: { from: string; to: string }) => {
      const res = await post("/api/v1/backtests", { definition, ...period }, auth);
      if (res.status !== 202) throw new Error(`backtest refused: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { id: string }).id;
    };
    const longId = await submit(LONG);
    const shortId = await submit(SHORT);

    browser = await launch(chromium);
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.addCookies([
      {
        name: "aura_refresh",
        value: decodeURIComponent(m[1]),
        url: `${base}/api/v1/auth`,
        httpOnly: true,
        sameSite: "Strict",
      },
    ]);
    // tsx (esbuild, keepNames) wraps the named functions of page-side code in __name(): give the
    // page a no-op one
    await context.addInitScript("globalThis.__name = (f) => f;");
    await context.addInitScript(drawProbe);

    // --- 1. frame time under live updates
    let pageWs: WebSocketRoute | undefined;
    let newest = 0;
    let lastClose = 0;
    await context.routeWebSocket(/\/api\/v1\/live$/, (ws) => {
      const server = ws.connectToServer();
      ws.onMessage((msg) => server.send(msg));
      server.onMessage((msg) => {
        try {
          const j = JSON.parse(String(msg));
          if (
            j.type === "candle" &&
            j.symbol === "BTCUSDT" &&
            j.interval === "1h" &&
            j.candle.openTime >= newest
          ) {
            newest = j.candle.openTime;
            lastClose = Number(j.candle.close);
          }
        } catch {
          // not JSON: pass it on as it is
        }
        ws.send(msg);
      });
      pageWs = ws;
    });
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    // REST reads the page makes while measured: chart reloads (resyncs) and activity-log reloads
    const reads = { klines: 0, logs: 0 };
    page.on("request", (r) => {
      const p = new URL(r.url()).pathname;
      if (p === "/api/v1/market/klines") reads.klines++;
      if (p === "/api/v1/logs") reads.logs++;
    });
    await page.goto(`${base}/?symbol=BTCUSDT&interval=1h`);
    await page.waitForFunction(
      () => {
        const doc = (globalThis as any).document;
        return (
          !!doc.querySelector(".price-chart canvas") &&
          /\d/.test(doc.querySelector('[data-testid="last-price"]')?.textContent ?? "") &&
          !!doc.querySelector('[aria-labelledby="activity-heading"] .muted')
        );
      },
      undefined,
      { timeout: 60_000 },
    );
    // the newest candle the chart shows, unless the live stream has told us of a later one
    const k = (await (
      await fetch(`${base}/api/v1/market/klines?symbol=BTCUSDT&interval=1h&limit=1`, { headers: auth })
    ).json()) as { candles: { openTime: number; close: string }[] };
    const tail = k.candles[k.candles.length - 1];
    if (tail && tail.openTime > newest) {
      newest = tail.openTime;
      lastClose = Number(tail.close);
    }
    await waitFor(() => !!pageWs && newest > 0, 30_000, "the live socket and a candle");
    await page.waitForTimeout(1000);

    reads.klines = reads.logs = 0;
    const idle = await collectFrames(page, LIVE_MS);
    const idleReads = { ...reads };
    reads.klines = reads.logs = 0;

    const liveBefore = Number(await page.getByTestId("live-count").textContent());
    let sent = 0;
    let seq = 0;
    const t0 = Date.now();
    const timer = setInterval(() => {
      // as many as the clock says are due, so a late tick does not lower the rate
      const due = Math.floor(((Date.now() - t0) / 1000) * RATE_PER_SEC);
      for (; sent < due; sent++) {
        const close = lastClose * (1 + (Math.sin(++seq / 7) + (seq % 13) / 13 - 0.5) * 0.002);
        const open = lastClose;
        pageWs!.send(
          JSON.stringify({
            type: "candle",
            symbol: "BTCUSDT",
            interval: "1h",
            closed: false,
            candle: {
              openTime: newest,
              closeTime: newest + 3_600_000 - 1,
              open: open.toFixed(2),
              high: (Math.max(open, close) * 1.001).toFixed(2),
              low: (Math.min(open, close) * 0.999).toFixed(2),
              close: close.toFixed(2),
              volume: (10 + (seq % 50)).toFixed(5),
            },
          }),
        );
        pageWs!.send(
          JSON.stringify({
            type: "event",
            channel: "strategies",
            event: "strategy.decision",
            data: {
              userId: user.id,
              strategyId: 1 + (seq % 5),
              candleOpenTime: newest,
              action: seq % 10 === 0 ? "enter" : "hold",
              message: `bench decision ${seq}`,
            },
          }),
        );
      }
    }, 1000 / RATE_PER_SEC);
    const live = await collectFrames(page, LIVE_MS);
    clearInterval(timer);
    const liveReads = { ...reads };
    const sentMs = Date.now() - t0;
    await page.waitForTimeout(500);
    const delivered = Number(await page.getByTestId("live-count").textContent()) - liveBefore;
    await page.close();
    if (pageErrors.length) throw new Error(`the dashboard threw: ${pageErrors.join("\n")}`);

    const env = benchEnv({ chromium: path.basename(chromium) });
    const stats = (f: Frames) => ({
      max: Math.max(...f.deltas),
      p99: quantile(f.deltas, 0.99),
      p50: quantile(f.deltas, 0.5),
      frames: f.deltas.length,
      over50: f.deltas.filter((d) => d > 50).length,
      longTasks: f.longTasks.length,
      longestTask: Math.max(0, ...f.longTasks),
    });
    const s1 = stats(live);
    const s0 = stats(idle);
    const rate = (sent / sentMs) * 1000;
    const extra = {
      target: "no frame over 50 ms",
      seconds: LIVE_MS / 1000,
      candlesPerSec: +rate.toFixed(1),
      decisionsPerSec: +rate.toFixed(1),
      candleUpdatesCounted: delivered,
      live: { ...s1, restReads: liveReads },
      idle: { ...s0, restReads: idleReads },
    };
    emit(env, "dashboard max frame under 50 candles + 50 decisions/s vs idle", s1.max, s0.max, "ms", extra);
    emit(env, "dashboard p99 frame under 50 candles + 50 decisions/s vs idle", s1.p99, s0.p99, "ms", extra);
    say(
      `live updates (${rate.toFixed(0)} candles + ${rate.toFixed(0)} decisions/s, ${delivered} candle updates counted by the page): ` +
        `max frame ${s1.max.toFixed(1)} ms (idle ${s0.max.toFixed(1)}), p99 ${s1.p99.toFixed(1)} ms (idle ${s0.p99.toFixed(1)}), ` +
        `${s1.over50} frames > 50 ms of ${s1.frames}, ${s1.longTasks} long tasks (longest ${s1.longestTask.toFixed(0)} ms); ` +
        `target no frame over 50 ms ${s1.max <= 50 ? "met" : "missed"}`,
    );

    // --- 2. the backtest page drawing a long run with its trades
    const runInfo = async (id: string) => {
      await waitFor(
        async () => {
          const r = (await (await fetch(`${base}/api/v1/backtests/${id}`, { headers: auth })).json()) as {
            status: string;
          };
          if (r.status === "failed") throw new Error(`backtest ${id} failed: ${JSON.stringify(r)}`);
          return r.status === "completed";
        },
        150_000,
        `backtest ${id}`,
      );
      const r = (await (await fetch(`${base}/api/v1/backtests/${id}`, { headers: auth })).json()) as {
        params: { window?: { candles: number } };
        result: { trades: unknown[] };
      };
      return { candles: r.params.window?.candles ?? NaN, trades: r.result.trades.length };
    };
    const longRun = await runInfo(longId);
    const shortRun = await runInfo(shortId);
    await openRun(context, base, shortId); // warm the server and the page's code
    const big: Draw[] = [];
    const small: Draw[] = [];
    for (let i = 0; i < DRAW_REPS; i++) {
      small.push(await openRun(context, base, shortId));
      big.push(await openRun(context, base, longId));
    }
    const med = (xs: Draw[], f: (d: Draw) => number) => median(xs.map(f));
    const drawExtra = {
      target: "≤ 300 ms",
      reps: DRAW_REPS,
      candles: longRun.candles,
      trades: longRun.trades,
      baselineCandles: shortRun.candles,
      baselineTrades: shortRun.trades,
      runsMs: big.map((d) => Math.round(d.drawMs)),
      baselineRunsMs: small.map((d) => Math.round(d.drawMs)),
      longestTaskMs: med(big, (d) => d.longestTask),
      klinesPages: med(big, (d) => d.pages),
      probeMs: +med(big, (d) => d.probeMs).toFixed(1),
      baselineProbeMs: +med(small, (d) => d.probeMs).toFixed(1),
    };
    const drawBig = med(big, (d) => d.drawMs);
    const drawSmall = med(small, (d) => d.drawMs);
    emit(
      env,
      `backtest chart draw, ${longRun.candles} candles + ${longRun.trades} trades, vs ${shortRun.candles} candles`,
      drawBig,
      drawSmall,
      "ms",
      drawExtra,
    );
    const navBig = med(big, (d) => d.navMs);
    const navSmall = med(small, (d) => d.navMs);
    emit(
      env,
      `backtest page navigation to drawn chart, ${longRun.candles} candles, vs ${shortRun.candles} candles`,
      navBig,
      navSmall,
      "ms",
      { reps: DRAW_REPS, klinesPages: drawExtra.klinesPages },
    );
    say(
      `backtest chart: ${longRun.candles} candles + ${longRun.trades} trades drawn in ${drawBig.toFixed(0)} ms ` +
        `(${shortRun.candles} candles: ${drawSmall.toFixed(0)} ms; longest task ${drawExtra.longestTaskMs.toFixed(0)} ms); ` +
        `navigation to drawn chart ${navBig.toFixed(0)} ms (${navSmall.toFixed(0)} ms); target ≤ 300 ms ${drawBig <= 300 ? "met" : "missed"}`,
    );
  } finally {
    await browser?.close().catch(() => undefined);
    if (aura) await stopAura(aura).catch(() => killChildren());
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
