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
  if (creds.apiKey !== undefined) ex.apiKey = creds.apiKey;
  if (creds.secret !== undefined) ex.secret = creds.secret;
  ex.enableRateLimit = opts.enableRateLimit ?? false;
  ex.timeout = opts.timeoutMs ?? 10_000;
  ex.options.fetchMarkets = { ...(ex.options.fetchMarkets ?? {}), types: ["spot"] };
  ex.options.fetchCurrencies = false;
  ex.options.fetchMargins = false;
  ex.options.adjustForTimeDifference = false;
  ex.options.fetchOpenOrders = { ...(ex.options.fetchOpenOrders ?? {}), warnWithoutSymbol: false };
  // ccxt leaves its URL table untyped; binance's has string leaves and nested maps under `ws`
  const api: Record<string, string | Record<string, string> | undefined> = ex.urls.api;
  const rest = endpoints.restBase;
  // overwrite, never delete: ccxt's sign() throws NotSupported for a missing key
  api.public = `${rest}/api/v3`;
  api.private = `${rest}/api/v3`;
  api.v1 = `${rest}/api/v1`;
  for (const k of ["sapi", "sapiV2", "sapiV3", "sapiV4"])
    if (k in api) api[k] = `${rest}/sapi/${k === "sapi" ? "v1" : k.slice(4).toLowerCase()}`;
  const ws = api.ws as Record<string, string | Record<string, string>> | undefined;
  if (ws) {
    ws.spot = `${endpoints.wsBase}/ws`;
    ws.margin = `${endpoints.wsBase}/ws`;
    const wsApi = ws["ws-api"] as Record<string, string> | undefined;
    if (endpoints.kind === "sim" && wsApi) wsApi.spot = `${endpoints.wsBase}/ws-api/v3`;
    if (endpoints.kind === "binance-testnet" && wsApi)
      wsApi.spot = "wss://ws-api.testnet.binance.vision/ws-api/v3";
  }
  ex.enableLastResponseHeaders = true;
  return ex;
}
