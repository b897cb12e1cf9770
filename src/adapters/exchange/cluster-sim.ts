// Finding the built-in simulator from anywhere in the cluster: the exchange-sim service may listen
// on a port chosen at start (SIM_PORT=0), so without SIM_URL its address comes from
// `exchange-sim.info`. One place for the lookup every service that opens "sim" keys needs.
import type { ServiceBroker } from "moleculer";
import { exchangeConfig } from "../config";
import { endpointsFor, type ExchangeEndpoints, type ExchangeKind } from "./config";

/** The simulator's base URL as the exchange-sim service in this cluster reports it, if one answers. */
export async function clusterSimUrl(broker: ServiceBroker, caller: string): Promise<string | undefined> {
  // the typings make nodeID required; without one the registry answers for any node
  const registry = broker.registry as unknown as { hasService(fullName: string): boolean };
  if (!registry.hasService("exchange-sim")) return undefined;
  try {
    // exchange-sim.info answers internal callers that name themselves
    const info = await broker.call<{ baseUrl?: unknown } | undefined, Record<string, never>>(
      "exchange-sim.info",
      {},
      { timeout: 2000, caller },
    );
    return typeof info?.baseUrl === "string" ? info.baseUrl : undefined;
  } catch {
    // no simulator answering: the configured default address applies
    return undefined;
  }
}

/** The endpoints of a venue; for "sim" without SIM_URL, the simulator running in this cluster. */
export async function venueEndpoints(
  broker: ServiceBroker,
  caller: string,
  exchange: ExchangeKind,
): Promise<ExchangeEndpoints> {
  if (exchange !== "sim" || exchangeConfig().simUrl) return endpointsFor(exchange);
  const url = await clusterSimUrl(broker, caller);
  return endpointsFor("sim", url ? { restUrl: url } : {});
}
