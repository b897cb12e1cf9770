// Rate-limit counters shared by every process of the cluster when REDIS_URL is set (so a limit
// holds across gateway and auth pods), in process memory otherwise. A Redis outage falls back to
// a per-process memory limiter instead of letting everything through or refusing everything.
import Redis from "ioredis";
import {
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
  type RateLimiterAbstract,
} from "rate-limiter-flexible";

export interface LimiterSpec {
  /** namespace of the counters, e.g. "ip" or "login-account" */
  name: string;
  points: number;
  durationSec: number;
  blockDurationSec?: number;
}

export interface LimiterFactory {
  readonly shared: boolean;
  create(spec: LimiterSpec): RateLimiterAbstract;
  /** resolves true once the shared store answers (always true for memory), false after the timeout */
  ready(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

const KEY_PREFIX = "aura-rl";

/** Counters keyed by `name`; `redisUrl` unset → memory. Each factory owns at most one Redis client. */
export function createLimiterFactory(
  redisUrl: string | undefined,
  opts: { prefix?: string } = {},
): LimiterFactory {
  const prefix = opts.prefix ?? KEY_PREFIX;
  let client: Redis | undefined;
  if (redisUrl) {
    // no offline queue: a limiter check must not wait for a reconnect; the insurance limiter answers
    client = new Redis(redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: false });
    client.on("error", () => {});
  }
  return {
    shared: Boolean(client),
    create(spec) {
      const base = {
        keyPrefix: `${prefix}:${spec.name}`,
        points: spec.points,
        duration: spec.durationSec,
        blockDuration: spec.blockDurationSec ?? 0,
      };
      if (!client) return new RateLimiterMemory(base);
      return new RateLimiterRedis({
        ...base,
        storeClient: client,
        rejectIfRedisNotReady: true,
        insuranceLimiter: new RateLimiterMemory(base),
      });
    },
    async ready(timeoutMs) {
      const c = client;
      if (!c || c.status === "ready") return true;
      return new Promise<boolean>((resolve) => {
        const done = (ok: boolean) => {
          clearTimeout(timer);
          c.off("ready", onReady);
          resolve(ok);
        };
        const onReady = () => done(true);
        const timer = setTimeout(() => done(false), timeoutMs);
        timer.unref();
        c.on("ready", onReady);
      });
    },
    async close() {
      if (client) {
        const c = client;
        client = undefined;
        await c.quit().catch(() => c.disconnect());
      }
    },
  };
}

/** Consumes one point; resolves the wait in seconds when the key is over its limit, else 0. */
export async function consumeOrRetryAfter(
  limiter: RateLimiterAbstract,
  key: string,
  points = 1,
): Promise<number> {
  try {
    await limiter.consume(key, points);
    return 0;
  } catch (e) {
    if (e instanceof RateLimiterRes) return Math.max(1, Math.ceil(e.msBeforeNext / 1000));
    throw e;
  }
}
