// Starts services on a local broker for integration tests: the real service schemas, a real
// database (test/support/db.ts), the gateway on an ephemeral port when "api" is included.
import type { AddressInfo } from "node:net";
import { ServiceBroker, type BrokerOptions, type ServiceSchema } from "moleculer";
import { brokerConfig, loadServiceSchema } from "../../src/runtime/runner";
import { processState } from "../../src/runtime/health";

export interface TestCluster {
  broker: ServiceBroker;
  /** http://127.0.0.1:<port> of the gateway, when "api" runs */
  baseUrl: string;
  stop(): Promise<void>;
}

export async function startServices(
  names: string[],
  opts: {
    broker?: Partial<BrokerOptions>;
    settings?: Record<string, Record<string, unknown>>;
    extra?: ServiceSchema[];
  } = {},
): Promise<TestCluster> {
  const broker = new ServiceBroker(
    brokerConfig({
      nodeID: `test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
      logLevel: (process.env.TEST_LOG_LEVEL as any) ?? "warn",
      ...opts.broker,
    }),
  );
  for (const name of names) {
    const schema = loadServiceSchema(name);
    const settings = {
      ...(name === "api" ? { port: 0, ip: "127.0.0.1" } : {}),
      // a test's venue starts empty: no saved state from another test in the same database
      ...(name === "exchange-sim" ? { persist: false } : {}),
      ...(opts.settings?.[name] ?? {}),
    };
    broker.createService(
      Object.keys(settings).length
        ? { ...schema, settings: { ...(schema.settings ?? {}), ...settings } }
        : schema,
    );
  }
  for (const s of opts.extra ?? []) broker.createService(s);
  await broker.start();
  processState.ready = true;
  processState.stopping = false;
  let baseUrl = "";
  if (names.includes("api")) {
    const api: any = broker.getLocalService("api");
    baseUrl = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
  }
  return {
    broker,
    baseUrl,
    async stop() {
      await broker.stop();
    },
  };
}
