// Brute-force protection for password checks: failures are counted per account (the normalised
// email, whether or not such a user exists, so locked and unknown accounts look alike) and per
// client ip. Reaching a threshold locks the key; each further lockout within a day doubles the
// lock, up to a cap. A success clears the failure count but not the escalation.
import type { RateLimiterAbstract } from "rate-limiter-flexible";
import type { LimiterFactory } from "./rate-limit";

export interface ThrottleConfig {
  accountThreshold: number;
  ipThreshold: number;
  /** failures are counted over this window */
  windowSec: number;
  baseLockSec: number;
  maxLockSec: number;
}

export const DEFAULT_THROTTLE: ThrottleConfig = {
  accountThreshold: 5,
  ipThreshold: 20,
  windowSec: 15 * 60,
  baseLockSec: 60,
  maxLockSec: 60 * 60,
};

interface Pair {
  fails: RateLimiterAbstract;
  locks: RateLimiterAbstract;
  threshold: number;
}

export interface ThrottleVerdict {
  /** seconds until another attempt is allowed; 0 = go ahead */
  retryAfter: number;
  scope?: "account" | "ip";
}

export class LoginThrottle {
  private readonly account: Pair;
  private readonly ip: Pair;

  constructor(
    factory: LimiterFactory,
    private readonly cfg: ThrottleConfig = DEFAULT_THROTTLE,
    name = "login",
  ) {
    const pair = (scope: string, threshold: number): Pair => ({
      fails: factory.create({
        name: `${name}-${scope}-fails`,
        points: threshold,
        durationSec: cfg.windowSec,
      }),
      locks: factory.create({ name: `${name}-${scope}-locks`, points: 1_000_000, durationSec: 24 * 3600 }),
      threshold,
    });
    this.account = pair("account", cfg.accountThreshold);
    this.ip = pair("ip", cfg.ipThreshold);
  }

  private async locked(p: Pair, key: string): Promise<number> {
    const r = await p.fails.get(key);
    return r && r.consumedPoints > p.threshold ? Math.max(1, Math.ceil(r.msBeforeNext / 1000)) : 0;
  }

  /** Whether an attempt for this account from this ip may proceed. */
  async check(accountKey: string, ip: string | undefined): Promise<ThrottleVerdict> {
    const a = await this.locked(this.account, accountKey);
    if (a) return { retryAfter: a, scope: "account" };
    if (ip) {
      const i = await this.locked(this.ip, ip);
      if (i) return { retryAfter: i, scope: "ip" };
    }
    return { retryAfter: 0 };
  }

  private async failOne(p: Pair, key: string): Promise<void> {
    const r = await p.fails.penalty(key, 1);
    if (r.consumedPoints >= p.threshold) {
      const n = (await p.locks.penalty(key, 1)).consumedPoints;
      const secs = Math.min(this.cfg.baseLockSec * 2 ** Math.min(n - 1, 20), this.cfg.maxLockSec);
      await p.fails.block(key, secs);
    }
  }

  async fail(accountKey: string, ip: string | undefined): Promise<void> {
    await this.failOne(this.account, accountKey);
    if (ip) await this.failOne(this.ip, ip);
  }

  async succeed(accountKey: string): Promise<void> {
    await this.account.fails.delete(accountKey);
  }
}
