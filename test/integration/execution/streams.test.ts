// ORD-18: the user-data stream goes quiet (events lost, or held and delivered late) while orders
// fill: new entries and their protection, take-profits and stops that trigger. Once the stream is
// back the database equals the venue within 10 s (the periodic reconciliation catches what was
// lost), and no fill is recorded twice when held events arrive after a pass already read them.
import {
  bookProblems,
  entryCmd,
  q,
  sleep,
  startHarness,
  submit,
  venueOrders,
  type Account,
  type Harness,
} from "./support";

jest.setTimeout(90_000);

const H = 3_600_000;
const T0 = Date.UTC(2023, 10, 1);
const PAUSE_MS = 4000;
const RECONCILE_MS = 3000;

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ execution: { reconcileIntervalMs: RECONCILE_MS } });
});
afterAll(async () => {
  await h?.stop();
});

/** Polls the books until they agree; returns how long that took. */
async function agreeWithin(accounts: Account[], ms: number): Promise<number> {
  const started = Date.now();
  let last: string[] = [];
  while (Date.now() - started < ms) {
    last = [];
    for (const a of accounts) last.push(...(await bookProblems(h.sim, h.db.sequelize, a)));
    const open = await q(
      h.db.sequelize,
      `SELECT p.id FROM positions p JOIN order_lists l ON l.position_id = p.id
        WHERE p.api_key_id = ANY($1::bigint[]) AND p.status = 'open' AND l.state = 'ALL_DONE'`,
      [accounts.map((a) => a.keyId)],
    );
    if (last.length === 0 && open.length === 0) return Date.now() - started;
    await sleep(100);
  }
  throw new Error(`the books still disagree ${ms} ms after the stream came back:\n${last.join("\n")}`);
}

async function duplicateFills(): Promise<unknown[]> {
  return q(h.db.sequelize, `SELECT order_id, exchange_trade_id FROM fills GROUP BY 1, 2 HAVING count(*) > 1`);
}

test.each([
  ["drop", "lost"],
  ["hold", "held and delivered late"],
] as const)(
  "ORD-18 user-data events %s (%s) while orders fill: the database equals the venue within 10 s",
  async (mode, _why) => {
    const t = T0 + (mode === "drop" ? 0 : 500) * H;
    h.sim.clock.jump(t);
    const accounts = await Promise.all([1, 2, 3].map(() => h.account()));
    // two positions protected before the pause, their legs fill during it; one entry during it
    for (const a of accounts.slice(0, 2))
      expect(
        (await submit(h.broker, a, entryCmd(a, t, { risk: { takeProfitPct: 0.4, stopLossPct: 0.4 } })))
          .status,
      ).toBe("accepted");
    await Promise.all(accounts.slice(0, 2).map((a) => h.sim.whenUserStream(a.apiKey)));
    const droppedBefore = (h.sim.stats().userEvents as { dropped: number }).dropped;
    h.sim.faults.add({ kind: "pause-user-data", mode, durationMs: PAUSE_MS });
    const started = Date.now();
    const late = accounts[2];
    expect((await submit(h.broker, late, entryCmd(late, t))).status).toBe("accepted");
    for (let i = 0; i < 400; i++) {
      const open = accounts
        .slice(0, 2)
        .flatMap((a) => venueOrders(h.sim, a))
        .filter((o) => o.orderListId !== -1 && o.status === "NEW");
      if (open.length === 0) break;
      h.sim.clock.advance({ candles: 1 });
    }
    await sleep(Math.max(0, started + PAUSE_MS - Date.now()));
    // the fills really went unannounced (drop) or were announced only now (hold)
    const dropped = (h.sim.stats().userEvents as { dropped: number }).dropped - droppedBefore;
    if (mode === "drop") expect(dropped).toBeGreaterThan(0);
    const tookMs = await agreeWithin(accounts, 10_000);
    expect(await duplicateFills()).toEqual([]);
    const closed = await q<{ status: string }>(
      h.db.sequelize,
      `SELECT status FROM positions WHERE api_key_id = ANY($1::bigint[]) AND status = 'closed'`,
      [accounts.map((a) => a.keyId)],
    );
    expect(closed.length).toBeGreaterThanOrEqual(2);
    process.stdout.write(
      `ORD-18 ${mode}: the database equalled the venue ${tookMs} ms after the stream came back\n`,
    );
  },
);
