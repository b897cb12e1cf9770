// The exchange-sim service saves its venue to the database and restores it at start: a paper
// account, its key and its orders survive a restart; a corrupt saved state gives a fresh venue
// and a warning instead of a crash.
import { QueryTypes } from "sequelize";
import { KeyRing, seal } from "../../../src/adapters/crypto/aead";
import { loadSecrets } from "../../../src/runtime/secrets";
import type { Simulator } from "../../../src/sim";
import { startServices, type TestCluster } from "../../support/broker";
import { createTestDatabase, type TestDatabase } from "../../support/db";
import { signed } from "../../contract/helpers";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});
beforeEach(async () => {
  await db.sequelize.query("DELETE FROM sim_state");
});

const settings = {
  "exchange-sim": { port: 0, step: true, from: "2023-06-01", persist: true, persistIntervalMs: 60_000 },
};

/** The master keys the service seals its snapshot with (the test environment's). */
const ring = () => {
  const secrets = loadSecrets(process.env, { warn: () => {} });
  return new KeyRing(secrets.masterKey, secrets.oldMasterKeys);
};

async function start(warnings: string[] = []): Promise<{ cluster: TestCluster; sim: Simulator }> {
  const cluster = await startServices(["exchange-sim"], {
    settings,
    broker: {
      logger: {
        type: "Console",
        options: {
          level: "warn",
          formatter: (_l: string, args: unknown[]) => (warnings.push(args.join(" ")), []),
        },
      },
    } as any,
  });
  const svc: any = cluster.broker.getLocalService("exchange-sim");
  return { cluster, sim: svc.sim as Simulator };
}

describe("exchange-sim persistence", () => {
  it("a restart keeps the account, its key, balances, orders and order ids", async () => {
    const first = await start();
    const creds = first.sim.createAccount({ balances: { USDT: "10000" } });
    const buy = await signed(first.sim, creds, "POST", "/api/v3/order", {
      symbol: "BTCUSDT",
      side: "BUY",
      type: "MARKET",
      quantity: "0.01",
    });
    expect(buy.status).toBe(200);
    const rest = await signed(first.sim, creds, "POST", "/api/v3/order", {
      symbol: "BTCUSDT",
      side: "BUY",
      type: "LIMIT",
      timeInForce: "GTC",
      quantity: "0.01",
      price: "10000",
    });
    expect(rest.status).toBe(200);
    first.sim.clock.advance({ candles: 2 });
    const before = {
      account: (await signed(first.sim, creds, "GET", "/api/v3/account", {})).body,
      open: (await signed(first.sim, creds, "GET", "/api/v3/openOrders", { symbol: "BTCUSDT" })).body,
      all: (await signed(first.sim, creds, "GET", "/api/v3/allOrders", { symbol: "BTCUSDT" })).body,
      trades: (await signed(first.sim, creds, "GET", "/api/v3/myTrades", { symbol: "BTCUSDT" })).body,
      clock: first.sim.clock.state().time,
    };
    await first.cluster.stop();
    const rows = await db.sequelize.query<{ n: string; snapshot: string }>(
      "SELECT count(*) OVER () AS n, snapshot FROM sim_state",
      { type: QueryTypes.SELECT },
    );
    expect(rows[0].n).toBe("1");
    // the saved venue holds the account's secret, so it is sealed: neither it nor the key is readable
    expect(rows[0].snapshot).not.toContain(creds.secretKey);
    expect(rows[0].snapshot).not.toContain(creds.apiKey);
    expect(rows[0].snapshot).not.toContain("BTCUSDT");

    const second = await start();
    try {
      const after = {
        account: (await signed(second.sim, creds, "GET", "/api/v3/account", {})).body,
        open: (await signed(second.sim, creds, "GET", "/api/v3/openOrders", { symbol: "BTCUSDT" })).body,
        all: (await signed(second.sim, creds, "GET", "/api/v3/allOrders", { symbol: "BTCUSDT" })).body,
        trades: (await signed(second.sim, creds, "GET", "/api/v3/myTrades", { symbol: "BTCUSDT" })).body,
        clock: second.sim.clock.state().time,
      };
      expect({ ...after.account, updateTime: 0 }).toEqual({ ...before.account, updateTime: 0 });
      expect(after.open).toEqual(before.open);
      expect(after.open).toHaveLength(1);
      expect(after.all).toEqual(before.all);
      expect(after.trades).toEqual(before.trades);
      expect(after.clock).toBe(before.clock);
      const next = await signed(second.sim, creds, "POST", "/api/v3/order", {
        symbol: "BTCUSDT",
        side: "BUY",
        type: "LIMIT",
        timeInForce: "GTC",
        quantity: "0.01",
        price: "10000",
      });
      expect(next.body.orderId).toBe(rest.body.orderId + 1);
    } finally {
      await second.cluster.stop();
    }
  });

  it.each([
    [
      "sealed, but not a snapshot",
      () => seal(ring(), '{"version":1,"accounts":"nope"}', "aura:sim_state:1"),
      /saved simulator state cannot be restored .*starting with a fresh venue/,
    ],
    [
      "not sealed with our master key",
      () => '{"version":1,"accounts":[]}',
      /could not read the saved simulator state .*starting with a fresh venue/,
    ],
  ])(
    "a corrupt saved state (%s): a fresh venue and a clear warning, nothing half restored",
    async (_what, row, warning) => {
      await db.sequelize.query(
        `INSERT INTO sim_state (id, snapshot, saved_at) VALUES (1, $1, now())
       ON CONFLICT (id) DO UPDATE SET snapshot = EXCLUDED.snapshot`,
        { bind: [row()] },
      );
      const warnings: string[] = [];
      // the captured warning is checked below; the console stays quiet
      const quiet = jest.spyOn(console, "warn").mockImplementation(() => {});
      const { cluster, sim } = await start(warnings);
      try {
        expect(sim.accountViews()).toEqual([]);
        expect(sim.orders()).toEqual([]);
        expect(warnings.join("\n")).toMatch(warning);
      } finally {
        quiet.mockRestore();
        await cluster.stop();
      }
    },
  );
});
