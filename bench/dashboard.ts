// Dashboard weight and start-up, in Chromium against a real `aura start` (api, auth, market-data
// and the simulator on the embedded database):
// - gzipped JavaScript a cold load of the login page and of the signed-in dashboard (live price
//   chart) fetches, against the app's bare shell (its 404 page: framework, root layout, error
//   page) and the login page respectively;
// - time to interactive on a cold load (fresh browser profile, warm server): until the login form
//   can be typed into, and until the dashboard shows its chart with the last price, against an
//   empty static page served by the same gateway (until its load event).
// Run: node --import tsx bench/dashboard.ts [repetitions]
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import type { Browser, Page } from "playwright-core";
import { killChildren, ROOT, startAura, stopAura, type Aura } from "../test/support/aura-process";
import { findChromium, launch } from "../test/e2e/browser";
import { benchEnv, emit } from "./lib";

const REPS = Number(process.argv[2] ?? 5);
const BLANK = path.join(ROOT, "web/build/client/bench-blank.html");
const EMAIL = `bench-${Date.now()}@example.com`;
const PASSWORD = "bench passphrase long enough 1";

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Load {
  jsGzipBytes: number;
  jsFiles: number;
  ms: number;
}

/** One cold load: a fresh profile, the page's scripts gzipped and summed, the time until `ready`. */
async function coldLoad(
  browser: Browser,
  url: string,
  ready: (page: Page) => Promise<unknown>,
  cookie?: { name: string; value: string; url: string },
): Promise<Load> {
  const context = await browser.newContext();
  if (cookie) await context.addCookies([{ ...cookie, httpOnly: true, sameSite: "Strict" }]);
  const page = await context.newPage();
  const scripts: Promise<number>[] = [];
  page.on("response", (r) => {
    if (/\.m?js(\?|$)/.test(new URL(r.url()).pathname))
      scripts.push(
        r
          .body()
          .then((b) => zlib.gzipSync(b).length)
          .catch(() => 0),
      );
  });
  const t0 = performance.now();
  await page.goto(url);
  await ready(page);
  const ms = performance.now() - t0;
  await page.waitForLoadState("networkidle").catch(() => undefined);
  const sizes = await Promise.all(scripts);
  await context.close();
  return { jsGzipBytes: sizes.reduce((a, b) => a + b, 0), jsFiles: sizes.length, ms };
}

async function main(): Promise<void> {
  const chromium = findChromium();
  if (!chromium) throw new Error("no Chromium: install Debian's chromium or set CHROMIUM_PATH");
  if (!fs.existsSync(path.dirname(BLANK))) throw new Error("web/build is missing: npm run build -w web");
  // the baseline page lives in the build only for this run
  fs.writeFileSync(BLANK, "<!doctype html><html lang=en><title>blank</title><p>blank</p></html>\n");
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "aura-bench-dashboard-"));
  let aura: Aura | undefined;
  let browser: Browser | undefined;
  try {
    aura = await startAura(dataDir, {
      SERVICES: "api,auth,market-data,exchange-sim",
      SIM_PORT: "0",
      SIM_FROM: "2024-12-01",
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
    // a session cookie as the browser would hold it, one per cold load (refresh tokens rotate)
    const sessionCookie = async () => {
      const res = await post(
        "/api/v1/auth/login",
        { email: EMAIL, password: PASSWORD },
        { "x-aura-session": "cookie" },
      );
      const m = /aura_refresh=([^;]+)/.exec(res.headers.get("set-cookie") ?? "");
      if (!m) throw new Error(`login gave no session cookie (${res.status})`);
      return { name: "aura_refresh", value: decodeURIComponent(m[1]), url: `${base}/api/v1/auth` };
    };

    browser = await launch(chromium);
    const blankReady = (p: Page) => p.waitForLoadState("load");
    const shellReady = (p: Page) => p.getByRole("heading", { name: "Not found" }).waitFor();
    const loginReady = async (p: Page) => {
      await p.getByLabel("Email").waitFor();
      await p.getByLabel("Email").fill("x");
    };
    const dashboardReady = (p: Page) =>
      // a function, not a string: the page's CSP refuses to evaluate strings
      p.waitForFunction(
        () => {
          const doc = (globalThis as any).document;
          return (
            !!doc.querySelector(".price-chart canvas") &&
            /\d/.test(doc.querySelector('[data-testid="last-price"]')?.textContent ?? "")
          );
        },
        undefined,
        { polling: "raf", timeout: 60_000 },
      );

    // warm the server (first requests compile nothing, but fill caches and the JIT)
    await coldLoad(browser, `${base}/login`, loginReady);
    await coldLoad(browser, `${base}/`, dashboardReady, await sessionCookie());

    const runs: Record<string, Load[]> = { blank: [], shell: [], login: [], dashboard: [] };
    for (let i = 0; i < REPS; i++) {
      runs.blank.push(await coldLoad(browser, `${base}/bench-blank.html`, blankReady));
      runs.shell.push(await coldLoad(browser, `${base}/no-such-page`, shellReady));
      runs.login.push(await coldLoad(browser, `${base}/login`, loginReady));
      runs.dashboard.push(await coldLoad(browser, `${base}/`, dashboardReady, await sessionCookie()));
    }
    const kb = (l: Load[]) => median(l.map((x) => x.jsGzipBytes)) / 1024;
    const ms = (l: Load[]) => median(l.map((x) => x.ms));
    const env = benchEnv({ reps: REPS, chromium: path.basename(chromium) });
    emit(env, "login first-load JS (gzip) vs the app's bare shell", kb(runs.login), kb(runs.shell), "KiB", {
      files: median(runs.login.map((x) => x.jsFiles)),
    });
    emit(env, "dashboard first-load JS (gzip) vs the login page", kb(runs.dashboard), kb(runs.login), "KiB", {
      files: median(runs.dashboard.map((x) => x.jsFiles)),
    });
    emit(
      env,
      "login time to interactive, cold, vs an empty static page",
      ms(runs.login),
      ms(runs.blank),
      "ms",
    );
    emit(
      env,
      "dashboard time to chart with data, cold, vs an empty static page",
      ms(runs.dashboard),
      ms(runs.blank),
      "ms",
    );
  } finally {
    await browser?.close().catch(() => undefined);
    if (aura) await stopAura(aura).catch(() => killChildren());
    fs.rmSync(BLANK, { force: true });
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
