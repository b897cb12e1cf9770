// Orders whose outcome the client cannot know (ORD-01 to ORD-04): an answer that comes after the
// client gave up, a 5xx after or before the venue committed, a request held before the venue
// processed it, an accepted order the venue does not show yet. Whatever happens, an intent leads
// to at most one venue order, every venue order has its row, and "not placed" is only ever said
// of an order the venue really does not have. Simulator in step mode, real PostgreSQL.
import {
  bookProblems,
  entryCmd,
  exitCmd,
  q,
  startHarness,
  submit,
  submitUntilAnswered,
  venueOrders,
  waitFor,
} from "./support";
import type { Account, Harness } from "./support";

jest.setTimeout(120_000);

const TIMEOUT_MS = 500;
const GRACE_MS = 3000;
const RECONCILE_MS = 2000;
const H = 3_600_000;
const T0 = Date.UTC(2023, 5, 1);

let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    execution: {
      venueTimeoutMs: TIMEOUT_MS,
      notFoundGraceMs: GRACE_MS,
      reconcileIntervalMs: RECONCILE_MS,
    },
  });
});
afterAll(async () => {
  await h?.stop();
});
afterEach(() => h.sim.faults.clear());

const rand = (lo: number, hi: number) => Math.round(lo + Math.random() * (hi - lo));

async function intentState(intent: string): Promise<string | undefined> {
  const [r] = await q<{ state: string }>(
    h.db.sequelize,
    `SELECT state FROM orders WHERE intent_id = $1 AND role IN ('entry', 'exit') AND origin = 'aura'`,
    [intent],
  );
  return r?.state;
}

/** Waits until the intent's order is terminal; fails at once on a state an ambiguous answer must never lead to. */
async function settles(intent: string, within: number): Promise<string> {
  return waitFor(
    async () => {
      const s = await intentState(intent);
      return s && !["PENDING", "SUBMITTING", "UNKNOWN"].includes(s) ? s : undefined;
    },
    within,
    `intent ${intent} to settle`,
  );
}

async function expectBooksAgree(accounts: Account[]): Promise<void> {
  for (const a of accounts) expect(await bookProblems(h.sim, h.db.sequelize, a)).toEqual([]);
}

/** Runs `trials` per account, accounts in parallel. */
async function perAccount(accounts: Account[], trials: number, fn: (a: Account, i: number) => Promise<void>) {
  await Promise.all(
    accounts.map(async (a) => {
      for (let i = 0; i < trials; i++) await fn(a, i);
    }),
  );
}

test("ORD-01 an answer after the client timeout (and a request held past it): one venue order, FILLED in time", async () => {
  const accounts = await Promise.all([1, 2, 3, 4, 5].map(() => h.account()));
  const outcomes: { kind: string; ms: number; state: string; resolvedMs: number }[] = [];
  await perAccount(accounts, 4, async (a, i) => {
    const t = T0 + i * 2 * H;
    // half the trials: the venue commits at once and answers late; half: it holds the request
    // before processing it, so the order appears only after the client gave up
    const kind = i % 2 === 0 ? ("delay-after-commit" as const) : ("latency" as const);
    const ms = rand(TIMEOUT_MS, 3 * TIMEOUT_MS);
    h.sim.faults.add({ kind, ms, match: { method: "POST", path: "/api/v3/order" } });
    const cmd = entryCmd(a, t);
    const started = Date.now();
    const r = await submitUntilAnswered(h.broker, a, cmd);
    expect(["accepted", "pending"]).toContain(r.status);
    const state = await settles(cmd.intentId, RECONCILE_MS + 5000);
    outcomes.push({ kind, ms, state, resolvedMs: Date.now() - started });
    expect(state).toBe("FILLED");
    const ex = await submitUntilAnswered(h.broker, a, exitCmd(a, t + H));
    expect(ex.status).toBe("accepted");
  });
  expect(outcomes).toHaveLength(20);
  // every intent led to exactly one venue order with its id
  for (const a of accounts) {
    const entries = venueOrders(h.sim, a).filter((o) => o.side === "BUY");
    expect(entries).toHaveLength(4);
    expect(new Set(entries.map((o) => o.clientOrderId)).size).toBe(4);
  }
  await expectBooksAgree(accounts);
  process.stdout.write(
    `ORD-01 ${outcomes.length} trials, resolved in ${Math.min(...outcomes.map((o) => o.resolvedMs))}–${Math.max(...outcomes.map((o) => o.resolvedMs))} ms\n`,
  );
});

test.each([
  ["503 -1000", { status: 503, code: -1000 }],
  ["-1007", { status: 503, code: -1007 }],
])(
  "ORD-02 %s after commit: resolved by asking the venue, never rejected, no duplicate",
  async (_n, fault) => {
    const accounts = await Promise.all([1, 2, 3, 4, 5].map(() => h.account()));
    await perAccount(accounts, 2, async (a, i) => {
      const t = T0 + 100 * H + i * 2 * H;
      h.sim.faults.add({ kind: "error-after-commit", ...fault });
      const cmd = entryCmd(a, t);
      const r = await submitUntilAnswered(h.broker, a, cmd);
      expect(["accepted", "pending"]).toContain(r.status);
      expect(await settles(cmd.intentId, RECONCILE_MS + 5000)).toBe("FILLED");
      expect((await submitUntilAnswered(h.broker, a, exitCmd(a, t + H))).status).toBe("accepted");
    });
    const states = await q<{ state: string }>(
      h.db.sequelize,
      `SELECT state FROM orders WHERE api_key_id = ANY($1::bigint[]) AND role = 'entry'`,
      [accounts.map((a) => a.keyId)],
    );
    expect(states).toHaveLength(10);
    expect(states.every((s) => s.state === "FILLED")).toBe(true);
    await expectBooksAgree(accounts);
  },
);

test("ORD-03 a 5xx before commit: NOT_PLACED only after 5 lookups over the grace window; a re-submit sends nothing", async () => {
  const accounts = await Promise.all([1, 2, 3].map(() => h.account()));
  await Promise.all(
    accounts.map(async (a) => {
      h.sim.faults.add({ kind: "error-before-commit", status: 503, code: -1000 });
      const cmd = entryCmd(a, T0 + 300 * H);
      const r = await submitUntilAnswered(h.broker, a, cmd);
      expect(await settles(cmd.intentId, 30_000)).toBe("NOT_PLACED");
      expect(["rejected", "pending"]).toContain(r.status);
      const [row] = await q<{ lookups: number; waited: number }>(
        h.db.sequelize,
        `SELECT lookups, extract(epoch FROM updated_at - submitted_at) * 1000 AS waited
           FROM orders WHERE intent_id = $1 AND role = 'entry'`,
        [cmd.intentId],
      );
      expect(row.lookups).toBeGreaterThanOrEqual(5);
      expect(Number(row.waited)).toBeGreaterThanOrEqual(GRACE_MS);
      // the actor repeats the intent: the first outcome stands, nothing more is sent
      const again = await submit(h.broker, a, cmd);
      expect(again).toMatchObject({ status: "rejected", repeated: true });
      expect(venueOrders(h.sim, a)).toHaveLength(0);
    }),
  );
  await expectBooksAgree(accounts);
});

test("ORD-03b a request the venue holds past the grace window before committing it is never declared lost", async () => {
  const accounts = await Promise.all([1, 2].map(() => h.account()));
  await Promise.all(
    accounts.map(async (a) => {
      // within ccxt's recvWindow the venue still takes a request it received long ago
      h.sim.faults.add({
        kind: "latency",
        ms: GRACE_MS + 800,
        match: { method: "POST", path: "/api/v3/order" },
      });
      const cmd = entryCmd(a, T0 + 400 * H);
      await submitUntilAnswered(h.broker, a, cmd);
      expect(await settles(cmd.intentId, 30_000)).toBe("FILLED");
      expect(venueOrders(h.sim, a).filter((o) => o.side === "BUY")).toHaveLength(1);
    }),
  );
  await expectBooksAgree(accounts);
});

test("ORD-04 an accepted order invisible for 0–3 s: never declared lost nor sent again", async () => {
  const accounts = await Promise.all(Array.from({ length: 10 }, () => h.account()));
  for (let i = 0; i < accounts.length; i++) {
    h.sim.faults.add({ kind: "order-not-found", ms: rand(0, 3000) });
    h.sim.faults.add({ kind: "error-after-commit", status: 503, code: -1000 });
  }
  await Promise.all(
    accounts.map(async (a) => {
      const cmd = entryCmd(a, T0 + 500 * H);
      await submitUntilAnswered(h.broker, a, cmd);
      expect(await settles(cmd.intentId, RECONCILE_MS + 5000)).toBe("FILLED");
    }),
  );
  const keys = new Set(accounts.map((a) => a.apiKey));
  const posts = h.sim
    .requests()
    .filter((r) => r.method === "POST" && r.path === "/api/v3/order" && keys.has(r.apiKey ?? ""));
  expect(posts).toHaveLength(10);
  const lost = await q(
    h.db.sequelize,
    `SELECT id FROM orders WHERE api_key_id = ANY($1::bigint[]) AND state = 'NOT_PLACED'`,
    [accounts.map((a) => a.keyId)],
  );
  expect(lost).toEqual([]);
  await expectBooksAgree(accounts);
});
