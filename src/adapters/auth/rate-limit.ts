// Rate-limit counters shared by every process of the cluster when REDIS_URL is set (so a limit
// holds across gateway and auth pods), in process memory otherwise. A Redis outage falls back to
// a per-process memory limiter instead of letting everything through or refusing everything.
import Redis from "ioredis";
import { RateLimiterCompatibleAbstract, RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";

export interface LimiterSpec {
  /** namespace of the counters, e.g. "ip" or "login-account" */
  name: string;
  points: number;
  durationSec: number;
  blockDurationSec?: number;
}

/** What AURA uses of a limiter: the Redis one and MemoryLimiter both provide it. */
export type Limiter = Pick<RateLimiterCompatibleAbstract, "consume" | "penalty" | "get" | "block" | "delete">;

export interface LimiterFactory {
  readonly shared: boolean;
  create(spec: LimiterSpec): Limiter;
  /** resolves true once the shared store answers (always true for memory), false after the timeout */
  ready(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

const KEY_PREFIX = "aura-rl";
/** how often a memory limiter drops the records that expired without being touched again */
const SWEEP_MS = 60_000;

interface MemoryRecord {
  value: number;
  /** ms on the limiter's clock; null: never expires */
  expiresAt: number | null;
}

interface MemoryLimiterOptions {
  keyPrefix: string;
  points: number;
  duration: number;
  blockDuration?: number;
}

/**
 * Counters in this process's memory, with the counting rules of rate-limiter-flexible's
 * RateLimiterMemory, but timed by `now`: a record expires by comparison with the clock instead of
 * by a timer per key, so a test can move time by advancing a clock of its own. Records are dropped
 * when found expired and swept at most once a minute. `execEvenly` is not supported.
 */
export class MemoryLimiter extends RateLimiterCompatibleAbstract {
  override readonly keyPrefix: string;
  override blockDuration: number;
  override execEvenly = false;
  readonly points: number;
  readonly duration: number;
  private readonly records = new Map<string, MemoryRecord>();
  private nextSweep = 0;

  constructor(
    opts: MemoryLimiterOptions,
    private readonly now: () => number = Date.now,
  ) {
    super();
    this.keyPrefix = opts.keyPrefix;
    this.points = opts.points;
    this.duration = opts.duration;
    this.blockDuration = opts.blockDuration ?? 0;
  }

  override consume(
    key: string | number,
    points = 1,
    options: { customDuration?: number } = {},
  ): Promise<RateLimiterRes> {
    let res = this.incr(String(key), points, this.durationOf(options));
    if (res.consumedPoints <= this.points) return Promise.resolve(res);
    // blocked once, when the limit is first exceeded, as RateLimiterMemory does
    if (this.blockDuration > 0 && res.consumedPoints <= this.points + points)
      res = this.put(String(key), res.consumedPoints, this.blockDuration);
    return Promise.reject(res);
  }

  override penalty(
    key: string | number,
    points = 1,
    options: { customDuration?: number } = {},
  ): Promise<RateLimiterRes> {
    return Promise.resolve(this.incr(String(key), points, this.durationOf(options)));
  }

  override reward(
    key: string | number,
    points = 1,
    options: { customDuration?: number } = {},
  ): Promise<RateLimiterRes> {
    return Promise.resolve(this.incr(String(key), -points, this.durationOf(options)));
  }

  override get(key: string | number): Promise<RateLimiterRes | null> {
    const r = this.live(String(key));
    return Promise.resolve(r ? this.result(r.value, this.msLeft(r), false) : null);
  }

  override set(key: string | number, points: number, secDuration: number): Promise<RateLimiterRes> {
    return Promise.resolve(this.put(String(key), points, secDuration >= 0 ? secDuration : this.duration));
  }

  override block(key: string | number, secDuration: number): Promise<RateLimiterRes> {
    return Promise.resolve(this.put(String(key), this.points + 1, secDuration));
  }

  override delete(key: string | number): Promise<boolean> {
    return Promise.resolve(this.records.delete(String(key)));
  }

  private durationOf(options: { customDuration?: number }): number {
    const custom = options.customDuration;
    return custom !== undefined && custom >= 0 ? custom : this.duration;
  }

  private live(key: string): MemoryRecord | undefined {
    const r = this.records.get(key);
    if (r && r.expiresAt !== null && r.expiresAt <= this.now()) {
      this.records.delete(key);
      return undefined;
    }
    return r;
  }

  private msLeft(r: MemoryRecord): number {
    return r.expiresAt === null ? -1 : r.expiresAt - this.now();
  }

  private incr(key: string, points: number, durationSec: number): RateLimiterRes {
    const r = this.live(key);
    if (!r) return this.put(key, points, durationSec);
    r.value += points;
    return this.result(r.value, this.msLeft(r), false);
  }

  private put(key: string, value: number, durationSec: number): RateLimiterRes {
    this.sweep();
    const ms = durationSec * 1000;
    this.records.set(key, { value, expiresAt: ms > 0 ? this.now() + ms : null });
    return this.result(value, ms === 0 ? -1 : ms, true);
  }

  private result(consumed: number, msBeforeNext: number, first: boolean): RateLimiterRes {
    return new RateLimiterRes(Math.max(this.points - consumed, 0), msBeforeNext, consumed, first);
  }

  private sweep(): void {
    const now = this.now();
    if (now < this.nextSweep) return;
    this.nextSweep = now + SWEEP_MS;
    for (const [key, r] of this.records)
      if (r.expiresAt !== null && r.expiresAt <= now) this.records.delete(key);
  }
}

/**
 * Counters keyed by `name`; `redisUrl` unset → memory. Each factory owns at most one Redis client.
 * `now` times the memory counters (and the Redis limiters' in-memory fallback); tests pass a clock
 * they can advance.
 */
export function createLimiterFactory(
  redisUrl: string | undefined,
  opts: { prefix?: string; now?: () => number } = {},
): LimiterFactory {
  const prefix = opts.prefix ?? KEY_PREFIX;
  const now = opts.now ?? Date.now;
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
      if (!client) return new MemoryLimiter(base, now);
      return new RateLimiterRedis({
        ...base,
        storeClient: client,
        rejectIfRedisNotReady: true,
        insuranceLimiter: new MemoryLimiter(base, now),
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
export async function consumeOrRetryAfter(limiter: Limiter, key: string, points = 1): Promise<number> {
  try {
    await limiter.consume(key, points);
    return 0;
  } catch (e) {
    if (e instanceof RateLimiterRes) return Math.max(1, Math.ceil(e.msBeforeNext / 1000));
    throw e;
  }
}
