// The venue's limits and the platform's own (ORD-15 end to end, ORD-16, ORD-17): orders the
// pre-trade checks deny never reach the venue and a halt still lets exits through; a 429 with
// Retry-After stops every order request until it has passed and a burst never earns a 418 ban;
// a clock that drifted from the venue's (-1021) is resynchronised once, not retried in a loop.
import fc from "fast-check";
import { DEFAULT_LIMITS } from "../../../src/sim";
import { entryCmd, exitCmd, q, sleep, startHarness, submit, venueOrders, type Harness } from "./support";

jest.setTimeout(120_000);

const H = 3_600_000;
const T0 = Date.UTC(2023, 9, 1);

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ execution: { venueTimeoutMs: 3000 } });
});
afterAll(async () => {
  await h?.stop();
});
afterEach(() => h.sim.faults.clear());

async function setHalt(on: boolean): Promise<void> {
  await h.db.sequelize.query(
    `INSERT INTO trading_flags (name, value) VALUES ('halt', $1) ON CONFLICT (name) DO UPDATE SET value = $1`,
    { bind: [on] },
  );
}

test("ORD-15 end to end: denied entries never reach the venue, approved ones fill; a halt still lets exits through", async () => {
  let denied = 0;
  let accepted = 0;
  let n = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        usdt: fc.oneof(
          fc.integer({ min: 0, max: 2000 }).map((c) => (c / 100).toFixed(2)),
          fc.integer({ min: 5, max: 20_000 }).map(String),
        ),
        pct: fc.integer({ min: 1, max: 10_000 }).map((x) => x / 100),
        halted: fc.integer({ min: 0, max: 4 }).map((x) => x === 0),
        paused: fc.integer({ min: 0, max: 4 }).map((x) => x === 0),
      }),
      async ({ usdt, pct, halted, paused }) => {
        const a = await h.account({ usdt });
        await setHalt(halted);
        await h.db.sequelize.query(`UPDATE strategies SET paused = $2 WHERE id = $1`, {
          bind: [a.strategyId, paused],
        });
        const r = await submit(h.broker, a, entryCmd(a, T0 + n++ * H, { sizing: { positionSizePct: pct } }));
        const orders = venueOrders(h.sim, a).filter((o) => o.type === "MARKET");
        if (r.status === "denied") {
          denied++;
          expect(orders).toEqual([]);
          if (halted) expect(r.reason).toBe("halted");
          else if (paused) expect(r.reason).toBe("paused");
        } else {
          accepted++;
          expect(halted || paused).toBe(false);
          expect(r.status).toBe("accepted");
          expect(orders.map((o) => o.status)).toEqual(["FILLED"]);
        }
      },
    ),
    { numRuns: 25 },
  );
  await setHalt(false);
  expect(denied).toBeGreaterThan(0);
  expect(accepted).toBeGreaterThan(0);
  const rejected = await q(h.db.sequelize, `SELECT id FROM orders WHERE state = 'REJECTED'`);
  expect(rejected).toEqual([]);

  // halted: no new entries, but an open position can still be sold
  const a = await h.account();
  expect((await submit(h.broker, a, entryCmd(a, T0 + 100 * H))).status).toBe("accepted");
  await setHalt(true);
  try {
    const b = await h.account();
    expect(await submit(h.broker, b, entryCmd(b, T0 + 100 * H))).toMatchObject({
      status: "denied",
      reason: "halted",
    });
    expect(await submit(h.broker, a, exitCmd(a, T0 + 101 * H))).toMatchObject({
      status: "accepted",
      orderState: "FILLED",
    });
  } finally {
    await setHalt(false);
  }
});

test("ORD-17 the venue's clock 2 s behind or ahead of ours: -1021 leads to one resync, not a loop; one order", async () => {
  for (const ms of [-2000, 2000]) {
    const a = await h.account();
    h.sim.resetLimits();
    h.sim.faults.add({ kind: "clock-offset", ms });
    const since = Date.now();
    const r = await submit(h.broker, a, entryCmd(a, T0 + 200 * H));
    expect(r).toMatchObject({ status: "accepted", orderState: "FILLED" });
    const mine = h.sim.requests().filter((x) => x.time >= since && x.apiKey === a.apiKey);
    const skewed = mine.filter((x) => x.code === -1021);
    expect(skewed.length).toBeLessThanOrEqual(1);
    expect(venueOrders(h.sim, a).filter((o) => o.side === "BUY")).toHaveLength(1);
    h.sim.faults.clear();
    process.stdout.write(
      `ORD-17 venue clock ${ms > 0 ? "+" : ""}${ms} ms: ${skewed.length} × -1021, then accepted\n`,
    );
  }
});

test("ORD-16 a 429 with Retry-After 2: no order request from any key until it has passed", async () => {
  h.sim.resetLimits();
  const [a, b] = await Promise.all([h.account(), h.account()]);
  h.sim.faults.add({
    kind: "rate-limit",
    status: 429,
    retryAfter: 2,
    match: { method: "POST", path: "/api/v3/order" },
  });
  const cmdA = entryCmd(a, T0 + 300 * H);
  await expect(submit(h.broker, a, cmdA)).rejects.toMatchObject({ type: "RATE_LIMITED", retryable: true });
  const limited = h.sim.requests().find((x) => x.status === 429)!;
  expect(limited).toBeDefined();
  // the callers keep trying during the window: every try is refused here, none reaches the venue
  let refused = 0;
  while (Date.now() < limited.time + 1900) {
    for (const [acc, cmd] of [
      [a, cmdA],
      [b, entryCmd(b, T0 + 300 * H)],
    ] as const) {
      try {
        await submit(h.broker, acc, cmd);
      } catch (e) {
        expect(e).toMatchObject({ type: "RATE_LIMITED", retryable: true });
        refused++;
      }
    }
    await sleep(100);
  }
  const during = h.sim
    .requests()
    .filter(
      (x) =>
        x.method === "POST" &&
        x.path === "/api/v3/order" &&
        x.time > limited.time &&
        x.time < limited.time + 2000,
    );
  expect(during).toEqual([]);
  await sleep(Math.max(0, limited.time + 2100 - Date.now()));
  expect((await submit(h.broker, a, cmdA)).status).toBe("accepted");
  expect(venueOrders(h.sim, a).filter((o) => o.side === "BUY")).toHaveLength(1);
  process.stdout.write(
    `ORD-16 ${refused} commands refused locally during the 2 s window, 0 order requests sent\n`,
  );
});

test("ORD-16 a burst against a small weight limit earns 429s but never a 418 ban", async () => {
  h.sim.resetLimits();
  h.sim.setLimits({ weightPerMinute: 150 });
  try {
    const accounts = await Promise.all(Array.from({ length: 8 }, () => h.account()));
    // the venue counts weight in minute windows fixed to the wall clock, and a new window lets
    // requests through again (the 429's Retry-After says so): start the 3 s burst well inside one
    const leftInMinute = 60_000 - (Date.now() % 60_000);
    if (leftInMinute < 6000) await sleep(leftInMinute + 50);
    const since = Date.now();
    const tries = async () => {
      const deadline = Date.now() + 3000;
      await Promise.all(
        accounts.map(async (a, i) => {
          for (let k = 0; Date.now() < deadline; k++) {
            try {
              await submit(h.broker, a, entryCmd(a, T0 + (400 + i * 10 + k) * H));
            } catch (e) {
              expect(e).toMatchObject({ retryable: true });
            }
            await sleep(50);
          }
        }),
      );
    };
    await tries();
    const log = h.sim.requests().filter((x) => x.time >= since);
    const r429 = log.filter((x) => x.status === 429);
    const r418 = log.filter((x) => x.status === 418);
    expect(r429.length).toBeGreaterThan(0);
    expect(r418).toEqual([]);
    // after the first 429 only what was already on its way arrived
    const first = r429[0].time;
    const windowEnd = Math.floor(first / 60_000) * 60_000 + 60_000;
    const after = log.filter((x) => x.time > first + 50 && x.time < windowEnd && x.status !== 429);
    expect(after.length).toBeLessThanOrEqual(accounts.length);
    process.stdout.write(
      `ORD-16 burst: ${log.length} requests, ${r429.length} × 429, ${r418.length} × 418, ${after.length} answered after the first 429\n`,
    );
  } finally {
    h.sim.setLimits({ ...DEFAULT_LIMITS });
    h.sim.resetLimits();
  }
});
