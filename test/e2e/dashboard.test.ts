// The dashboard as a person uses it, in real Chromium against a real `aura start` on its embedded
// defaults (every service, the built-in simulator): register, add simulator keys (one refused with
// its reason), run two backtests and compare them, sweep a parameter, watch live candles, stay
// signed in while idle past the access token's lifetime, get sent to the login page (and back)
// when the session is revoked elsewhere, and sign out. Each page is screenshotted into
// test/e2e/artifacts/ and checked with axe-core (no serious or critical violations), and no page
// may trip its Content-Security-Policy.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { freePort, killChildren, ROOT, startAura, stopAura, type Aura } from "../support/aura-process";
import { describeViolations, findChromium, launch, screenshot, seriousA11yViolations } from "./browser";

jest.setTimeout(600_000);

const chromiumPath = findChromium();
const HANDLER = path.join(ROOT, "web/build/handler.js");

if (!chromiumPath) {
  const msg =
    "\n\n  *** test/e2e SKIPPED: no Chromium found (install Debian's `chromium` or set CHROMIUM_PATH) ***\n\n";
  if (process.env.CI) throw new Error(msg + "  (CI is set: the e2e suite must run)");
  console.warn(msg);
}
const suite = chromiumPath ? describe : describe.skip;

const ACCESS_TTL_SEC = 30;
const EMAIL = `trader-${Date.now()}@example.com`;
const PASSWORD = "correct horse battery staple 42";
const NEW_PASSWORD = "another long passphrase 7";

suite("dashboard in Chromium", () => {
  let dataDir: string;
  let aura: Aura;
  let simPort: number;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const cspViolations: string[] = [];
  const pageErrors: string[] = [];
  const refreshes: number[] = [];
  const runIds: string[] = [];

  const url = (p: string) => aura.baseUrl + p;
  const simAdmin = async (p: string, body: unknown) => {
    const res = await fetch(`http://127.0.0.1:${simPort}/sim/v1${p}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`simulator admin ${p}: ${res.status} ${await res.text()}`);
    return (await res.json()) as { apiKey: string; secretKey: string };
  };
  async function checkPage(name: string): Promise<void> {
    await screenshot(page, name);
    const violations = await seriousA11yViolations(page);
    if (violations.length) throw new Error(`axe on ${name}:\n${describeViolations(violations)}`);
  }

  beforeAll(async () => {
    if (!fs.existsSync(HANDLER))
      throw new Error(`${HANDLER} is missing: the dashboard is built by npm ci (npm run build -w web)`);
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "aura-e2e-"));
    simPort = await freePort();
    const services = fs
      .readdirSync(path.join(ROOT, "services"))
      .filter((f) => f.endsWith(".service.ts"))
      .map((f) => f.replace(/\.service\.ts$/, ""))
      .join(",");
    aura = await startAura(dataDir, {
      SERVICES: services,
      SIM_PORT: String(simPort),
      // the simulator replays late 2024, so the backtested first half of 2024 is history to it
      // (the market-data service serves no candle after a live series' newest)
      SIM_FROM: "2024-12-01",
      ACCESS_TOKEN_TTL_SEC: String(ACCESS_TTL_SEC),
      BACKTEST_WORKERS: "1",
      LOG_LEVEL: "warn",
    });
    browser = await launch(chromiumPath!);
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.on("console", (m) => {
      if (/Content.Security.Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    page.on("response", (r) => {
      if (r.url().endsWith("/api/v1/auth/refresh") && r.status() === 200) refreshes.push(Date.now());
    });
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

  test("the gateway serves the dashboard with its own CSP and keeps JSON 404s and the strict CSP for /api", async () => {
    const home = await fetch(url("/login"));
    expect(home.status).toBe(200);
    expect(home.headers.get("content-type")).toMatch(/text\/html/);
    const csp = home.headers.get("content-security-policy") ?? "";
    expect(csp).toMatch(/script-src 'self' 'sha256-/);
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
    const api404 = await fetch(url("/api/v1/nope"));
    expect(api404.status).toBe(404);
    expect(((await api404.json()) as { error: { code: string } }).error.code).toBe("NOT_FOUND");
    const apiOther = await fetch(url("/api/elsewhere"));
    expect(apiOther.status).toBe(404);
    expect(apiOther.headers.get("content-type")).toMatch(/application\/json/);
    const me = await fetch(url("/api/v1/auth/me"));
    expect(me.headers.get("content-security-policy")).toBe("default-src 'none'; frame-ancestors 'none'");
    const page404 = await fetch(url("/no-such-page"));
    expect(page404.status).toBe(404);
  });

  test("an unauthenticated visit goes to the login page", async () => {
    await page.goto(url("/account"));
    await page.waitForURL(/\/login\?next=%2Faccount$/);
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    await checkPage("login");
  });

  test("register, then land on keys & account signed in", async () => {
    await page.getByRole("link", { name: "Create an account" }).click();
    await page.waitForURL(/\/register$/);
    await page.getByLabel("Email").fill(EMAIL);
    await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await page.getByLabel("Repeat the password").fill(PASSWORD);
    await checkPage("register");
    await page.getByRole("button", { name: "Create account" }).click();
    await page.waitForURL(/\/account$/);
    await page.getByTestId("signed-in-as").getByText(EMAIL).waitFor();
    // the refresh token is an HttpOnly, SameSite=Strict cookie scoped to the auth routes
    const cookie = (await context.cookies()).find((c) => c.name === "aura_refresh");
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Strict", path: "/api/v1/auth" });
    expect(await page.evaluate("document.cookie")).not.toContain("aura_refresh");
  });

  test("add a simulator key; a key that can withdraw is refused with the reason", async () => {
    const good = await simAdmin("/accounts", { balances: { USDT: "10000" } });
    await page.getByLabel("Label", { exact: true }).fill("Simulator");
    await page.getByLabel("Exchange", { exact: true }).selectOption("sim");
    await page.getByLabel("API key", { exact: true }).fill(good.apiKey);
    await page.getByLabel("API secret", { exact: true }).fill(good.secretKey);
    await page.getByRole("button", { name: "Add key" }).click();
    await page.getByText("“Simulator” was checked and stored.").waitFor();
    const row = page.getByTestId("keys-table").getByRole("row", { name: /Simulator/ });
    await row.getByText("valid").waitFor();
    await expect(row.textContent()).resolves.toContain(`****${good.apiKey.slice(-4)}`);
    expect(await page.content()).not.toContain(good.secretKey);

    const risky = await simAdmin("/accounts", {
      balances: { USDT: "10" },
      permissions: { enableWithdrawals: true },
    });
    await page.getByLabel("Label", { exact: true }).fill("Withdrawals on");
    await page.getByLabel("API key", { exact: true }).fill(risky.apiKey);
    await page.getByLabel("API secret", { exact: true }).fill(risky.secretKey);
    await page.getByRole("button", { name: "Add key" }).click();
    await page.getByTestId("key-refused").waitFor();
    expect(await page.getByTestId("key-refused").textContent()).toMatch(/withdraw/i);
    await page
      .getByTestId("keys-table")
      .getByRole("row", { name: /Withdrawals on/ })
      .getByText("invalid")
      .waitFor();
    await checkPage("account");
  });

  async function runBacktest(example: string, from: string, to: string): Promise<string> {
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Backtests" }).click();
    await page.waitForURL(/\/backtests$/);
    await page.getByRole("link", { name: "New backtest" }).click();
    await page.waitForURL(/\/backtests\/new$/);
    await page.getByLabel("Strategy", { exact: true }).selectOption({ label: `Example: ${example}` });
    await page.getByLabel("From", { exact: true }).fill(from);
    await page.getByLabel("To", { exact: true }).fill(to);
    await page.getByRole("button", { name: "Run backtest" }).click();
    await page.waitForURL(/\/backtests\/[0-9a-f-]{36}$/);
    await page.getByTestId("run-status").getByText("completed").waitFor({ timeout: 120_000 });
    return page.url().split("/").pop()!;
  }

  test("run a backtest and see its metrics, curves, price chart and trades", async () => {
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Backtests" }).click();
    await page.getByRole("link", { name: "New backtest" }).click();
    await page.waitForURL(/\/backtests\/new$/);
    await checkPage("backtest-new");
    runIds.push(await runBacktest("EMA cross with RSI filter", "2024-01-01", "2024-06-30"));
    await page.getByRole("table", { name: "Metrics" }).waitFor();
    const trades = page.getByRole("table", { name: /^Trades \(\d+\)$/ });
    await trades.waitFor();
    expect(await trades.getByRole("row").count()).toBeGreaterThan(1);
    await page
      .getByRole("img", { name: /price with \d+ trades marked/ })
      .locator("canvas")
      .first()
      .waitFor();
    await page.getByRole("img", { name: /^Equity curve/ }).waitFor();
    await checkPage("backtest-result");
  });

  test("compare it with a second run", async () => {
    runIds.push(await runBacktest("MACD momentum above the 200 EMA", "2024-01-01", "2024-06-30"));
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Backtests" }).click();
    await page.waitForURL(/\/backtests$/);
    for (const id of runIds) await page.locator(`tr[data-run-id="${id}"] input[type=checkbox]`).check();
    await checkPage("backtests");
    await page.getByRole("button", { name: "Compare selected (2)" }).click();
    await page.waitForURL(/\/backtests\/compare\?ids=/);
    const table = page.getByTestId("compare-table");
    await table.waitFor();
    expect(await table.locator("thead th").count()).toBe(3);
    await table.locator('tr[data-metric="sharpe"]').waitFor();
    await page.getByRole("img", { name: /Equity curves of 2 backtests/ }).waitFor();
    await checkPage("compare");
  });

  test("a parameter sweep ranks its runs in a sortable table", async () => {
    await page.goto(url("/sweeps/new"));
    await page
      .getByLabel("Strategy", { exact: true })
      .selectOption({ label: "Example: EMA cross with RSI filter" });
    await page.getByLabel("From", { exact: true }).fill("2024-01-01");
    await page.getByLabel("To", { exact: true }).fill("2024-03-31");
    await page.getByLabel("Field 1").fill("indicators.fast.period");
    await page.getByLabel("Values 1").fill("8, 12");
    await page.getByRole("button", { name: "Start sweep" }).click();
    await page.waitForURL(/\/sweeps\/[0-9a-f-]{36}$/);
    const table = page.getByTestId("sweep-table");
    await table.locator("tbody tr").nth(1).waitFor({ timeout: 120_000 });
    const header = table.getByRole("button", { name: "indicators.fast.period" });
    const column = () => table.locator("tbody tr td:nth-child(3)").allTextContents();
    await header.click();
    expect(await column()).toEqual(["8", "12"]);
    await header.click();
    expect(await column()).toEqual(["12", "8"]);
    await checkPage("sweep");
  });

  test("the dashboard chart shows stored candles and live updates", async () => {
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Dashboard" }).click();
    await page.waitForURL(url("/"));
    await page
      .getByRole("img", { name: /BTCUSDT 1h candlestick chart/ })
      .locator("canvas")
      .first()
      .waitFor();
    // a function, not a string: the page's CSP rightly refuses to evaluate strings
    await page.waitForFunction(
      () => {
        const el = (globalThis as any).document.querySelector('[data-testid="live-count"]');
        return Number(el?.textContent ?? "0") >= 2;
      },
      undefined,
      { timeout: 60_000 },
    );
    expect(await page.getByTestId("last-price").textContent()).toMatch(/^\d{1,3}(,\d{3})*\.\d{2}$/);
    await checkPage("dashboard");
  });

  test("idle past the access token's lifetime, the session carries on through refreshes", async () => {
    const before = refreshes.length;
    await page.waitForTimeout((ACCESS_TTL_SEC + 8) * 1000);
    const liveBefore = Number(await page.getByTestId("live-count").textContent());
    await page
      .getByRole("navigation", { name: "Main" })
      .getByRole("link", { name: "Keys & account" })
      .click();
    await page.waitForURL(/\/account$/);
    await page.getByTestId("keys-table").waitFor();
    expect(refreshes.length).toBeGreaterThan(before);
    expect(liveBefore).toBeGreaterThan(2);
    // a reload keeps the session too: the cookie restores it with one refresh
    await page.reload();
    await page.getByTestId("keys-table").waitFor();
    expect(page.url()).toMatch(/\/account$/);
  });

  test("a session revoked elsewhere sends the user to the login page and back", async () => {
    const id = runIds[0];
    await page.goto(url(`/backtests/${id}`));
    await page.getByRole("table", { name: "Metrics" }).waitFor();
    // another client changes the password: every session of the account ends
    const login = await fetch(url("/api/v1/auth/login"), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: EMAIL, password: PASSWORD }),
    });
    const tokens = (await login.json()) as { accessToken: string };
    const changed = await fetch(url("/api/v1/auth/password"), {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${tokens.accessToken}` },
      body: JSON.stringify({ currentPassword: PASSWORD, newPassword: NEW_PASSWORD }),
    });
    expect(changed.status).toBe(200);
    await page.getByRole("link", { name: "Run again with changes" }).click();
    await page.waitForURL(/\/login\?next=/, { timeout: 20_000 });
    await page.getByLabel("Email").fill(EMAIL);
    await page.getByLabel("Password").fill(NEW_PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(new RegExp(`/backtests/(new\\?from=${id}|${id})$`));
    await page.getByTestId("signed-in-as").waitFor();
  });

  test("sign out ends the session and removes the cookie", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(/\/login$/);
    expect((await context.cookies()).find((c) => c.name === "aura_refresh")).toBeUndefined();
    await page.goto(url("/backtests"));
    await page.waitForURL(/\/login\?next=%2Fbacktests$/);
  });
});
