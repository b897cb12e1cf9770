// Gateway rate limits: a per-ip limit on every /api/v1 request through moleculer-web's `rateLimit`
// hook (with a store backed by the shared limiter factory instead of its per-process memory
// store), a stricter per-ip, per-route bucket for credential endpoints, and a per-user limit
// applied once the caller is authenticated. Over the limit → 429 RATE_LIMITED with Retry-After.
import { Errors } from "moleculer";
import { consumeOrRetryAfter, type LimiterFactory } from "../adapters/auth/rate-limit";
import type { GatewayConfig } from "../adapters/config";

/** Per-minute limits (0 = off); the defaults come from the configuration (gatewayConfig). */
export type GatewayRateLimits = GatewayConfig["rateLimits"];

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
