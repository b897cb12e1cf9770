// Stream ownership on one market-data node: which series this node streams, kept in step with the
// leases in `market_streams` (streams.ts). A small loop, every third of the lease time, renews this
// node's leases in one statement (a stream whose lease was lost is stopped at once), claims wanted
// series nobody streams, balances by a fair share over the live market-data nodes, and gives back
// series nobody wants any more. Closed candles and gaps leave only through `publish`, which checks
// the fencing token of every series in a batch with one query before delivering it, so a node
// that lost a stream never publishes for it, even in the moment before it notices.
import type { CandleClosedEvent, DataGapEvent } from "../../core/market/events";
import {
  leaseKey,
  streamShare,
  type HeldLease,
  type SeriesId,
  type StreamRow,
  type StreamStore,
} from "./streams";
import { livePeers } from "../../core/cluster/peers";

export type Outgoing = { kind: "closed"; ev: CandleClosedEvent } | { kind: "gap"; ev: DataGapEvent };

export interface OwnershipOptions {
  store: StreamStore;
  nodeId: string;
  ttlMs: number;
  /** market-data nodes the registry lists as available, this one included */
  nodes(): string[];
  /** starts streaming a series this node now holds; resolves once the exchange acknowledged it */
  start(s: SeriesId): Promise<void>;
  /** stops a series at once: nothing of it reaches `publish` afterwards */
  stop(s: SeriesId): void;
  /** what passed the fencing check, in order */
  deliver(items: Outgoing[]): void;
  /** makes delivered candles durable, so a node taking a stream over resumes after them */
  flush(): Promise<void>;
  /** runs at the start of every round, before the scan (subscriptions tied to departed nodes) */
  housekeeping?(): Promise<void>;
  /** a stream was given back: other nodes may take it now rather than at their next round */
  released?(): void;
  /** how long a series the exchange refused is not claimed again by the loop */
  refusedCooldownMs?: number;
  log: {
    info(...a: unknown[]): void;
    warn(...a: unknown[]): void;
    error(...a: unknown[]): void;
  };
}

interface Held extends HeldLease {
  /** local time before which the lease is certainly still ours (renewal sent + ttl, minus a margin) */
  validUntil: number;
  claimedAt: number;
  /** set once this node stopped streaming it (given back or lost) */
  stopped: boolean;
  /** the start of its stream here: resolves once the exchange acknowledged it */
  started: Promise<void>;
}

interface Queued {
  key: string;
  lease: HeldLease;
  item: Outgoing;
}

export interface OwnershipStats {
  held: { symbol: string; interval: string; fencingToken: number; validForMs: number }[];
  claims: number;
  releases: number;
  lost: number;
  /** items a fencing check refused */
  fenced: number;
}

export class StreamOwnership {
  private readonly held = new Map<string, Held>();
  /** claims and releases in flight, per series */
  private readonly busy = new Map<string, Promise<void>>();
  private readonly cooldown = new Map<string, number>();
  private readonly freeSince = new Map<string, number>();
  /** nodes whose leases all lapsed: dead or cut off, whatever the registry says yet */
  private dead = new Set<string>();
  private outbox: Queued[] = [];
  private pumping: Promise<void> | undefined;
  private ticking: Promise<void> | undefined;
  private again = false;
  private tickTimer: NodeJS.Timeout | undefined;
  private watchTimer: NodeJS.Timeout | undefined;
  private soonTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private readonly margin: number;
  private readonly counters = { claims: 0, releases: 0, lost: 0, fenced: 0 };

  constructor(private readonly o: OwnershipOptions) {
    // local timers and the database clock may drift apart a little; stop a stream a bit early
    this.margin = Math.min(500, Math.floor(o.ttlMs / 10));
  }

  /** Starts the loop; the first round runs at once. */
  begin(): void {
    const ttl = this.o.ttlMs;
    this.tickTimer = setInterval(() => void this.tick(), Math.max(50, Math.floor(ttl / 3)));
    this.watchTimer = setInterval(() => this.watchdog(), Math.max(20, Math.floor(ttl / 12)));
    this.tickTimer.unref();
    this.watchTimer.unref();
    void this.tick();
  }

  holds(s: SeriesId): boolean {
    return this.held.has(leaseKey(s));
  }

  /** The start of a series held here (resolves once the exchange acknowledged it), if held. */
  started(s: SeriesId): Promise<void> | undefined {
    return this.held.get(leaseKey(s))?.started;
  }

  /** Runs a round soon (a node joined or left, a stream was given back). */
  requestTick(delayMs = 0): void {
    if (this.stopping || this.soonTimer) return;
    this.soonTimer = setTimeout(() => {
      this.soonTimer = undefined;
      void this.tick();
    }, delayMs);
    this.soonTimer.unref();
  }

  /** One round at a time; a request during a round runs another right after it. */
  tick(): Promise<void> {
    if (this.stopping) return Promise.resolve();
    if (this.ticking) {
      this.again = true;
      return this.ticking;
    }
    this.ticking = (async () => {
      do {
        this.again = false;
        try {
          await this.round();
        } catch (e) {
          this.o.log.warn(
            { err: (e as Error).message },
            "market stream round failed; retrying at the next one",
          );
        }
      } while (this.again && !this.stopping);
    })().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  /**
   * Claims the series that nobody streams and starts them here. Returns the ones this node holds
   * afterwards (including those it already held).
   */
  async acquire(series: readonly SeriesId[], ignoreCooldown = false): Promise<SeriesId[]> {
    const want: SeriesId[] = [];
    for (const s of series) {
      const k = leaseKey(s);
      await this.busy.get(k);
      if (this.stopping || this.held.has(k) || this.busy.has(k)) continue;
      if (!ignoreCooldown && (this.cooldown.get(k) ?? 0) > Date.now()) continue;
      want.push({ symbol: s.symbol, interval: s.interval });
    }
    if (want.length) {
      let done!: () => void;
      const gate = new Promise<void>((r) => (done = r));
      for (const s of want) this.busy.set(leaseKey(s), gate);
      try {
        const sentAt = Date.now();
        const won = await this.o.store.claim(want, this.o.ttlMs);
        for (const w of won) {
          const k = leaseKey(w);
          const h: Held = {
            ...w,
            validUntil: sentAt + this.o.ttlMs - this.margin,
            claimedAt: Date.now(),
            stopped: false,
            started: Promise.resolve(),
          };
          this.held.set(k, h);
          this.counters.claims++;
          this.o.log.info(
            { symbol: w.symbol, interval: w.interval, fencingToken: w.token },
            "market stream claimed: streaming it here",
          );
          h.started = this.o.start(w);
          h.started.catch((e: Error) => this.startFailed(h, e));
        }
      } finally {
        for (const s of want) this.busy.delete(leaseKey(s));
        done();
      }
      if (this.stopping) await this.releaseAll();
    }
    return series.filter((s) => this.held.has(leaseKey(s)));
  }

  private startFailed(lease: Held, e: Error): void {
    if (lease.stopped) return; // stopped before the exchange answered: nothing to undo
    const k = leaseKey(lease);
    if (/exchange refused/.test(e.message)) {
      this.cooldown.set(k, Date.now() + (this.o.refusedCooldownMs ?? 60_000));
      this.o.log.error(
        { symbol: lease.symbol, interval: lease.interval, err: e.message },
        "the exchange refused a wanted market stream; giving it back",
      );
    } else {
      this.o.log.warn(
        { symbol: lease.symbol, interval: lease.interval, err: e.message },
        "market stream did not start",
      );
    }
    void this.release(lease);
  }

  /**
   * Stops a series this node holds and gives its lease back: what it already published is
   * delivered and stored first, so the next owner resumes right after it.
   */
  async release(s: SeriesId): Promise<void> {
    const k = leaseKey(s);
    await this.busy.get(k);
    const h = this.held.get(k);
    if (!h) return;
    let done!: () => void;
    const gate = new Promise<void>((r) => (done = r));
    this.busy.set(k, gate);
    try {
      h.stopped = true;
      this.o.stop(h);
      await this.drain();
      this.held.delete(k);
      await this.o
        .flush()
        .catch((e: Error) =>
          this.o.log.warn({ err: e.message }, "could not store candles before a hand-over"),
        );
      await this.o.store.release([h]);
      this.counters.releases++;
      this.o.log.info({ symbol: h.symbol, interval: h.interval }, "market stream given back");
      this.o.released?.();
    } catch (e) {
      // the lease runs out on its own
      this.o.log.warn(
        { symbol: h.symbol, interval: h.interval, err: (e as Error).message },
        "could not give a market stream back",
      );
    } finally {
      this.held.delete(k);
      this.busy.delete(k);
      done();
    }
  }

  /** The lease is gone (or cannot be vouched for): stop at once, give nothing back. */
  private lose(k: string, token: number, reason: string): void {
    const h = this.held.get(k);
    if (!h || h.token !== token) return;
    this.held.delete(k);
    this.counters.lost++;
    h.stopped = true;
    this.o.stop(h);
    this.o.log.warn(
      { symbol: h.symbol, interval: h.interval, fencingToken: h.token },
      `market stream stopped: ${reason}`,
    );
  }

  /** Queues a closed candle or a gap of a series; delivered only while this node's lease holds. */
  publish(item: Outgoing): void {
    const k = leaseKey(item.ev);
    const h = this.held.get(k);
    if (!h) {
      this.counters.fenced++;
      return;
    }
    this.outbox.push({ key: k, lease: { symbol: h.symbol, interval: h.interval, token: h.token }, item });
    if (!this.pumping) {
      this.pumping = this.pump().finally(() => {
        this.pumping = undefined;
      });
    }
  }

  /** Resolves once everything queued so far was delivered or refused. */
  async drain(): Promise<void> {
    while (this.pumping) await this.pumping;
  }

  private async pump(): Promise<void> {
    while (this.outbox.length) {
      const batch = this.outbox;
      this.outbox = [];
      const leases = new Map<string, HeldLease>();
      for (const q of batch) leases.set(`${q.key}#${q.lease.token}`, q.lease);
      let ok: Set<string>;
      let failure: string | undefined;
      try {
        const verified = await this.o.store.verify([...leases.values()]);
        ok = new Set([...leases.entries()].filter(([, l]) => verified.has(leaseKey(l))).map(([id]) => id));
      } catch (e) {
        ok = new Set();
        failure = (e as Error).message;
      }
      const out: Outgoing[] = [];
      for (const q of batch) {
        if (ok.has(`${q.key}#${q.lease.token}`)) out.push(q.item);
        else this.counters.fenced++;
      }
      if (out.length) {
        try {
          this.o.deliver(out);
        } catch (e) {
          this.o.log.error({ err: (e as Error).message }, "could not deliver market events");
        }
      }
      for (const [id, l] of leases) {
        if (ok.has(id)) continue;
        this.lose(
          leaseKey(l),
          l.token,
          failure ? `the lease could not be checked (${failure})` : "the lease is held by another node",
        );
      }
    }
  }

  /** Stops streams whose lease may have run out because renewals did not get through. */
  private watchdog(): void {
    const now = Date.now();
    for (const [k, h] of [...this.held]) {
      if (now >= h.validUntil) this.lose(k, h.token, "the lease could not be renewed in time");
    }
  }

  private async renew(): Promise<void> {
    const mine = [...this.held.values()];
    if (!mine.length) return;
    const sentAt = Date.now();
    let renewed: Set<string>;
    try {
      renewed = await this.o.store.renew(mine, this.o.ttlMs);
    } catch (e) {
      this.o.log.warn({ err: (e as Error).message }, "could not renew market stream leases");
      return; // the watchdog stops them when they may have run out
    }
    for (const h of mine) {
      const k = leaseKey(h);
      if (this.held.get(k) !== h) continue;
      if (renewed.has(k)) h.validUntil = sentAt + this.o.ttlMs - this.margin;
      else this.lose(k, h.token, "the lease was lost");
    }
  }

  private async round(): Promise<void> {
    await this.renew();
    if (this.stopping) return;
    await this.o.store.prune();
    await this.o.housekeeping?.();
    const scannedAt = Date.now();
    const rows = await this.o.store.scan();
    if (this.stopping) return;
    const me = this.o.nodeId;
    const byKey = new Map(rows.map((r) => [leaseKey(r), r]));

    // streams held here that nobody wants any more, or that another node took meanwhile
    const unwanted: Held[] = [];
    for (const [k, h] of [...this.held]) {
      if (h.claimedAt >= scannedAt || this.busy.has(k)) continue;
      const r = byKey.get(k);
      if (!r || r.subscribers === 0) unwanted.push(h);
      else if (r.owner !== me || r.token !== h.token)
        this.lose(k, h.token, "the lease is held by another node");
    }
    await Promise.all(unwanted.map((h) => this.release(h)));

    const wanted = rows.filter((r) => r.subscribers > 0);
    const now = Date.now();
    const free: StreamRow[] = [];
    for (const r of wanted) {
      const k = leaseKey(r);
      const claimable =
        !this.held.has(k) &&
        !this.busy.has(k) &&
        (this.cooldown.get(k) ?? 0) <= now &&
        (!r.live || r.owner === me);
      if (!claimable) {
        this.freeSince.delete(k);
        continue;
      }
      free.push(r);
      if (!this.freeSince.has(k)) this.freeSince.set(k, now);
    }
    for (const k of this.freeSince.keys()) if (!byKey.has(k)) this.freeSince.delete(k);
    for (const [k, until] of this.cooldown) if (until <= now) this.cooldown.delete(k);

    const mine = [...this.held.values()].filter((h) => (byKey.get(leaseKey(h))?.subscribers ?? 0) > 0);
    const others = this.otherNodes(rows);
    const share = streamShare(wanted.length, mine.length, [...others.values()], free.length);
    // a series left unowned for longer than a lease is taken whatever the share says: a node the
    // registry still lists may not be claiming anything
    const orphaned = free.filter((r) => now - this.freeSince.get(leaseKey(r))! > this.o.ttlMs);

    if (share.release > 0) {
      const surplus = mine.sort((a, b) => b.claimedAt - a.claimedAt).slice(0, share.release);
      this.o.log.info(
        { release: surplus.length, held: mine.length, nodes: others.size + 1, streams: wanted.length },
        "giving back market streams beyond this node's fair share",
      );
      await Promise.all(surplus.map((h) => this.release(h)));
    }
    const count = Math.max(share.claim, orphaned.length);
    if (count > 0) {
      const orphanKeys = new Set(orphaned.map(leaseKey));
      const pick = [...orphaned, ...shuffle(free.filter((r) => !orphanKeys.has(leaseKey(r))))].slice(
        0,
        count,
      );
      await this.acquire(pick);
    }
  }

  /** Live market-data nodes other than this one, with the number of live leases each holds. */
  private otherNodes(rows: readonly StreamRow[]): Map<string, number> {
    const me = this.o.nodeId;
    const registered = new Set(this.o.nodes());
    const { others, dead } = livePeers(rows, me, registered, this.dead);
    this.dead = dead;
    return others;
  }

  private async releaseAll(): Promise<void> {
    await Promise.all([...this.held.values()].map((h) => this.release(h)));
  }

  /** Stops the loop and hands every stream back, so other nodes need not wait for expiry. */
  async shutdown(): Promise<void> {
    this.stopping = true;
    for (const t of [this.tickTimer, this.watchTimer, this.soonTimer]) if (t) clearTimeout(t);
    await this.ticking?.catch(() => undefined);
    await Promise.all([...this.busy.values()]);
    await this.releaseAll();
  }

  stats(): OwnershipStats {
    const now = Date.now();
    return {
      held: [...this.held.values()]
        .map((h) => ({
          symbol: h.symbol,
          interval: h.interval,
          fencingToken: h.token,
          validForMs: Math.max(0, h.validUntil - now),
        }))
        .sort((a, b) => leaseKey(a).localeCompare(leaseKey(b))),
      ...this.counters,
    };
  }
}

function shuffle<T>(xs: T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}
