// Checks an exchange API key before AURA accepts it: the key must authenticate, allow spot
// trading, and be unable to move funds (no withdrawals, no internal or universal transfers).
// Binance tells us through GET /sapi/v1/account/apiRestrictions; any error or incomplete answer
// rejects the key (fail closed). The ccxt instance lives only inside one call, is never logged
// and never verbose, so the secret cannot leak through it.
import type * as Ccxt from "ccxt";
import { simUrl as configuredSimUrl } from "./config";

/** ccxt is loaded on first use: it is large, and only key checks need it in this process. */
function loadCcxt(): typeof Ccxt {
  return require("ccxt");
}

export type KeyExchange = "binance" | "binance-testnet" | "sim";

export type KeyRejection =
  | "auth_failed"
  | "trading_disabled"
  | "withdrawals_enabled"
  | "internal_transfer_enabled"
  | "universal_transfer_enabled"
  | "exchange_unreachable"
  | "exchange_error"
  | "unexpected_response"
  | "key_unreadable";

export const REJECTION_MESSAGES: Record<KeyRejection, string> = {
  auth_failed:
    "The exchange rejected this API key or its signature (wrong key or secret, deleted key, or this server's IP is not whitelisted).",
  trading_disabled:
    "Spot trading is not enabled on this API key. Enable 'Spot & Margin Trading' for the key on the exchange, then validate it again.",
  withdrawals_enabled:
    "Withdrawals are enabled on this API key. AURA only accepts keys that cannot withdraw: disable 'Enable Withdrawals' and validate again.",
  internal_transfer_enabled:
    "Internal transfers are enabled on this API key. Disable 'Permits Internal Transfer' and validate again.",
  universal_transfer_enabled:
    "Universal transfers are enabled on this API key. Disable 'Permits Universal Transfer' and validate again.",
  exchange_unreachable:
    "The exchange could not be reached to check this key, so it was not accepted. Validate it again later.",
  exchange_error:
    "The exchange returned an error while checking this key's permissions, so it was not accepted.",
  unexpected_response:
    "The exchange's answer about this key's permissions was incomplete, so it was not accepted.",
  key_unreadable:
    "The stored key could not be decrypted (it was altered, or the master key that sealed it is not configured). Remove it and add it again.",
};

export const WARNING_MESSAGES: Record<string, string> = {
  no_ip_restriction:
    "This key is not restricted to trusted IPs. Binance removes trading permission from unrestricted keys after a while; whitelist AURA's egress IPs.",
};

export interface KeyPermissions {
  spotTrading: boolean;
  withdrawals: boolean | null;
  internalTransfer: boolean | null;
  universalTransfer: boolean | null;
  ipRestrict: boolean | null;
  margin: boolean | null;
  futures: boolean | null;
  /** the account-level flags of GET /api/v3/account */
  accountCanTrade: boolean;
  accountPermissions: string[];
  warnings: string[];
}

export type KeyCheck =
  | { ok: true; permissions: KeyPermissions }
  | { ok: false; reason: KeyRejection; message: string; permissions: KeyPermissions | null };

export interface ValidationOptions {
  /** base URL of the simulator for exchange "sim" (default SIM_URL or http://127.0.0.1:8090) */
  simUrl?: string;
  timeoutMs?: number;
  /** tests replace the exchange client */
  createClient?: (
    exchange: KeyExchange,
    creds: { apiKey: string; secret: string },
    opts: { simUrl: string; timeoutMs: number },
  ) => ExchangeClient;
}

/** The two implicit ccxt calls we need, so tests can substitute them. */
export interface ExchangeClient {
  privateGetAccount(params?: Record<string, unknown>): Promise<unknown>;
  sapiGetAccountApiRestrictions?(params?: Record<string, unknown>): Promise<unknown>;
}

/** What createCcxtClient sets on a ccxt binance instance (tests may build one in another realm). */
interface CcxtKeyClient extends ExchangeClient {
  setSandboxMode(enabled: boolean): void;
  urls: { api: Record<string, unknown> };
}

/** The fields of GET /api/v3/account that decide; their types are checked before use. */
interface AccountAnswer {
  canTrade?: unknown;
  permissions?: unknown;
}

/** The fields of GET /sapi/v1/account/apiRestrictions that decide; their types are checked before use. */
interface RestrictionsAnswer {
  enableWithdrawals?: unknown;
  enableInternalTransfer?: unknown;
  permitsUniversalTransfer?: unknown;
  ipRestrict?: unknown;
  enableMargin?: unknown;
  enableFutures?: unknown;
  enableSpotAndMarginTrading?: unknown;
}

export function createCcxtClient(
  exchange: KeyExchange,
  creds: { apiKey: string; secret: string },
  opts: { simUrl: string; timeoutMs: number },
  construct: (config: Record<string, unknown>) => CcxtKeyClient = (config) =>
    new (loadCcxt().binance)(config),
): ExchangeClient {
  const ex = construct({
    apiKey: creds.apiKey,
    secret: creds.secret,
    timeout: opts.timeoutMs,
    enableRateLimit: false,
    verbose: false,
    options: {
      fetchMarkets: { types: ["spot"] },
      fetchCurrencies: false,
      fetchMargins: false,
      adjustForTimeDifference: false,
    },
  });
  if (exchange === "binance-testnet") {
    ex.setSandboxMode(true);
  } else if (exchange === "sim") {
    const base = opts.simUrl;
    const api = ex.urls.api;
    // every REST family points at the simulator, so a stray call fails locally, never on the internet
    for (const k of Object.keys(api)) if (typeof api[k] === "string") api[k] = `${base}/unsupported/${k}`;
    for (const v of ["V2", "V3", "V4"]) api[`sapi${v}`] = `${base}/sapi/${v.toLowerCase()}`;
    api.public = `${base}/api/v3`;
    api.private = `${base}/api/v3`;
    api.v1 = `${base}/api/v1`;
    api.sapi = `${base}/sapi/v1`;
  }
  return ex;
}

/** ccxt error classes by name along the prototype chain (works whichever copy of ccxt threw). */
function errorClasses(e: unknown): Set<string> {
  const names = new Set<string>();
  for (
    let p = e && typeof e === "object" ? Object.getPrototypeOf(e) : null;
    p && p !== Object.prototype;
    p = Object.getPrototypeOf(p)
  ) {
    if (p.constructor?.name) names.add(p.constructor.name);
  }
  return names;
}

function classifyError(e: unknown): KeyRejection {
  const c = errorClasses(e);
  if (c.has("AuthenticationError") || c.has("PermissionDenied") || c.has("AccountSuspended"))
    return "auth_failed";
  if (c.has("NetworkError")) return "exchange_unreachable";
  return "exchange_error";
}

const bool = (v: unknown): boolean | null => (typeof v === "boolean" ? v : null);

/** Decides from the two raw Binance answers; pure, so the whole matrix is unit-testable. */
export function assessKey(exchange: KeyExchange, answer: unknown, restrictions: unknown): KeyCheck {
  const account = answer as AccountAnswer | null | undefined;
  if (!account || typeof account !== "object" || typeof account.canTrade !== "boolean") {
    return {
      ok: false,
      reason: "unexpected_response",
      message: REJECTION_MESSAGES.unexpected_response,
      permissions: null,
    };
  }
  const accountPermissions: string[] = Array.isArray(account.permissions)
    ? account.permissions.filter((p: unknown): p is string => typeof p === "string")
    : [];
  const permissions: KeyPermissions = {
    spotTrading: account.canTrade === true,
    withdrawals: null,
    internalTransfer: null,
    universalTransfer: null,
    ipRestrict: null,
    margin: null,
    futures: null,
    accountCanTrade: account.canTrade === true,
    accountPermissions,
    warnings: [],
  };
  const reject = (reason: KeyRejection): KeyCheck => ({
    ok: false,
    reason,
    message: REJECTION_MESSAGES[reason],
    permissions,
  });

  if (exchange !== "binance-testnet") {
    // The testnet has no /sapi at all and cannot move funds; everywhere else the key-level
    // restrictions are mandatory.
    const r = restrictions as RestrictionsAnswer | null | undefined;
    if (!r || typeof r !== "object") return reject("unexpected_response");
    permissions.withdrawals = bool(r.enableWithdrawals);
    permissions.internalTransfer = bool(r.enableInternalTransfer);
    permissions.universalTransfer = bool(r.permitsUniversalTransfer);
    permissions.ipRestrict = bool(r.ipRestrict);
    permissions.margin = bool(r.enableMargin);
    permissions.futures = bool(r.enableFutures);
    const spot = bool(r.enableSpotAndMarginTrading);
    if (
      permissions.withdrawals === null ||
      spot === null ||
      permissions.internalTransfer === null ||
      permissions.universalTransfer === null
    ) {
      return reject("unexpected_response");
    }
    permissions.spotTrading = spot && account.canTrade === true;
    if (permissions.withdrawals) return reject("withdrawals_enabled");
    if (permissions.internalTransfer) return reject("internal_transfer_enabled");
    if (permissions.universalTransfer) return reject("universal_transfer_enabled");
    if (!spot) return reject("trading_disabled");
    if (permissions.ipRestrict === false) permissions.warnings.push("no_ip_restriction");
  }
  if (account.canTrade !== true) return reject("trading_disabled");
  if (accountPermissions.length > 0 && !accountPermissions.includes("SPOT"))
    return reject("trading_disabled");
  return { ok: true, permissions };
}

export async function validateExchangeKey(
  input: { exchange: KeyExchange; apiKey: string; apiSecret: string },
  opts: ValidationOptions = {},
): Promise<KeyCheck> {
  const simUrl = opts.simUrl ?? configuredSimUrl();
  const timeoutMs = opts.timeoutMs ?? 6000;
  let client: ExchangeClient;
  try {
    client = (opts.createClient ?? createCcxtClient)(
      input.exchange,
      { apiKey: input.apiKey, secret: input.apiSecret },
      { simUrl, timeoutMs },
    );
  } catch {
    return {
      ok: false,
      reason: "exchange_error",
      message: REJECTION_MESSAGES.exchange_error,
      permissions: null,
    };
  }
  let account: unknown;
  try {
    account = await client.privateGetAccount({ omitZeroBalances: true });
  } catch (e) {
    const reason = classifyError(e);
    return { ok: false, reason, message: REJECTION_MESSAGES[reason], permissions: null };
  }
  let restrictions: unknown;
  if (input.exchange !== "binance-testnet") {
    try {
      if (typeof client.sapiGetAccountApiRestrictions !== "function") throw new Error("no apiRestrictions");
      restrictions = await client.sapiGetAccountApiRestrictions();
    } catch (e) {
      const reason = classifyError(e);
      return { ok: false, reason, message: REJECTION_MESSAGES[reason], permissions: null };
    }
  }
  return assessKey(input.exchange, account, restrictions);
}
