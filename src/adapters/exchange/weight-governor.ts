// Keeps REST traffic under the exchange's request-weight limit (Binance: 6000 per 1-minute
// window per IP, windows starting at each minute). The exchange reports the weight the IP has
// used in X-MBX-USED-WEIGHT-1M on every response, so the governor trusts that figure over its
// own bookkeeping: other processes behind the same IP count too. A 429 or 418 pauses every
// request until its Retry-After has passed — sending anything during that time is what turns a
// 429 into a 418 ban.

export interface GovernorOptions {
  /** REQUEST_WEIGHT per minute from exchangeInfo.rateLimits (default 6000) */
  limitPerMinute?: number;
  /** fraction of the limit this client allows itself (default 0.8, leaving room for others on the IP) */
  budgetFraction?: number;
  /** extra wait after a window boundary, covering clock skew to the exchange (default 1000 ms) */
  boundaryMarginMs?: number;
  /** pause after a 429/418 that carries no Retry-After (default 60 s) */
  defaultPauseMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface GovernorStats {
  usedWeight: number;
  limitPerMinute: number;
  waits: number;
  waitedMs: number;
  rateLimited: number;
  banned: number;
  pausedUntil: number;
}

const MINUTE = 60_000;

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class WeightGovernor {
  private limit: number;
  private readonly fraction: number;
  private readonly margin: number;
  private readonly defaultPause: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private used = 0;
  private window = 0;
  private pausedUntil = 0;
  private waits = 0;
  private waitedMs = 0;
  private rateLimited = 0;
  private banned = 0;

  constructor(opts: GovernorOptions = {}) {
    this.limit = opts.limitPerMinute ?? 6000;
    this.fraction = opts.budgetFraction ?? 0.8;
    this.margin = opts.boundaryMarginMs ?? 1000;
    this.defaultPause = opts.defaultPauseMs ?? 60_000;
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? realSleep;
  }

  setLimit(limitPerMinute: number): void {
    if (Number.isFinite(limitPerMinute) && limitPerMinute > 0) this.limit = limitPerMinute;
  }

  private budget(): number {
    return Math.max(1, Math.floor(this.limit * this.fraction));
  }

  private roll(t: number): void {
    const w = Math.floor(t / MINUTE) * MINUTE;
    if (w > this.window) {
      // only trust a new window once the margin has passed: the exchange's minute may start later
      if (t - w >= this.margin) {
        this.window = w;
        this.used = 0;
      }
    }
  }

  /** Waits until `weight` more fits into the current window and no pause is in force, then books it. */
  async acquire(weight: number): Promise<void> {
    for (;;) {
      const t = this.now();
      if (t < this.pausedUntil) {
        await this.wait(this.pausedUntil - t);
        continue;
      }
      this.roll(t);
      if (this.used + weight <= this.budget() || this.used === 0) {
        this.used += weight;
        return;
      }
      const cur = Math.floor(t / MINUTE) * MINUTE;
      const nextStart = cur > this.window ? cur : this.window + MINUTE;
      await this.wait(Math.max(1, nextStart + this.margin - t));
    }
  }

  /** Takes the exchange's own count from a response's headers. */
  record(headers: Record<string, unknown> | undefined): void {
    if (!headers) return;
    let raw: unknown;
    for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === "x-mbx-used-weight-1m") raw = v;
    const n = Number(raw);
    if (raw === undefined || !Number.isFinite(n) || n < 0) return;
    const t = this.now();
    const w = Math.floor(t / MINUTE) * MINUTE;
    if (w > this.window) this.window = w;
    this.used = n;
  }

  /** A 429 (or 418): stop everything for Retry-After. */
  penalize(status: number | undefined, retryAfterMs: number | undefined): void {
    if (status === 418) this.banned++;
    else this.rateLimited++;
    const until = this.now() + (retryAfterMs ?? this.defaultPause);
    if (until > this.pausedUntil) this.pausedUntil = until;
  }

  stats(): GovernorStats {
    return {
      usedWeight: this.used,
      limitPerMinute: this.limit,
      waits: this.waits,
      waitedMs: this.waitedMs,
      rateLimited: this.rateLimited,
      banned: this.banned,
      pausedUntil: this.pausedUntil,
    };
  }

  private async wait(ms: number): Promise<void> {
    this.waits++;
    this.waitedMs += ms;
    await this.sleep(ms);
  }
}
