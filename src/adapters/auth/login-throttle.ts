// Brute-force protection for password checks: failures are counted per account (the normalised
// email, whether or not such a user exists, so locked and unknown accounts look alike) and per
// client ip. Reaching a threshold locks the key; each further lockout within a day doubles the
// lock, up to a cap. A success clears the failure count but not the escalation.
// A known client (one presenting a valid device token, or an authenticated session) is not held by
// the account lock, which a stranger can trigger at will; it has a failure counter of its own
// instead, so the account's owner keeps access while someone else is guessing.
import type { Limiter, LimiterFactory } from "./rate-limit";

export interface ThrottleConfig {
  accountThreshold: number;
  ipThreshold: number;
  /** failures from one known client before it is locked (default: accountThreshold) */
  deviceThreshold?: number;
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
  fails: Limiter;
  locks: Limiter;
  threshold: number;
}

export interface ThrottleVerdict {
  /** seconds until another attempt is allowed; 0 = go ahead */
  retryAfter: number;
  scope?: "account" | "ip" | "device";
}

/** Times come from the factory's clock (createLimiterFactory's `now`), so tests can move them. */
export class LoginThrottle {
  private readonly account: Pair;
  private readonly ip: Pair;
  private readonly device: Pair;

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
    this.device = pair("device", cfg.deviceThreshold ?? cfg.accountThreshold);
  }

  private async locked(p: Pair, key: string): Promise<number> {
    const r = await p.fails.get(key);
    return r && r.consumedPoints > p.threshold ? Math.max(1, Math.ceil(r.msBeforeNext / 1000)) : 0;
  }

  /**
   * Whether an attempt for this account from this ip may proceed. With `deviceKey` (a known
   * client) that client's own lock applies instead of the account's.
   */
  async check(accountKey: string, ip: string | undefined, deviceKey?: string): Promise<ThrottleVerdict> {
    if (deviceKey) {
      const d = await this.locked(this.device, deviceKey);
      if (d) return { retryAfter: d, scope: "device" };
    } else {
      const a = await this.locked(this.account, accountKey);
      if (a) return { retryAfter: a, scope: "account" };
    }
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

  /** A failed attempt counts for the account, the ip and, when given, the known client. */
  async fail(accountKey: string, ip: string | undefined, deviceKey?: string): Promise<void> {
    await this.failOne(this.account, accountKey);
    if (deviceKey) await this.failOne(this.device, deviceKey);
    if (ip) await this.failOne(this.ip, ip);
  }

  /**
   * A success clears the count of whatever held the attempt: the known client's own, or the
   * account's. A known client does not clear the account's count, so its owner logging in does not
   * hand a stranger a fresh budget of guesses.
   */
  async succeed(accountKey: string, deviceKey?: string): Promise<void> {
    if (deviceKey) await this.device.fails.delete(deviceKey);
    else await this.account.fails.delete(accountKey);
  }
}
