// ccxt's Binance class pointed at the configured venue. Only /api/v3 is used: with the three spot
// options below, loadMarkets never reaches /sapi, /fapi or /dapi (which the simulator and the
// testnet do not serve, and whose failure would poison every later ccxt call).
import type * as Ccxt from "ccxt";
import { ccxtModule } from "./ccxt-loader";
import type { ExchangeEndpoints } from "./config";

export interface CcxtCredentials {
  apiKey?: string;
  secret?: string;
}

export type CcxtBinance = InstanceType<typeof Ccxt.pro.binance>;

export interface CcxtClientOptions {
  timeoutMs?: number;
  /**
   * ccxt's own request throttle. Off by default for market data: WeightGovernor paces requests by
   * the weight the exchange itself reports, which also counts other clients on the same IP.
   */
  enableRateLimit?: boolean;
}

export function createCcxtBinance(
  endpoints: ExchangeEndpoints,
  creds: CcxtCredentials = {},
  opts: CcxtClientOptions = {},
): CcxtBinance {
  // Configured by assignment rather than through the constructor: ccxt deep-merges constructor
  // options only when they are plain objects of its own realm, which Jest's sandbox objects are not.
  const ccxt = ccxtModule();
  const ex = new ccxt.pro.binance();
  const anyEx = ex as any;
  if (creds.apiKey !== undefined) anyEx.apiKey = creds.apiKey;
  if (creds.secret !== undefined) anyEx.secret = creds.secret;
  anyEx.enableRateLimit = opts.enableRateLimit ?? false;
  anyEx.timeout = opts.timeoutMs ?? 10_000;
  anyEx.options.fetchMarkets = { ...(anyEx.options.fetchMarkets ?? {}), types: ["spot"] };
  anyEx.options.fetchCurrencies = false;
  anyEx.options.fetchMargins = false;
  anyEx.options.adjustForTimeDifference = false;
  anyEx.options.fetchOpenOrders = { ...(anyEx.options.fetchOpenOrders ?? {}), warnWithoutSymbol: false };
  const api = (ex as any).urls.api as Record<string, any>;
  const rest = endpoints.restBase;
  // overwrite, never delete: ccxt's sign() throws NotSupported for a missing key
  api.public = `${rest}/api/v3`;
  api.private = `${rest}/api/v3`;
  api.v1 = `${rest}/api/v1`;
  for (const k of ["sapi", "sapiV2", "sapiV3", "sapiV4"])
    if (k in api) api[k] = `${rest}/sapi/${k === "sapi" ? "v1" : k.slice(4).toLowerCase()}`;
  if (api.ws) {
    api.ws.spot = `${endpoints.wsBase}/ws`;
    api.ws.margin = `${endpoints.wsBase}/ws`;
    if (endpoints.kind === "sim" && api.ws["ws-api"]) api.ws["ws-api"].spot = `${endpoints.wsBase}/ws-api/v3`;
    if (endpoints.kind === "binance-testnet" && api.ws["ws-api"])
      api.ws["ws-api"].spot = "wss://ws-api.testnet.binance.vision/ws-api/v3";
  }
  (ex as any).enableLastResponseHeaders = true;
  return ex;
}

/** ccxt.pro needs its proxy agent loaded before the first watch* on a plain ws:// URL. */
export async function prepareForWatch(ex: CcxtBinance): Promise<void> {
  await (ex as any).loadHttpProxyAgent?.();
}

export async function closeCcxt(ex: CcxtBinance): Promise<void> {
  await (ex as any).close?.().catch(() => {});
}
