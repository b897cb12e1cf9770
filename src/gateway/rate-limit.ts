// Gateway rate limits: a per-ip limit on every /api/v1 request through moleculer-web's `rateLimit`
// hook (with a store backed by the shared limiter factory instead of its per-process memory
// store), a stricter per-ip, per-route bucket for credential endpoints, and a per-user limit
// applied once the caller is authenticated. Over the limit → 429 RATE_LIMITED with Retry-After.
import { Errors } from "moleculer";
import { consumeOrRetryAfter, type LimiterFactory } from "../adapters/auth/rate-limit";

export interface GatewayRateLimits {
  /** requests per minute per client ip on /api/v1 (0 = off) */
  ipPerMinute: number;
  /** requests per minute per authenticated user (0 = off) */
  userPerMinute: number;
  /** requests per minute per client ip to each credential route: login, register, refresh, password (0 = off) */
  credentialsPerMinute: number;
}

function nonNegative(name: string, raw: string | undefined, def: number): number {
  if (raw === undefined || raw.trim() === "") return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  return n;
}

export function rateLimitsFromEnv(env: NodeJS.ProcessEnv = process.env): GatewayRateLimits {
  return {
    ipPerMinute: nonNegative("RATE_LIMIT_IP_PER_MIN", env.RATE_LIMIT_IP_PER_MIN, 600),
    userPerMinute: nonNegative("RATE_LIMIT_USER_PER_MIN", env.RATE_LIMIT_USER_PER_MIN, 600),
    credentialsPerMinute: nonNegative(
      "RATE_LIMIT_CREDENTIALS_PER_MIN",
      env.RATE_LIMIT_CREDENTIALS_PER_MIN,
      20,
    ),
  };
}

export function rateLimited(retryAfterSec: number): Error {
  return new Errors.MoleculerClientError("Too many requests; try again later.", 429, "RATE_LIMITED", {
    retryAfter: retryAfterSec,
  });
}

/**
 * A moleculer-web rate-limit store (the `StoreFactory` contract: constructed with the window and
 * route options, `inc(key)` per request) whose counters live in the shared limiter factory.
 * It raises RATE_LIMITED itself so the response carries Retry-After.
 */
export function storeFactoryFor(factory: LimiterFactory, name: string) {
  return class AuraRateLimitStore {
    readonly limiter;
    resetTime: number;
    constructor(windowMs: number, opts: { limit: number }) {
      this.limiter = factory.create({
        name,
        points: opts.limit,
        durationSec: Math.max(1, Math.round(windowMs / 1000)),
      });
      this.resetTime = Date.now() + windowMs;
    }
    async inc(key: string): Promise<number> {
      const retryAfter = await consumeOrRetryAfter(this.limiter, key);
      if (retryAfter) throw rateLimited(retryAfter);
      return 1;
    }
  };
}
