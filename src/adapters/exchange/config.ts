// Where the exchange is: Binance, the Binance Spot testnet, or AURA's built-in simulator. Every
// adapter that talks to a venue resolves its endpoints here, from EXCHANGE / SIM_URL / SIM_PORT
// (parsed by the configuration module; `env` arguments default to the process environment).
import { EXCHANGE_KINDS, exchangeConfig, type ExchangeKind } from "../config";

export type { ExchangeKind };

export interface ExchangeEndpoints {
  kind: ExchangeKind;
  /** REST root without the /api/v3 suffix, e.g. https://api.binance.com */
  restBase: string;
  /** WebSocket market-stream root, e.g. wss://stream.binance.com:9443 (the client appends /stream) */
  wsBase: string;
}

const DEFAULTS: Record<Exclude<ExchangeKind, "sim">, { restBase: string; wsBase: string }> = {
  binance: { restBase: "https://api.binance.com", wsBase: "wss://stream.binance.com:9443" },
  "binance-testnet": {
    restBase: "https://testnet.binance.vision",
    wsBase: "wss://stream.testnet.binance.vision",
  },
};

export function parseExchangeKind(raw: string | undefined, name = "EXCHANGE"): ExchangeKind {
  const v = (raw ?? "").trim().toLowerCase();
  if (v === "") return "sim";
  if ((EXCHANGE_KINDS as readonly string[]).includes(v)) return v as ExchangeKind;
  throw new Error(`${name} must be one of ${EXCHANGE_KINDS.join(", ")} (unset = sim), got "${raw}"`);
}

/** SIM_URL, or http://127.0.0.1:${SIM_PORT:-8090}. */
export function simUrl(env?: NodeJS.ProcessEnv): string {
  const cfg = exchangeConfig(env);
  return cfg.simUrl ?? `http://127.0.0.1:${cfg.simPort}`;
}

/** Strips a trailing /api/v3, /ws or /stream so callers may pass any of the simulator's URLs. */
function rootOf(url: string): string {
  return url.replace(/\/+$/, "").replace(/\/(api\/v3|ws|stream)$/, "");
}

export function endpointsFor(
  kind: ExchangeKind,
  overrides: { restUrl?: string; wsUrl?: string } = {},
  env?: NodeJS.ProcessEnv,
): ExchangeEndpoints {
  if (kind === "sim") {
    const rest = rootOf(overrides.restUrl ?? simUrl(env));
    const ws = overrides.wsUrl ? rootOf(overrides.wsUrl) : rest.replace(/^http/, "ws");
    return { kind, restBase: rest, wsBase: ws };
  }
  const d = DEFAULTS[kind];
  return {
    kind,
    restBase: overrides.restUrl ? rootOf(overrides.restUrl) : d.restBase,
    wsBase: overrides.wsUrl ? rootOf(overrides.wsUrl) : d.wsBase,
  };
}
