// The strategies pages as a person uses them, in real Chromium against a real `aura start` on its
// embedded defaults: build an EMA-cross strategy in the visual builder (blocks dragged with the
// mouse, and steps done with the keyboard only), see a validator error on the block it concerns,
// save it, backtest it from its own link, activate it in paper mode, see the list show it active
// on a runner node, and watch its decisions arrive. Each page is screenshotted into
// test/e2e/artifacts/ and checked with axe-core, and no page may trip its Content-Security-Policy.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
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

const EMAIL = `builder-${Date.now()}@example.com`;
const PASSWORD = "correct horse battery staple 42";
const NAME = "EMA cross built in the browser";

suite("strategies in Chromium", () => {
  let dataDir: string;
  let aura: Aura;
  let browser: Browser;
  let page: Page;
  let strategyId: string;
  const cspViolations: string[] = [];
  const pageErrors: string[] = [];

  const url = (p: string) => aura.baseUrl + p;
  async function checkPage(name: string): Promise<void> {
    await screenshot(page, name);
    const violations = await seriousA11yViolations(page);
    if (violations.length) throw new Error(`axe on ${name}:\n${describeViolations(violations)}`);
  }
  const entrySlot = (side: "left" | "right") =>
    page.getByRole("group", {
      name: `Entry, AND group, item 1 crosses above comparison: ${side} operand`,
      exact: true,
    });

  beforeAll(async () => {
    if (!fs.existsSync(HANDLER))
      throw new Error(`${HANDLER} is missing: the dashboard is built by npm ci (npm run build -w web)`);
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "aura-e2e-strategies-"));
    const services = fs
      .readdirSync(path.join(ROOT, "services"))
      .filter((f) => f.endsWith(".service.ts"))
      .map((f) => f.replace(/\.service\.ts$/, ""))
      .join(",");
    aura = await startAura(dataDir, {
      SERVICES: services,
      SIM_PORT: String(await freePort()),
      // the simulator replays late 2024, so the backtested first quarter of 2024 is history to it
      SIM_FROM: "2024-12-01",
      BACKTEST_WORKERS: "1",
      LOG_LEVEL: "warn",
    });
    browser = await launch(chromiumPath!);
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
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

  test("register and find no strategies yet", async () => {
    await page.goto(url("/register"));
    await page.getByLabel("Email").fill(EMAIL);
    await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await page.getByLabel("Repeat the password").fill(PASSWORD);
    await page.getByRole("button", { name: "Create account" }).click();
    await page.waitForURL(/\/account$/);
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Strategies" }).click();
    await page.waitForURL(/\/strategies$/);
    await page.getByText("No strategies yet.").waitFor();
    await checkPage("strategies-empty");
  });

  test("build an EMA cross by dragging blocks, and with the keyboard only", async () => {
    await page.getByRole("link", { name: "New strategy" }).click();
    await page.waitForURL(/\/strategies\/new$/);
    await page.locator("#st-name").fill(NAME);

    // indicators: dragged from the palette onto the indicators area, then configured in forms
    const indicators = page.getByTestId("drop-indicators");
    await page.getByRole("button", { name: /^Add EMA/ }).dragTo(indicators);
    await page.getByRole("button", { name: /^Add EMA/ }).dragTo(indicators);
    for (const [old, name, period] of [
      ["ema", "fast", "12"],
      ["ema2", "slow", "26"],
    ]) {
      const card = page.locator(`[data-indicator="${old}"]`);
      await card.getByLabel("period").fill(period);
      await card.getByLabel("period").press("Tab");
      await card.getByLabel("Name").fill(name);
      await card.getByLabel("Name").press("Tab");
      await page.locator(`[data-indicator="${name}"]`).waitFor();
    }

    // entry: a "crosses above" block dragged into the AND group; its empty slots are errors
    await page
      .getByRole("button", { name: "crosses above comparison" })
      .dragTo(page.getByTestId("entry-conditions").getByTestId("drop-group").first());
    await entrySlot("left").locator('[data-code="invalid_operand"]').waitFor();
    await page.getByRole("button", { name: "fast", exact: true }).dragTo(entrySlot("left"));
    expect(await entrySlot("left").getByRole("combobox").inputValue()).toBe("fast");
    expect(await entrySlot("left").locator('[data-code="invalid_operand"]').count()).toBe(0);

    // the keyboard only: pick the operand up with Enter, walk the targets with the arrows, Enter
    await page.getByRole("button", { name: "slow", exact: true }).focus();
    await page.keyboard.press("Enter");
    const menu = page.getByRole("listbox", { name: /Place slow in/ });
    await menu.waitFor();
    expect(await menu.evaluate((el) => el === el.ownerDocument.activeElement)).toBe(true);
    await page.keyboard.press("ArrowDown");
    await page.keyboard.press("Enter");
    await menu.waitFor({ state: "detached" });
    expect(await entrySlot("right").getByRole("combobox").inputValue()).toBe("slow");

    // exit: added, then a "crosses below" block placed with the keyboard (Entry's group is first)
    await page.getByRole("button", { name: "Add exit conditions" }).click();
    await page.getByRole("button", { name: "crosses below comparison" }).focus();
    await page.keyboard.press("Enter");
    await page.getByRole("listbox", { name: /Place a new crosses below comparison in/ }).waitFor();
    await page.keyboard.press("End");
    await page.keyboard.press("Enter");
    const exitSlot = (side: string) =>
      page.getByRole("group", {
        name: `Exit, OR group, item 1 crosses below comparison: ${side} operand`,
        exact: true,
      });
    await exitSlot("left").getByRole("combobox").selectOption("fast");
    await exitSlot("right").getByRole("combobox").selectOption("slow");

    await page.getByLabel("Take-profit (%)").fill("3");
    await page.getByLabel("Take-profit (%)").press("Tab");
    await page.getByLabel("Stop-loss (%)").fill("1.5");
    await page.getByLabel("Stop-loss (%)").press("Tab");
    await page.getByTestId("builder-status").getByText("valid", { exact: true }).waitFor();

    // the JSON view holds exactly the document the blocks describe
    await page.getByText("JSON view (edit the definition directly)").click();
    const doc = JSON.parse(await page.getByLabel("Strategy definition (JSON)").inputValue());
    expect(doc).toEqual({
      name: NAME,
      symbol: "BTCUSDT",
      interval: "1h",
      indicators: {
        fast: { type: "EMA", period: 12, source: "close" },
        slow: { type: "EMA", period: 26, source: "close" },
      },
      entry: { all: [{ crossesAbove: ["fast", "slow"] }] },
      risk: { positionSizePct: 100, takeProfitPct: 3, stopLossPct: 1.5 },
      exit: { any: [{ crossesBelow: ["fast", "slow"] }] },
    });
    await checkPage("strategy-builder");
  });

  test("save it and find it in the list", async () => {
    await page.getByRole("button", { name: "Save strategy" }).click();
    await page.waitForURL(/\/strategies\?saved=\d+$/);
    strategyId = new URL(page.url()).searchParams.get("saved")!;
    await page.getByText(`“${NAME}” was saved.`).waitFor();
    const row = page.locator(`tr[data-strategy-id="${strategyId}"]`);
    expect(await row.getByTestId("strategy-state").textContent()).toBe("draft");
    expect(await row.getByRole("link", { name: NAME, exact: true }).count()).toBe(1);
    await checkPage("strategies");
  });

  test("backtest it from its own link", async () => {
    await page.getByRole("link", { name: `Backtest ${NAME}` }).click();
    await page.waitForURL(new RegExp(`/strategies/${strategyId}/backtest$`));
    const definition = JSON.parse(await page.getByLabel("Strategy definition (JSON)").inputValue());
    expect(definition.name).toBe(NAME);
    await page.getByLabel("From", { exact: true }).fill("2024-01-01");
    await page.getByLabel("To", { exact: true }).fill("2024-03-31");
    await checkPage("strategy-backtest");
    await page.getByRole("button", { name: "Run backtest" }).click();
    await page.waitForURL(/\/backtests\/[0-9a-f-]{36}$/);
    await page.getByTestId("run-status").getByText("completed").waitFor({ timeout: 120_000 });
    await page.getByRole("table", { name: "Metrics" }).waitFor();
  });

  test("activate it in paper mode: the list shows it active on a runner node", async () => {
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Strategies" }).click();
    await page.waitForURL(/\/strategies$/);
    await page.getByRole("button", { name: `Activate ${NAME}` }).click();
    const panel = page.getByTestId("activate-panel");
    await panel.getByRole("heading", { name: `Activate “${NAME}”` }).waitFor();
    await panel.getByRole("radio", { name: /^Paper/ }).check();
    await checkPage("strategy-activate");
    await panel.getByRole("button", { name: "Activate in paper mode" }).click();
    await page.getByText(`“${NAME}” is activated in paper mode.`).waitFor();
    const row = page.locator(`tr[data-strategy-id="${strategyId}"]`);
    await row.getByTestId("strategy-state").getByText("active").waitFor();
    await page.waitForFunction(
      (id) => {
        const cell = (globalThis as any).document.querySelector(
          `tr[data-strategy-id="${id}"] [data-testid="owner-node"]`,
        );
        const t = cell?.textContent?.trim() ?? "";
        return t !== "" && t !== "—" && !t.startsWith("waiting");
      },
      strategyId,
      { timeout: 30_000 },
    );
    expect(await row.locator("td").nth(3).textContent()).toBe("paper");
    // a running strategy cannot be deleted
    expect(await row.getByRole("button", { name: `Delete ${NAME}` }).isDisabled()).toBe(true);
  });

  test("its decisions arrive in the decision log", async () => {
    await page.getByRole("link", { name: `Decisions of ${NAME}` }).click();
    await page.waitForURL(new RegExp(`/strategies/${strategyId}/log$`));
    const table = page.getByTestId("decisions-table");
    await table.locator("tbody tr").first().waitFor({ timeout: 60_000 });
    const before = await table.locator("tbody tr").count();
    // one 1h candle closes every 2 s in the simulator: more decisions arrive without a reload
    await page.waitForFunction(
      (n) =>
        (globalThis as any).document.querySelectorAll('[data-testid="decisions-table"] tbody tr').length > n,
      before,
      { timeout: 30_000 },
    );
    await checkPage("strategy-log");
  });
});
