// The history page and the dashboard's portfolio as a trader uses them, in real Chromium against
// a real `aura start` on its embedded defaults. A real paper trade is made first, without the
// strategy builder: an example strategy is created and activated in paper mode over the API, and
// the built-in simulator is started in step mode (SIM_STEP=1) so the test moves its clock candle
// by candle through the simulator's admin API (POST /sim/v1/clock/advance) until the strategy
// has closed a round trip. Then: the trade shows on the history page, filters narrow it and stay
// in the URL across a reload, keyset pages go forwards and back, the CSV export downloads with
// the RFC 4180 header and the trade's id, the PDF export downloads and pdftotext finds the totals
// and the trade. Each page is screenshotted into test/e2e/artifacts/ and checked with axe-core.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { freePort, killChildren, ROOT, startAura, stopAura, type Aura } from "../support/aura-process";
import { describeViolations, findChromium, launch, screenshot, seriousA11yViolations } from "./browser";

jest.setTimeout(300_000);

const chromiumPath = findChromium();
const HANDLER = path.join(ROOT, "web/build/handler.js");

if (!chromiumPath) {
  const msg =
    "\n\n  *** test/e2e SKIPPED: no Chromium found (install Debian's `chromium` or set CHROMIUM_PATH) ***\n\n";
  if (process.env.CI) throw new Error(msg + "  (CI is set: the e2e suite must run)");
  console.warn(msg);
}
const suite = chromiumPath ? describe : describe.skip;

const EMAIL = `history-${Date.now()}@example.com`;
const PASSWORD = "correct horse battery staple 42";
const H = 3_600_000;
// A few candles before the example strategy's EMA cross of 2024-12-04 20:00 UTC, which the
// bundled BTCUSDT 1h history closes at take-profit six hours later: a round trip within a few
// dozen steps of the clock.
const SIM_FROM = "2024-12-04T16:00:00Z";
const MAX_STEPS = 80;
const CSV_HEADER =
  "id,exitTime,entryTime,strategyId,strategy,mode,symbol,side,qty,entryPrice,exitPrice,fees,pnl,exitReason";

interface TradeRow {
  id: number;
  symbol: string;
  pnl: string;
  exitReason: string;
  strategyId: number;
}

suite("history and portfolio in Chromium", () => {
  let dataDir: string;
  let aura: Aura;
  let simPort: number;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let token: string;
  let strategyId: number;
  let trade: TradeRow;
  let totals: { count: number; pnl: string; fees: string };
  const cspViolations: string[] = [];
  const pageErrors: string[] = [];

  const url = (p: string) => aura.baseUrl + p;
  async function api<T>(method: string, p: string, body?: unknown): Promise<T> {
    const res = await fetch(url(`/api/v1${p}`), {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  }
  async function sim(p: string, body: unknown): Promise<unknown> {
    const res = await fetch(`http://127.0.0.1:${simPort}/sim/v1${p}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`simulator admin ${p}: ${res.status} ${await res.text()}`);
    return res.json();
  }
  async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const v = await fn().catch(() => undefined);
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  async function checkPage(name: string): Promise<void> {
    await screenshot(page, name);
    const violations = await seriousA11yViolations(page);
    if (violations.length) throw new Error(`axe on ${name}:\n${describeViolations(violations)}`);
  }

  beforeAll(async () => {
    if (!fs.existsSync(HANDLER))
      throw new Error(`${HANDLER} is missing: the dashboard is built by npm ci (npm run build -w web)`);
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "aura-e2e-history-"));
    simPort = await freePort();
    const services = fs
      .readdirSync(path.join(ROOT, "services"))
      .filter((f) => f.endsWith(".service.ts"))
      .map((f) => f.replace(/\.service\.ts$/, ""))
      .join(",");
    aura = await startAura(dataDir, {
      SERVICES: services,
      SIM_PORT: String(simPort),
      SIM_FROM,
      // the clock moves only when the test steps it
      SIM_STEP: "1",
      BACKTEST_WORKERS: "1",
      LOG_LEVEL: "warn",
    });
    browser = await launch(chromiumPath!);
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    page = await context.newPage();
    page.on("console", (m) => {
      if (/Content.Security.Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    page.on("pageerror", (e) => pageErrors.push(String(e)));
  });

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    if (aura) await stopAura(aura).catch(() => killChildren());
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  afterEach(() => {
    expect(cspViolations).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  test("a paper strategy makes a round trip on the stepped simulator", async () => {
    await api("POST", "/auth/register", { email: EMAIL, password: PASSWORD });
    token = (await api<{ accessToken: string }>("POST", "/auth/login", { email: EMAIL, password: PASSWORD }))
      .accessToken;
    const definition = JSON.parse(
      fs.readFileSync(path.join(ROOT, "examples/strategies/ema-cross-rsi.json"), "utf8"),
    ) as unknown;
    strategyId = (await api<{ id: number }>("POST", "/strategies", { definition })).id;
    await api("POST", `/strategies/${strategyId}/activate`, { mode: "paper" });
    await until("a runner to hold the strategy", async () => {
      const s = await api<{ runner: unknown }>("GET", `/strategies/${strategyId}`);
      return s.runner ? true : undefined;
    });

    for (let step = 0; step < MAX_STEPS && !trade; step++) {
      const clock = (await sim("/clock/advance", { candles: 1 })) as { time: number };
      // the actor decides the candle that just closed before the clock moves on; an actor still
      // warming up misses that close and catches up on the next one, hence no failure here
      await until(
        "the strategy to decide the candle",
        async () => {
          const s = await api<{ lastCandleTime: number | null }>("GET", `/strategies/${strategyId}`);
          return s.lastCandleTime !== null && s.lastCandleTime >= clock.time - H ? true : undefined;
        },
        5_000,
      ).catch(() => undefined);
      // and execution has nothing in flight (the OCO's legs rest on the venue)
      await until("orders to settle", async () => {
        const busy = await Promise.all(
          ["PENDING", "SUBMITTING", "UNKNOWN", "PENDING_CANCEL"].map((status) =>
            api<{ totals: { count: number } }>("GET", `/orders?status=${status}&limit=1`),
          ),
        );
        return busy.every((b) => b.totals.count === 0) ? true : undefined;
      });
      const got = await api<{ items: TradeRow[]; totals: typeof totals }>("GET", "/trades?limit=10");
      if (got.items.length) {
        trade = got.items[0];
        totals = got.totals;
      }
    }
    expect(trade).toBeDefined();
    expect(trade).toMatchObject({ symbol: "BTCUSDT", strategyId });
  });

  test("the dashboard shows the portfolio, its P&L and the decision log", async () => {
    await page.goto(url("/login"));
    await page.getByLabel("Email").fill(EMAIL);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(url("/"));
    await page.getByTestId("portfolio-value").waitFor();
    expect(await page.getByTestId("portfolio-value").textContent()).toMatch(/^-?[\d,]+\.\d{2} USDT$/);
    await page.getByRole("table", { name: "Realised P&L and fees" }).waitFor();
    await page.getByTestId("activity-log").getByText("decision").first().waitFor();
    await page
      .getByRole("img", { name: /BTCUSDT 1h candlestick chart/ })
      .locator("canvas")
      .first()
      .waitFor();
    await checkPage("dashboard-portfolio");
  });

  test("the trade appears in the history with the totals of the filtered set", async () => {
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "History" }).click();
    await page.waitForURL(/\/history$/);
    await page.locator(`tr[data-trade-id="${trade.id}"]`).waitFor();
    expect(await page.getByTestId("totals-count").textContent()).toBe(String(totals.count));
    await page.getByRole("heading", { name: "P&L analysis" }).waitFor();
    await page.getByRole("img", { name: /^Cumulative realised P&L over \d+ trades/ }).waitFor();
    await page.getByRole("img", { name: /^P&L by weekday of exit/ }).waitFor();
    await page.getByRole("table", { name: /^Performance metrics/ }).waitFor();
    await checkPage("history");
  });

  test("filters narrow the rows and stay in the URL across a reload", async () => {
    await page.getByLabel("Symbol", { exact: true }).selectOption("ETHUSDT");
    await page.getByRole("button", { name: "Apply filters" }).click();
    await page.waitForURL(/symbol=ETHUSDT/);
    await page.getByText("No closed trades match these filters.").first().waitFor();
    expect(await page.getByTestId("totals-count").textContent()).toBe("0");

    await page.getByLabel("Symbol", { exact: true }).selectOption("BTCUSDT");
    await page.getByLabel("Exit reason", { exact: true }).selectOption(trade.exitReason);
    await page.getByLabel("Mode", { exact: true }).selectOption("paper");
    await page.getByRole("button", { name: "Apply filters" }).click();
    await page.waitForURL(new RegExp(`symbol=BTCUSDT.*mode=paper.*exitReason=${trade.exitReason}`));
    await page.locator(`tr[data-trade-id="${trade.id}"]`).waitFor();

    // a P&L bound the trade misses removes it
    const pnl = Number(trade.pnl);
    await page.getByLabel("Min P&L (USDT)", { exact: true }).fill(String(Math.ceil(Math.abs(pnl)) + 1));
    await page.getByRole("button", { name: "Apply filters" }).click();
    await page.waitForURL(/minPnl=/);
    await page.getByText("No closed trades match these filters.").first().waitFor();
    await page.getByLabel("Min P&L (USDT)", { exact: true }).fill("");
    await page.getByRole("button", { name: "Apply filters" }).click();
    await page.waitForURL((u) => !u.searchParams.has("minPnl"));

    await page.reload();
    await page.locator(`tr[data-trade-id="${trade.id}"]`).waitFor();
    expect(await page.getByLabel("Symbol", { exact: true }).inputValue()).toBe("BTCUSDT");
    expect(await page.getByLabel("Exit reason", { exact: true }).inputValue()).toBe(trade.exitReason);
    await checkPage("history-filtered");
  });

  test("keyset pages go forwards and back", async () => {
    const orders = await api<{ items: { id: number }[]; totals: { count: number } }>(
      "GET",
      `/orders?strategyId=${strategyId}&limit=2`,
    );
    expect(orders.totals.count).toBeGreaterThanOrEqual(2);
    await page.goto(url(`/history?tab=orders&strategyId=${strategyId}&limit=1`));
    const firstRow = page.getByTestId("orders-table").locator("tbody tr");
    await firstRow.first().waitFor();
    expect(await firstRow.getAttribute("data-order-id")).toBe(String(orders.items[0].id));
    expect(await page.getByTestId("page-number").textContent()).toBe("Page 1");
    await checkPage("history-orders");

    await page.getByRole("link", { name: "Next page" }).click();
    await page.waitForURL(/trail=/);
    await page.getByTestId("page-number").getByText("Page 2").waitFor();
    await page.locator(`tr[data-order-id="${orders.items[1].id}"]`).waitFor();
    expect(await page.getByTestId("totals-count").textContent()).toBe(String(orders.totals.count));

    await page.getByRole("link", { name: "Previous page" }).click();
    await page.getByTestId("page-number").getByText("Page 1").waitFor();
    await page.locator(`tr[data-order-id="${orders.items[0].id}"]`).waitFor();
    expect(page.url()).not.toMatch(/trail=/);
  });

  test("the CSV and PDF exports of the current filters download with the trade", async () => {
    await page.goto(url(`/history?symbol=BTCUSDT&strategyId=${strategyId}`));
    await page.locator(`tr[data-trade-id="${trade.id}"]`).waitFor();

    const [csvDownload] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Export CSV" }).click(),
    ]);
    expect(csvDownload.suggestedFilename()).toMatch(/^aura-trades-.*\.csv$/);
    const csv = fs.readFileSync((await csvDownload.path())!, "utf8");
    const lines = csv.split("\r\n");
    expect(lines[0]).toBe(CSV_HEADER);
    expect(lines.some((l) => l.startsWith(`${trade.id},`))).toBe(true);
    expect(csv.replace(/\r\n/g, "")).not.toContain("\n");

    const [pdfDownload] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Export PDF" }).click(),
    ]);
    expect(pdfDownload.suggestedFilename()).toMatch(/^aura-trades-.*\.pdf$/);
    const pdfPath = path.join(dataDir, "trades.pdf");
    await pdfDownload.saveAs(pdfPath);
    expect(fs.readFileSync(pdfPath).subarray(0, 5).toString()).toBe("%PDF-");
    const text = execFileSync("pdftotext", ["-layout", pdfPath, "-"], { encoding: "utf8" });
    expect(text).toContain(totals.pnl);
    expect(text).toMatch(new RegExp(`trades\\s+${totals.count}\\b`, "i"));
    expect(text).toMatch(new RegExp(`^\\s*${trade.id}\\s.*BTCUSDT`, "m"));
    await checkPage("history-exports");
  });
});
