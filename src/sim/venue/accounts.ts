// Simulated accounts: API key + secret, and the key permissions that
// GET /sapi/v1/account/apiRestrictions reports and the REST layer enforces.
import crypto from "node:crypto";

/** Field names exactly as Binance's apiRestrictions answer uses them. */
export interface ApiPermissions {
  ipRestrict: boolean;
  enableReading: boolean;
  enableSpotAndMarginTrading: boolean;
  enableWithdrawals: boolean;
  enableInternalTransfer: boolean;
  enableMargin: boolean;
  enableFutures: boolean;
  permitsUniversalTransfer: boolean;
  enableVanillaOptions: boolean;
  enableFixApiTrade: boolean;
  enableFixReadOnly: boolean;
  enablePortfolioMarginTrading: boolean;
}

export const DEFAULT_PERMISSIONS: Readonly<ApiPermissions> = Object.freeze({
  ipRestrict: true,
  enableReading: true,
  enableSpotAndMarginTrading: true,
  enableWithdrawals: false,
  enableInternalTransfer: false,
  enableMargin: false,
  enableFutures: false,
  permitsUniversalTransfer: false,
  enableVanillaOptions: false,
  enableFixApiTrade: false,
  enableFixReadOnly: false,
  enablePortfolioMarginTrading: false,
});

export const PERMISSION_NAMES = Object.keys(DEFAULT_PERMISSIONS) as (keyof ApiPermissions)[];

export interface SimAccount {
  readonly id: number;
  readonly apiKey: string;
  readonly secretKey: string;
  permissions: ApiPermissions;
  /** Wall-clock creation time (apiRestrictions.createTime). */
  readonly createTime: number;
}

export const API_KEY_RE = /^[A-Za-z0-9]{1,128}$/;

const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
export function randomKey(length = 64): string {
  const bytes = crypto.randomBytes(length);
  let s = "";
  for (let i = 0; i < length; i++) s += ALNUM[bytes[i] % ALNUM.length];
  return s;
}

export function checkPermissions(p: Record<string, unknown>): Partial<ApiPermissions> {
  const out: Partial<ApiPermissions> = {};
  for (const [k, v] of Object.entries(p)) {
    if (!(PERMISSION_NAMES as string[]).includes(k))
      throw new RangeError(`unknown permission '${k}' (known: ${PERMISSION_NAMES.join(", ")})`);
    if (typeof v !== "boolean") throw new RangeError(`permission '${k}' must be true or false`);
    (out as Record<string, boolean>)[k] = v;
  }
  return out;
}

export class AccountRegistry {
  private readonly byKey = new Map<string, SimAccount>();
  private readonly byId = new Map<number, SimAccount>();

  add(
    id: number,
    createTime: number,
    opts: { apiKey?: string; secretKey?: string; permissions?: Partial<ApiPermissions> } = {},
  ): SimAccount {
    const apiKey = opts.apiKey ?? randomKey();
    const secretKey = opts.secretKey ?? randomKey();
    if (!API_KEY_RE.test(apiKey)) throw new RangeError("apiKey must be 1-128 letters or digits");
    if (secretKey.length === 0) throw new RangeError("secretKey must not be empty");
    if (this.byKey.has(apiKey)) throw new RangeError("apiKey already in use");
    const acc: SimAccount = {
      id,
      apiKey,
      secretKey,
      permissions: { ...DEFAULT_PERMISSIONS, ...opts.permissions },
      createTime,
    };
    this.byKey.set(apiKey, acc);
    this.byId.set(id, acc);
    return acc;
  }

  get(apiKey: string): SimAccount | undefined {
    return this.byKey.get(apiKey);
  }

  getById(id: number): SimAccount | undefined {
    return this.byId.get(id);
  }

  list(): SimAccount[] {
    return [...this.byId.values()];
  }
}
