// The exchange-sim Moleculer service: starts the simulator on its port in started(), closes it
// in stopped(), exposes info/createAccount to other services only, and fails clearly when its
// port is taken.
import net from "node:net";
import { Errors, ServiceBroker } from "moleculer";
import ExchangeSimService, { readSimEnv } from "../../services/exchange-sim.service";
import { REPL_CALLER } from "../../src/runtime/repl-commands";
import { signed } from "./helpers";

// the actions are internal: the REPL is among their callers
const AS_OPERATOR = { caller: REPL_CALLER };

function brokerWith(settings: Record<string, unknown>): ServiceBroker {
  const broker = new ServiceBroker({ logger: false, nodeID: `sim-test-${process.pid}` });
  broker.createService({ ...ExchangeSimService, settings: { ...ExchangeSimService.settings, ...settings } });
  return broker;
}

describe("exchange-sim service", () => {
  it("serves the simulator while running and exposes info and createAccount as public actions", async () => {
    const broker = brokerWith({ port: 0, step: true, from: "2023-06-01" });
    await broker.start();
    let baseUrl = "";
    try {
      const info: any = await broker.call("exchange-sim.info", {}, AS_OPERATOR);
      baseUrl = info.baseUrl;
      expect(info.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(info.wsUrl).toBe(`${info.baseUrl.replace("http", "ws")}/ws`);
      expect(info.wsApiUrl).toBe(`${info.baseUrl.replace("http", "ws")}/ws-api/v3`);
      expect(info.ccxtUrls.public).toBe(`${info.baseUrl}/api/v3`);
      expect(info.clock).toMatchObject({ mode: "step", iso: "2023-06-01T00:00:00.000Z" });
      const acc: any = await broker.call(
        "exchange-sim.createAccount",
        { balances: { USDT: "1500.5" }, permissions: { ipRestrict: false } },
        AS_OPERATOR,
      );
      const sim = { baseUrl: info.baseUrl } as any;
      const r = await signed(sim, acc, "GET", "/api/v3/account", {});
      expect(r.body.balances).toEqual([{ asset: "USDT", free: "1500.50000000", locked: "0.00000000" }]);
      await expect(
        broker.call("exchange-sim.createAccount", { balances: { USDT: "12.123456789" } }, AS_OPERATOR),
      ).rejects.toBeInstanceOf(Errors.ValidationError);
      await expect(
        broker.call("exchange-sim.createAccount", { permissions: { canFly: true } }, AS_OPERATOR),
      ).rejects.toBeInstanceOf(Errors.ValidationError);
      const actions = broker.registry
        .getActionList({})
        .filter((a: any) => a.name.startsWith("exchange-sim."));
      expect(actions.map((a: any) => [a.name, a.action.visibility]).sort()).toEqual([
        ["exchange-sim.createAccount", "public"],
        ["exchange-sim.info", "public"],
      ]);
      // other services: only those that connect to the simulator may ask for its address
      expect(((await broker.call("exchange-sim.info", {}, { caller: "keys" })) as any).baseUrl).toBe(baseUrl);
      await expect(broker.call("exchange-sim.info")).rejects.toMatchObject({ code: 403 });
      await expect(
        broker.call("exchange-sim.createAccount", {}, { caller: "market-data" }),
      ).rejects.toMatchObject({ code: 403 });
    } finally {
      await broker.stop();
    }
    // stopped() closed the server
    await expect(fetch(`${baseUrl}/api/v3/ping`)).rejects.toThrow();
  });

  it("fails to start with a clear message when SIM_PORT is taken", async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    const broker = brokerWith({ port, step: true });
    try {
      await expect(broker.start()).rejects.toThrow(
        `exchange-sim: SIM_PORT ${port} on 127.0.0.1 is already in use`,
      );
    } finally {
      await broker.stop();
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  it("reads SIM_PORT, SIM_SPEED, SIM_FROM and SIM_STEP", () => {
    expect(readSimEnv({})).toEqual({
      port: 8090,
      host: "127.0.0.1",
      speed: undefined,
      from: undefined,
      step: false,
      persistIntervalMs: 5000,
    });
    expect(
      readSimEnv({ SIM_PORT: "0", SIM_SPEED: "3600", SIM_FROM: "2024-01-01", SIM_STEP: "true" }),
    ).toEqual({
      port: 0,
      host: "127.0.0.1",
      speed: 3600,
      from: "2024-01-01",
      step: true,
      persistIntervalMs: 5000,
    });
    expect(() => readSimEnv({ SIM_PORT: "70000" })).toThrow("SIM_PORT must be an integer from 0 to 65535");
    expect(() => readSimEnv({ SIM_SPEED: "fast" })).toThrow("SIM_SPEED must be a positive number");
    expect(() => readSimEnv({ SIM_STEP: "maybe" })).toThrow("SIM_STEP must be true or false");
    expect(() => readSimEnv({ SIM_FROM: "last tuesday" })).toThrow("SIM_FROM must be a date");
  });
});
